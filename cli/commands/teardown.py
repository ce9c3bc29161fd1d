"""`objbackup teardown`: say what goes, confirm, empty the buckets, delete the stacks."""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options


def command(
    ctx: typer.Context,
    yes: Annotated[bool, options.yes_option("Destroy without asking.")] = False,
    keep_backups: Annotated[
        bool,
        typer.Option("--keep-backups", help="Keep the backup bucket and the table."),
    ] = False,
    dry_run: Annotated[
        bool, options.dry_run_option("Say what would be destroyed and kept; delete nothing.")
    ] = False,
) -> None:
    """Empty the deployment's buckets (every version) and delete its stacks."""
    run(global_options(ctx), yes, keep_backups, dry_run)


def run(global_opts: GlobalOptions, yes: bool, keep_backups: bool, dry_run: bool = False) -> None:
    """Count, show, stop on a dry run, confirm (unless `yes`), tear down with progress bars."""
    from objbackup.cli import prompt, render
    from objbackup.deploy.teardown import KEPT_ROLE, Teardown

    connection = global_opts.connection()
    teardown = Teardown(connection)
    with render.working(f"Counting what {connection.name} holds"):
        plan = teardown.plan(keep_backups)
    render.teardown_plan(plan)
    if dry_run:
        render.message("Dry run: nothing was deleted.", "bold")
        return
    versions = render.counted(plan.versions_to_delete, "object version")
    name = plan.deployment.name
    kept = bool(plan.kept_tables) or any(b.role == KEPT_ROLE for b in plan.buckets)
    if not plan.stacks:
        question = f"Destroy the kept backups of {name} and {versions}?"
    elif kept:
        question = f"Destroy deployment {name}, its kept backups and {versions}?"
    else:
        question = f"Destroy deployment {name} and {versions}?"
    if not yes and not prompt.confirm(
        question,
        "teardown needs a confirmation and there is no terminal to ask",
        "pass --yes to destroy without asking (--dry-run shows what would go)",
    ):
        raise typer.Abort()
    with render.bucket_progress() as bars:
        result = teardown.run(plan, on_progress=bars.update, on_event=render.stack_event)
    render.message(
        f"Deployment {plan.deployment.name} in {plan.deployment.region} is gone "
        f"({render.counted(len(result.deleted_stacks), 'stack')} deleted).",
        "bold green",
    )
    if result.kept:
        render.message(f"Kept: {', '.join(result.kept)}.")
    if result.deleted_kept:
        render.message(f"Deleted kept backups: {', '.join(result.deleted_kept)}.")
