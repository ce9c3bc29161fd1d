"""The global options, stored on the Click context for every command to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from objbackup.deploy.connection import Connection


@dataclass
class Globals:
    """`--name`, `--region`, `--profile`, `--endpoint-url`, `--debug`, and the connection."""

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


def globals_of(ctx: typer.Context) -> Globals:
    """The Globals the app callback stored (defaults when a command runs on its own)."""
    found = ctx.find_object(Globals)
    return found if found is not None else Globals()
