"""`objbackup status`: stacks, resources, settings, queue and dead-letter depth."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import Globals, globals_of


def command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Show the deployment's stacks, resources, settings and backlog."""
    run(globals_of(ctx), as_json)


def run(g: Globals, as_json: bool) -> None:
    """Describe the deployment and its queues; JSON or tables on stdout."""
    from cli import render
    from objbackup.deploy.status import deployment_status

    document = deployment_status(g.connection())
    render.print_json(document) if as_json else render.status(document)
