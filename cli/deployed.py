"""The deployment that verify, backfill, restore and undelete act on, read from its stacks."""

from __future__ import annotations

from dataclasses import dataclass

from objbackup.core.config import Settings
from objbackup.core.filters import KeyFilter
from objbackup.core.table import CopyTable
from objbackup.deploy.connection import Connection


@dataclass(frozen=True)
class Deployed:
    """What the data commands need of their deployment: its functions' settings, its table,
    its key filter and its queue."""

    settings: Settings
    table: CopyTable
    key_filter: KeyFilter
    queue_url: str | None


def find_deployed(connection: Connection, need_queue: bool) -> Deployed:
    """The deployment's buckets, table, retention, key filter and (if needed) queue; its
    settings come from `Deployment` (objbackup/deploy/deployed_settings.py reads them)."""
    from objbackup.deploy import stacks as stack_keys
    from objbackup.deploy.deployment import find_deployment

    deployment = find_deployment(connection)
    settings = deployment.function_settings()
    queue_url = (
        deployment.require("replicator", stack_keys.O_QUEUE_URL)
        if need_queue
        else deployment.queue_url
    )
    table = CopyTable(connection.client("dynamodb"), settings.table, settings.disowned_index)
    return Deployed(settings, table, deployment.settings.key_filter, queue_url)
