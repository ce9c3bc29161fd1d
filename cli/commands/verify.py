"""`objbackup verify`: placeholder, filled in by issue 6."""

from __future__ import annotations

import typer


def command(ctx: typer.Context) -> None:
    """Not built yet."""
    ctx.fail("verify is not built yet")
