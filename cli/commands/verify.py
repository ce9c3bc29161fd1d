"""`objbackup verify [--repair] [--dry-run] [--json]`: source, copies and records agree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient


def command(
    ctx: typer.Context,
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix each finding and say what was done.")
    ] = False,
    dry_run: Annotated[
        bool, options.dry_run_option("With --repair: say what would be done; change nothing.")
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Compare the source bucket, the backup bucket and the table (Queries, never a Scan).

    Reports orphan copies, records without copies, objects without a copy of their current
    content, objects over the retention count and copies of objects no longer in the source.
    Exits 1 while errors remain; warnings (objects S3 cannot copy, objects objbackup did not
    make) are reported, never repaired, and leave the exit code 0.
    """
    if dry_run and not repair:
        ctx.fail("--dry-run goes with --repair")
    run(global_options(ctx), repair, dry_run, as_json)


def run(global_opts: GlobalOptions, repair: bool, dry_run: bool, as_json: bool) -> None:
    """Verify the deployment `global_opts` names; exit 1 when findings remain unrepaired."""
    from objbackup.cli import render, render_verify
    from objbackup.cli.deployed import find_deployed
    from objbackup.verify import Verifier

    connection = global_opts.connection()
    deployed = find_deployed(connection, need_queue=repair and not dry_run)
    verifier = Verifier(
        deployed.settings,
        connection.client("s3"),
        deployed.table,
        connection.client("sqs"),
        deployed.queue_url,
        key_filter=deployed.key_filter,
        check_delivery=True,
    )
    with render_verify.phase_progress() as progress:
        verifier.progress = progress
        report = verifier.run(repair=repair, dry_run=dry_run)
    if as_json:
        render.print_json(report.to_json())
    else:
        render_verify.verify_report(report)
    busy = _backlog(connection.client("sqs"), deployed.queue_url) if report.findings else 0
    if busy:
        # Findings about keys whose events are still queued may be work in flight, not damage.
        render.message(
            f"The replicator queue holds {render.counted(busy, 'message')}: some findings may be "
            "work in flight; run verify again once `objbackup status` shows it empty.",
            "yellow",
        )
    if report.errors_remaining:
        left = report.errors_remaining
        warned = (
            f"; {render.counted(report.warnings, 'warning')} besides" if report.warnings else ""
        )
        render.error(
            f"{render.counted(left, 'finding')} {'remains' if left == 1 else 'remain'} unrepaired"
            + warned,
            "run `objbackup verify --repair` (or --repair --dry-run first)"
            if not repair or dry_run
            else "see the repair column for why; fix those by hand",
        )
        raise typer.Exit(1)


def _backlog(sqs: SQSClient, queue_url: str | None) -> int:
    """Messages waiting or in flight on the replicator queue (0 when there is no queue)."""
    if not queue_url:
        return 0
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())
