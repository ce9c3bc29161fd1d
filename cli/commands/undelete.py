"""`objbackup undelete OBJECT`: inside the grace period, bring a deleted object back."""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options


def command(
    ctx: typer.Context,
    object_key: Annotated[
        str, typer.Argument(metavar="OBJECT", help="Key of the deleted source object.")
    ],
    dry_run: Annotated[
        bool, options.dry_run_option("Say what would be undeleted; change nothing.")
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Restore a deleted object from its newest disowned copy and make its copies active again."""
    run(global_options(ctx), object_key, dry_run, as_json)


def run(global_opts: GlobalOptions, object_key: str, dry_run: bool, as_json: bool) -> None:
    """Undelete `object_key` against the deployment `global_opts` names; print what was done."""
    from objbackup.cli import render, render_restore
    from objbackup.cli.commands.restore import make_restorer
    from objbackup.undelete import Undeleter

    restorer, deployed = make_restorer(global_opts)
    with render.working(f"Undeleting {object_key}"):
        result = Undeleter(restorer, deployed.settings.retain).run(object_key, dry_run=dry_run)
    document = result.to_json()
    render.print_json(document) if as_json else render_restore.undelete(document)
