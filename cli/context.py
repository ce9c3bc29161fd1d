"""The global options, stored on the Click context for every command to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from objbackup.deploy.connection import Connection


@dataclass
class GlobalOptions:
    """The options given before the command (`objbackup --name prod status`): `--name`,
    `--region`, `--profile`, `--endpoint-url`, `--debug`; and the connection they name."""

    name: str = "objbackup"
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    debug: bool = False
    _connection: Connection | None = field(default=None, repr=False)

    def connection(self) -> Connection:
        """The deployment's AWS connection, built on first use (boto3 is imported then)."""
        if self._connection is None:
            from objbackup.deploy.connection import Connection

            self._connection = Connection(
                name=self.name,
                region=self.region,
                profile=self.profile,
                endpoint_url=self.endpoint_url,
            )
        return self._connection


def global_options(ctx: typer.Context) -> GlobalOptions:
    """The GlobalOptions the app callback stored (defaults when a command runs on its own)."""
    found = ctx.find_object(GlobalOptions)
    return found if found is not None else GlobalOptions()
