"""`objbackup status`: stacks, resources, settings, backlog and health; exit 1 when the source
bucket no longer delivers its events to EventBridge (backups have silently stopped)."""

from __future__ import annotations

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options


def command(
    ctx: typer.Context,
    as_json: options.AsJson = False,
) -> None:
    """Show the deployment's stacks, resources, settings and backlog."""
    run(global_options(ctx), as_json)


def run(global_opts: GlobalOptions, as_json: bool) -> None:
    """Describe the deployment and its queues; JSON or tables on stdout."""
    from objbackup.cli import render, render_status
    from objbackup.deploy.status import deployment_status

    document = deployment_status(global_opts.connection())
    stopped = document.get("eventbridge_delivery") is False
    if as_json:
        render.print_json(document)
    else:
        if stopped:
            render_status.delivery_off(document)
        render.status(document)
        render_status.health(document)
    if stopped:
        raise typer.Exit(1)
