"""`objbackup clean --now`: run the deployed cleaner at once and print its report."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options

if TYPE_CHECKING:
    from objbackup.deploy.invoke import CleanerReport

    Invoke = Callable[[str, bool], CleanerReport]


def command(
    ctx: typer.Context,
    now: Annotated[bool, typer.Option("--now", help="Run the cleaner now (required).")] = False,
    dry_run: Annotated[
        bool, options.dry_run_option("List what would be deleted; delete nothing.")
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Invoke the deployed cleaner synchronously and print its report."""
    if not now:
        ctx.fail("the cleaner runs on its schedule; pass --now to run it at once")
    run(global_options(ctx), dry_run, as_json)


def run(
    global_opts: GlobalOptions, dry_run: bool, as_json: bool, invoke: Invoke | None = None
) -> None:
    """Invoke the cleaner (or `invoke`, in tests), print the report; exit 1 if a copy failed."""
    from objbackup.cli import render
    from objbackup.deploy.deployment import find_deployment
    from objbackup.deploy.invoke import invoke_cleaner
    from objbackup.deploy.stacks import O_FUNCTION

    connection = global_opts.connection()
    function = find_deployment(connection).require("cleaner", O_FUNCTION)
    if invoke is None:

        def invoke(name: str, dry: bool) -> CleanerReport:
            return invoke_cleaner(connection.client("lambda"), name, dry)

    with render.working(f"Running {function}"):
        report = invoke(function, dry_run)
    if as_json:
        render.print_json(report.to_json())
    else:
        render.clean_report(report)
    if report.failed:
        render.error(
            f"{render.counted(report.failed, 'copy', 'copies')} could not be deleted",
            "a later run retries them (a claimed copy once its 16-minute claim lapses); "
            "see the errors above",
        )
        raise typer.Exit(1)
