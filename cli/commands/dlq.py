"""`objbackup dlq`: what is in the dead-letter queue, and `dlq redrive` to move it back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options

if TYPE_CHECKING:
    from objbackup.deploy.deployment import Deployment

app = typer.Typer(
    help="The dead-letter queue: list what failed five times, and redrive it.",
    invoke_without_command=True,
    no_args_is_help=False,
)

REASONS_LOOKED_UP = 50


@app.callback()
def listing(ctx: typer.Context, as_json: options.AsJson = False) -> None:
    """List the dead-letter queue: key, event, and the failure reason from the logs."""
    if ctx.invoked_subcommand is None:
        run_list(global_options(ctx), as_json)


@app.command("redrive")
def redrive_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, options.dry_run_option("Say what would be moved; move nothing.")
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Move every message of the dead-letter queue back to the queue, to be replicated again."""
    run_redrive(global_options(ctx), dry_run, as_json)


def _queues(global_opts: GlobalOptions) -> tuple[Deployment, str, str]:
    from objbackup.deploy.deployment import find_deployment
    from objbackup.deploy.stacks import O_DLQ_URL, O_QUEUE_URL
    from objbackup.deploy.status import reachable_queue_url

    deployment = find_deployment(global_opts.connection())
    queue = deployment.require("replicator", O_QUEUE_URL)
    dlq = deployment.require("replicator", O_DLQ_URL)
    endpoint = global_opts.connection().endpoint_url
    return (
        deployment,
        reachable_queue_url(queue, endpoint) or queue,
        reachable_queue_url(dlq, endpoint) or dlq,
    )


def log_group(deployment: Deployment) -> str | None:
    """The replicator's log group (Lambda's default name, which the template creates)."""
    function = deployment.replicator_function
    return f"/aws/lambda/{function}" if function else None


def run_list(global_opts: GlobalOptions, as_json: bool) -> None:
    """Peek at the DLQ (nothing is removed) and print each message with its failure reason."""
    from objbackup.cli import render
    from objbackup.dlq import failure_reason, peek

    deployment, _queue, dlq = _queues(global_opts)
    connection = global_opts.connection()
    logs = connection.client("logs")
    group = log_group(deployment)
    looked_up: list[str] = []

    def reason_of(message_id: str) -> str | None:
        # Each lookup searches the log group (FilterLogEvents): the first REASONS_LOOKED_UP only.
        if len(looked_up) >= REASONS_LOOKED_UP:
            return None
        looked_up.append(message_id)
        return failure_reason(logs, group, message_id)

    with render.working("Reading the dead-letter queue"):
        letters = peek(connection.client("sqs"), dlq, reason_of)
    document = {"dlq_url": dlq, "count": len(letters), "messages": [m.to_json() for m in letters]}
    if as_json:
        render.print_json(document)
        return
    _table(document)


def _table(document: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from objbackup.cli import render

    messages = document["messages"]
    if not messages:
        render.message("The dead-letter queue is empty.", "green")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("key", "event", "event time", "receives", "reason", "message id"):
        table.add_column(column, overflow="fold")
    for m in messages:
        table.add_row(
            Text(m["key"] if m["key"] is not None else f"(undecodable: {m['undecodable']})"),
            Text(m["event"] or "-"),
            Text(m["event_time"] or "-"),
            Text(str(m["receive_count"] or "-")),
            Text(m["reason"] or "unknown (not found in the logs)"),
            Text(m["message_id"]),
        )
    render.stdout().print(
        Text(f"Dead-letter queue: {render.counted(len(messages), 'message')}", "bold"),
        soft_wrap=True,
    )
    render.stdout().print(table)
    render.message("Hint: fix the cause, then `objbackup dlq redrive`.", "yellow")


def run_redrive(global_opts: GlobalOptions, dry_run: bool, as_json: bool) -> None:
    """Move the DLQ back to the queue (or say what would move)."""
    from objbackup.cli import render
    from objbackup.dlq import redrive

    _deployment, queue, dlq = _queues(global_opts)
    with render.working("Moving the dead-letter queue back"):
        connection = global_opts.connection()
        mover = None if dry_run else connection.one_shot_client("sqs")
        report = redrive(connection.client("sqs"), dlq, queue, dry_run, mover)
    if as_json:
        render.print_json(report.to_json())
        return
    count = render.counted(report.moved, "message")
    if report.dry_run:
        render.message(f"Dry run: would move {count} back to the queue.", "bold")
    elif report.method == "message-move-task":
        render.message(
            f"Started SQS message move task {report.task_handle}: the dead-letter queue's "
            "messages move back to the queue.",
            "bold green",
        )
    else:
        render.message(f"Moved {count} back to the queue.", "bold green")
