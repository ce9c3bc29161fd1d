"""`objbackup restore OBJECT`: copy a backup copy back to the source bucket (or to another key)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options

if TYPE_CHECKING:
    from objbackup.cli.deployed import Deployed
    from objbackup.restore import Restorer


def command(
    ctx: typer.Context,
    object_key: Annotated[
        str, typer.Argument(metavar="OBJECT", help="Key of the source object to restore.")
    ],
    copy: Annotated[
        str | None,
        typer.Option(
            "--copy",
            metavar="TIMESTAMP",
            help="The copy to restore: its copy timestamp as `list` shows it (or copy name).",
        ),
    ] = None,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest", help="Restore the newest active copy (else newest disowned); the default."
        ),
    ] = False,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="KEY", help="Restore to this key of the source bucket."),
    ] = None,
    dry_run: Annotated[
        bool, options.dry_run_option("Say what would be restored; change nothing.")
    ] = False,
    yes: Annotated[
        bool,
        options.yes_option(
            "Overwrite whatever is at the target without asking. Without it, the copy lands only "
            "if the target is still as checked (and confirmed)."
        ),
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Copy a backup copy back to the source, keeping content type, metadata and tags."""
    if copy is not None and latest:
        ctx.fail("give --copy TIMESTAMP or --latest, not both")
    if to is not None and not to:
        ctx.fail("--to needs a non-empty key")
    from objbackup.restore import AmbiguousCopy

    try:
        run(global_options(ctx), object_key, copy, to, dry_run, yes, as_json)
    except AmbiguousCopy as exc:
        # A usage error (exit 2): the command line names no single copy.
        raise typer.BadParameter(f"{exc} ({exc.hint})", param_hint="'--copy'") from None


def run(
    global_opts: GlobalOptions,
    object_key: str,
    copy: str | None,
    to: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    interactive: Callable[[], bool] | None = None,
    restorer: Restorer | None = None,
) -> None:
    """Plan the restore, confirm an overwrite (unless `yes`), copy; print the result."""
    from objbackup.cli import render, render_restore
    from objbackup.restore import RestoreError

    restorer = restorer or make_restorer(global_opts)[0]
    plan = restorer.plan(object_key, copy, to)
    if plan.overwrites and not dry_run and not yes:
        if not (interactive or stdin_is_terminal)():
            raise RestoreError(
                f"{plan.to} exists and restoring would overwrite it",
                "pass --yes to overwrite, or --to KEY to restore beside it",
            )
        if not render.confirm(f"Overwrite {plan.to} with copy {plan.copy.copy_timestamp}?"):
            raise typer.Abort()
    version = None
    if not dry_run:
        with render.working(f"Restoring {plan.copy.copy_name}"):
            # --yes overwrites whatever is there; otherwise only what was checked (and confirmed).
            version = restorer.copy_back(plan.copy, plan.to, None if yes else plan.target)
    document = plan.to_json(dry_run=dry_run, restored=not dry_run, version_id=version)
    render.print_json(document) if as_json else render_restore.restore(document)


def stdin_is_terminal() -> bool:
    """Whether someone can answer a question (a piped or closed stdin cannot)."""
    return sys.stdin.isatty()


def make_restorer(global_opts: GlobalOptions) -> tuple[Restorer, Deployed]:
    """A Restorer for the deployment `global_opts` names, and what the deployment says (retain)."""
    from objbackup.cli.deployed import find_deployed
    from objbackup.restore import Restorer

    connection = global_opts.connection()
    deployed = find_deployed(connection, need_queue=False)
    restorer = Restorer(
        connection.client("s3"),
        deployed.table,
        deployed.settings.source_bucket,
        deployed.settings.backup_bucket,
        deployed.settings.multipart_threshold,
    )
    return restorer, deployed
