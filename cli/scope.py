"""What verify, backfill, restore and undelete need to know of a deployment, from its stacks."""

from __future__ import annotations

from dataclasses import dataclass

from objbackup.core.config import Settings
from objbackup.core.filters import KeyFilter
from objbackup.core.table import CopyTable
from objbackup.deploy.connection import Connection


@dataclass(frozen=True)
class Scope:
    """What the data commands need of a deployment: names, retention, filter, queue."""

    settings: Settings
    table: CopyTable
    key_filter: KeyFilter
    queue_url: str | None


def deployment_scope(connection: Connection, need_queue: bool) -> Scope:
    """The deployment's buckets, table, retention, key filter and (if needed) queue."""
    from objbackup.core.config import DEFAULT_MULTIPART_THRESHOLD, DEFAULT_RETAIN
    from objbackup.core.filters import EXCLUDE_PARAMETER, INCLUDE_PARAMETER
    from objbackup.deploy import stacks as k
    from objbackup.deploy.describe import find_deployment

    deployment = find_deployment(connection)
    settings = Settings(
        source_bucket=deployment.require("storage", k.O_SOURCE_BUCKET),
        backup_bucket=deployment.require("storage", k.O_BACKUP_BUCKET),
        table=deployment.require("storage", k.O_TABLE),
        disowned_index=deployment.disowned_index,
        retain=deployment.retain or DEFAULT_RETAIN,
        # Restores copy back the way the replicator copies: the deployed threshold, if any.
        multipart_threshold=int(
            deployment.parameter("replicator", k.P_MULTIPART_THRESHOLD)
            or DEFAULT_MULTIPART_THRESHOLD
        ),
    )
    queue_url = (
        deployment.require("replicator", k.O_QUEUE_URL) if need_queue else deployment.queue_url
    )
    # A deployment made before the filter existed has no such parameter: it backs up everything.
    key_filter = KeyFilter.from_parameters(
        deployment.parameter("replicator", INCLUDE_PARAMETER),
        deployment.parameter("replicator", EXCLUDE_PARAMETER),
    )
    table = CopyTable(connection.client("dynamodb"), settings.table, settings.disowned_index)
    return Scope(settings, table, key_filter, queue_url)
