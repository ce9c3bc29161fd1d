"""`objbackup list OBJECT` and `objbackup list --disowned`: Queries, never a Scan."""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options


def command(
    ctx: typer.Context,
    object_key: Annotated[
        str | None,
        typer.Argument(metavar="OBJECT", help="Key of the source object whose copies to list."),
    ] = None,
    disowned: Annotated[
        bool, typer.Option("--disowned", help="List disowned copies instead, oldest first.")
    ] = False,
    older_than: Annotated[
        float | None,
        options.checked_option(
            "--older-than",
            "SECONDS",
            options.older_than,
            "With --disowned: only copies disowned more than SECONDS ago.",
        ),
    ] = None,
    as_json: options.AsJson = False,
) -> None:
    """List an object's copies, newest first, or every disowned copy."""
    if object_key is not None and disowned:
        ctx.fail("give an OBJECT or --disowned, not both")
    if object_key is None and not disowned:
        ctx.fail("give an OBJECT key, or --disowned")
    if older_than is not None and not disowned:
        ctx.fail("--older-than goes with --disowned")
    run(global_options(ctx), object_key, older_than, as_json)


def run(
    global_opts: GlobalOptions, object_key: str | None, older_than: float | None, as_json: bool
) -> None:
    """Query the deployment's table for one object's copies (a key) or the disowned ones."""
    from datetime import UTC, datetime

    from objbackup.cli import render
    from objbackup.core.table import CopyTable
    from objbackup.deploy.deployment import find_deployment
    from objbackup.deploy.stacks import O_TABLE
    from objbackup.listing import list_copies, list_disowned

    connection = global_opts.connection()
    deployment = find_deployment(connection)
    table = CopyTable(
        connection.client("dynamodb"),
        deployment.require("storage", O_TABLE),
        deployment.disowned_index,
    )
    if object_key is not None:
        document = list_copies(table, object_key)
        render.print_json(document) if as_json else render.copies(document)
    else:
        document = list_disowned(table, older_than, now=datetime.now(UTC))
        render.print_json(document) if as_json else render.disowned(document)
