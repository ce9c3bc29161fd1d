"""`objbackup backfill [--prefix P] [--dry-run] [--json]`: back up objects older than the
deployment, through the replicator's own queue."""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options


def command(
    ctx: typer.Context,
    prefix: Annotated[
        str, typer.Option("--prefix", metavar="PREFIX", help="Only objects whose key starts so.")
    ] = "",
    dry_run: Annotated[
        bool, options.dry_run_option("List the objects that would be sent; send nothing.")
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Back up objects that have no copy of their current content (e.g. older than the
    deployment) by sending their Object Created events to the replicator queue.

    Idempotent: objects with an active copy of their current ETag are skipped.
    """
    run(global_options(ctx), prefix, dry_run, as_json)


def run(global_opts: GlobalOptions, prefix: str, dry_run: bool, as_json: bool) -> None:
    """Backfill the deployment `global_opts` names."""
    from objbackup.backfill import Backfill
    from objbackup.cli import render, render_verify
    from objbackup.cli.deployed import find_deployed

    connection = global_opts.connection()
    deployed = find_deployed(connection, need_queue=True)
    with render_verify.phase_progress() as progress:
        report = Backfill(
            connection.client("s3"),
            connection.client("sqs"),
            deployed.table,
            deployed.settings.source_bucket,
            deployed.queue_url or "",
            key_filter=deployed.key_filter,
            progress=progress,
        ).run(prefix=prefix, dry_run=dry_run)
    if as_json:
        render.print_json(report.to_json())
    else:
        render_verify.backfill_report(report)
    if report.failed:
        first = "; ".join(f"{key!r}: {reason}" for key, reason in report.failed[:3])
        render.error(
            f"{render.counted(len(report.failed), 'object')} could not be sent to the replicator "
            f"queue, every other one was (first: {first})",
            "run backfill again: it sends only what is still missing",
        )
        raise typer.Exit(1)
