"""Rendering: rich tables and progress on stderr, data (tables, JSON) on stdout.

rich is imported on first use only, so that `objbackup --help` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from objbackup.core.storage_class import RESTORE_NOTES

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from objbackup.deploy.deployment import Deployment
    from objbackup.deploy.invoke import CleanerReport
    from objbackup.deploy.plan import DeployPlan
    from objbackup.deploy.stackops import StackEvent
    from objbackup.deploy.teardown import TeardownPlan

_STATUS_STYLES = (
    ("FAILED", "bold red"),
    ("ROLLBACK", "red"),
    ("IN_PROGRESS", "yellow"),
    ("COMPLETE", "green"),
)


# Output that is not a terminal (a pipe, a file, a script) is for pasting and parsing: rich
# would wrap and fold it at 80 columns (or $COLUMNS), splitting names and timestamps.
UNWRAPPED_WIDTH = 1_000_000


def _console(err: bool) -> Console:
    from rich.console import Console

    console = Console(stderr=err, highlight=False)
    if not console.is_terminal:
        console.width = UNWRAPPED_WIDTH
    return console


@functools.cache
def stderr() -> Console:
    """The console for messages, progress and prompts (one, so live displays and lines mix)."""
    return _console(err=True)


@functools.cache
def stdout() -> Console:
    """The console for data: tables (JSON goes to stdout directly, unstyled)."""
    return _console(err=False)


def _text(value: Any, style: str = "") -> Text:
    from rich.text import Text

    return Text("-" if value is None else str(value), style=style)


def _table(*columns: str) -> Table:
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _show(console: Console, title: str | None, table: Table) -> None:
    """A title line (never wrapped, unlike a rich table title), then the table."""
    if title:
        console.print(_text(title, "bold"), soft_wrap=True)
    console.print(table)


def _status_style(status: str | None) -> str:
    if status is None:
        return "dim"
    return next((style for marker, style in _STATUS_STYLES if marker in status), "")


# --- messages ---------------------------------------------------------------------------------


def error(cause: str, hint: str | None) -> None:
    """The one-line cause, then the hint, on stderr (never wrapped, so greppable)."""
    console = stderr()
    console.print(_text(f"Error: {cause}", "bold red"), soft_wrap=True)
    if hint:
        console.print(_text(f"Hint: {hint}", "yellow"), soft_wrap=True)


def message(text: str, style: str = "") -> None:
    """A line for the operator on stderr."""
    stderr().print(_text(text, style), soft_wrap=True)


def confirm(prompt: str) -> bool:
    """Ask on stderr; an answer other than yes (or no input at all) declines."""
    return bool(typer.confirm(prompt, default=False, err=True))


def print_json(document: Any) -> None:
    """`--json`: the document on stdout, nothing else."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def working(text: str) -> Iterator[None]:
    """A spinner on stderr while something slow runs (nothing at all when not a terminal)."""
    with stderr().status(_text(text)):
        yield


# --- list -------------------------------------------------------------------------------------


def copies(document: Mapping[str, Any]) -> None:
    """`list OBJECT`: the object's copies, newest first."""
    rows = document["copies"]
    if not rows:
        message(f"No copies of {document['object']}.")
        return
    table = _table("copy timestamp", "status", "size", "copy")
    for copy in rows:
        active = copy["status"] == "active"
        table.add_row(
            _text(copy["copy_timestamp"]),
            _text(
                "active" if active else f"{copy['status']} {copy['disowned_at']}",
                "green" if active else "yellow",
            ),
            _text(copy.get("size")),
            _text(copy["copy_name"]),
        )
    _show(stdout(), f"Copies of {document['object']}", table)


def disowned(document: Mapping[str, Any]) -> None:
    """`list --disowned`: disowned copies, oldest first."""
    rows = document["disowned"]
    if not rows:
        message("No disowned copies.")
        return
    table = _table("disowned at", "object", "size", "copy")
    for copy in rows:
        cleaning = " (cleaning)" if copy.get("status") == "cleaning" else ""
        table.add_row(
            _text(f"{copy['disowned_at']}{cleaning}"),
            _text(copy["source_object"]),
            _text(copy.get("size")),
            _text(copy["copy_name"]),
        )
    _show(stdout(), "Disowned copies", table)


# --- clean ------------------------------------------------------------------------------------


def clean_report(report: CleanerReport) -> None:
    """`clean --now`: the copies deleted (or that would be) on stdout, a summary on stderr."""
    if report.copies:
        table = _table("copy")
        for name in report.copies:
            table.add_row(_text(name))
        _show(stdout(), "Would delete" if report.dry_run else "Deleted", table)
    count = len(report.copies) if report.dry_run else report.deleted
    summary = (
        f"{'Would delete' if report.dry_run else 'Deleted'} {counted(count, 'copy', 'copies')}"
    )
    if report.cutoff:
        summary += f" disowned before {report.cutoff}"
    if report.failed:
        summary += f"; {report.failed} failed"
    message(summary + ".", "bold")
    lines([f"  {line}" for line in report.errors], "red")
    omitted = report.extra.get("copies_omitted") or 0
    if omitted:
        message(f"  (and {counted(omitted, 'more copy', 'more copies')}, not listed)")
    if report.stopped_early:
        message("Stopped before the function's timeout; the next run goes on.", "yellow")


# --- status -----------------------------------------------------------------------------------

_RESOURCES = (
    ("source bucket", "source_bucket"),
    ("backup bucket", "backup_bucket"),
    ("artifacts bucket", "artifacts_bucket"),
    ("table", "table"),
    ("queue", "queue_url"),
    ("dead-letter queue", "dlq_url"),
    ("dead-letter alarm", "alarm_name"),
    ("replicator function", "replicator_function"),
    ("cleaner function", "cleaner_function"),
    ("bundle", "bundle_key"),
)


def status(document: Mapping[str, Any]) -> None:
    """`status`: stacks, resources, then settings and backlog, as tables on stdout."""
    console = stdout()
    stacks = _table("stack", "status")
    for role, state in document["stacks"].items():
        name = document.get("stack_names", {}).get(role, role)
        stacks.add_row(_text(name), _text(state or "not deployed", _status_style(state)))
    _show(console, f"objbackup deployment {document['name']} in {document['region']}", stacks)
    resources = _table("resource", "name")
    for label, key in _RESOURCES:
        value = document.get(key)
        if key == "source_bucket" and value:
            value += " (created)" if document.get("source_bucket_created") else " (adopted)"
        resources.add_row(_text(label), _text(value))
    _show(console, "Resources", resources)
    settings = _table("setting", "value")
    dlq = document.get("dlq_depth")
    for label, value, style in (
        ("retain", document.get("retain"), ""),
        ("grace (s)", document.get("grace_seconds"), ""),
        ("schedule", document.get("schedule"), ""),
        ("include prefixes", ", ".join(document.get("include_prefixes") or []) or "(all)", ""),
        ("exclude prefixes", ", ".join(document.get("exclude_prefixes") or []) or "(none)", ""),
        ("rule lets by", document.get("rule_keys"), ""),
        ("copy encryption", document.get("backup_kms_key") or "SSE-S3", ""),
        ("copy storage class", document.get("storage_class"), ""),
        ("concurrency", document.get("concurrency"), ""),
        ("batch size", document.get("batch_size"), ""),
        ("batch window (s)", document.get("batching_window"), ""),
        ("memory (MB)", document.get("replicator_memory"), ""),
        ("queue depth", document.get("queue_depth"), ""),
        ("messages in flight", document.get("queue_in_flight"), ""),
        ("dead-letter depth", dlq, "bold red" if dlq else ""),
    ):
        settings.add_row(_text(label), _text(value, style))
    _show(console, "Settings and backlog", settings)


# --- deploy -----------------------------------------------------------------------------------


def deploy_plan(plan: DeployPlan) -> None:
    """What a deploy would do to each stack and the bundle, before the confirmation."""
    table = _table("stack", "action", "why")
    for stack in plan.stacks:
        style = {"create": "green", "update": "yellow"}.get(stack.action, "dim")
        table.add_row(
            _text(stack.stack_name),
            _text(stack.action, style),
            _text("; ".join(stack.reasons) or "-"),
        )
    bundle = "upload" if plan.upload_bundle else "already uploaded"
    table.add_row(_text("bundle"), _text(bundle), _text(plan.bundle_key))
    console = stderr()
    _show(console, f"Deploy {plan.name} to {plan.region}", table)
    settings = plan.settings
    storage = next((s for s in plan.stacks if s.role == "storage"), None)
    existing = storage is not None and storage.action != "create"
    source = settings.source_bucket or (
        "the bucket objbackup created (unchanged)" if existing else "a new bucket"
    )
    message(
        f"source: {source}; retain {settings.retain}; grace {settings.grace_seconds:g} s; "
        f"cleaner schedule {settings.schedule}"
    )
    message(f"backs up: {settings.key_filter.describe()}")
    message(f"encryption: {settings.encryption.describe()}")
    message(
        f"storage class: copies in {settings.storage_class} "
        f"({RESTORE_NOTES[settings.storage_class]})"
    )
    message(f"scale: {settings.scale.describe()}")
    message(f"alarms: {settings.alarms.describe()}", "" if settings.alarms.notifies else "yellow")
    if plan.source is not None:
        found = plan.source
        message(
            f"adopted bucket {found.bucket} ({found.region}): versioning {found.versioning}, "
            f"default encryption {found.encryption} (reported, never changed)"
        )
    if plan.eventbridge is not None:
        message(plan.eventbridge.describe, "yellow" if plan.eventbridge.action != "none" else "")
    if plan.prune is not None:
        message(plan.prune.describe, "yellow")
    if plan.kept is not None:
        message(plan.kept.describe, "yellow")


def stack_event(event: StackEvent) -> None:
    """One stack event as a progress line: time, stack, status, resource, reason."""
    from rich.text import Text

    when = f"{event.timestamp:%H:%M:%S}" if event.timestamp else "--:--:--"
    line = Text(f"{when}  {event.stack:<28} ")
    line.append(f"{event.status:<22}", style=_status_style(event.status))
    line.append(f" {event.logical_id}")
    if event.reason:
        line.append(f"  {event.reason}", style="red" if event.failed else "dim")
    stderr().print(line, soft_wrap=True)


def outputs(deployment: Deployment) -> None:
    """Every stack output, on stdout, after a deploy."""
    table = _table("stack", "output", "value")
    for stack in deployment.stacks.values():
        for key, value in sorted(stack.outputs.items()):
            table.add_row(_text(stack.name), _text(key), _text(value))
    _show(stdout(), f"Outputs of {deployment.name} in {deployment.region}", table)


# --- teardown ---------------------------------------------------------------------------------


def teardown_plan(plan: TeardownPlan) -> None:
    """What teardown destroys and keeps, with object counts, before the confirmation."""
    deployment = plan.deployment
    table = _table("what", "name", "fate")
    for bucket in plan.buckets:
        fate = (
            f"kept ({bucket.reason})"
            if bucket.keep
            else f"emptied ({counted(bucket.versions, 'object version')}) and deleted"
            + (f" ({bucket.reason})" if bucket.reason else "")
        )
        table.add_row(
            _text(f"{bucket.role} bucket"), _text(bucket.name), _text(fate, _fate(bucket.keep))
        )
    if plan.table:
        keep = plan.keep_backups
        fate = "kept (--keep-backups)" if keep else "deleted with every record"
        table.add_row(_text("table"), _text(plan.table), _text(fate, _fate(keep)))
    for kept in plan.kept_tables:
        table.add_row(_text("kept table"), _text(kept), _text("deleted with every record", "red"))
    release = plan.eventbridge
    if release is not None:
        off = release.action == "turn off"
        table.add_row(
            _text("EventBridge delivery"),
            _text(release.bucket),
            _text(f"{'turned off' if off else 'left on'} ({release.reason})", _fate(not off)),
        )
    for stack in plan.stacks:
        table.add_row(_text("stack"), _text(stack.name), _text("deleted", "red"))
    _show(stderr(), f"Teardown of {deployment.name} in {deployment.region}", table)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """'1 copy', '3 copies': the count and the noun in its number (plural: singular + 's')."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _fate(keep: bool) -> str:
    return "green" if keep else "red"


class BucketProgress:
    """One progress bar per bucket being emptied."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("emptying {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=stderr(),
        )
        self.tasks: dict[str, Any] = {}

    def update(self, bucket: str, done: int, total: int) -> None:
        """Teardown's progress callback: `done` of `total` versions of `bucket` deleted."""
        if bucket not in self.tasks:
            self.tasks[bucket] = self.progress.add_task(bucket, total=total)
        self.progress.update(self.tasks[bucket], completed=done, total=max(total, done))


@contextmanager
def bucket_progress() -> Iterator[BucketProgress]:
    """Progress bars for emptying buckets, shown while the block runs."""
    bars = BucketProgress()
    with bars.progress:
        yield bars


def lines(items: Sequence[str], style: str = "") -> None:
    """Several message lines on stderr."""
    console = stderr()
    for item in items:
        console.print(_text(item, style), soft_wrap=True)
