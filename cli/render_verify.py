"""Rendering for `verify` and `backfill`: a progress bar per phase, findings, summaries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from objbackup.cli.render import _show, _table, _text, counted, message, stderr, stdout

if TYPE_CHECKING:
    from objbackup.backfill import BackfillReport
    from objbackup.verify import VerifyReport


class PhaseProgress:
    """The core's progress callback as rich bars on stderr: one per phase, open-ended while the
    total is unknown (a listing), a real bar once it is known (Queries, repairs)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr(),
            transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


@contextmanager
def phase_progress() -> Iterator[PhaseProgress]:
    """Progress bars shown while the block runs, gone when it ends."""
    bars = PhaseProgress()
    with bars.progress:
        yield bars


_STYLES = {"repaired": "green", "found": "red", "would": "yellow"}


def verify_report(report: VerifyReport) -> None:
    """`verify`: the findings on stdout (what repair did with each), a summary on stderr."""
    if report.findings:
        columns = ["kind", "object", "copy", "detail"]
        if report.repair:
            columns.append("repair")
        table = _table(*columns)
        for f in report.findings:
            kind = _text(f.kind, "bold" if f.severity == "error" else "bold yellow")
            row = [kind, _text(f.object), _text(f.copy_name), _text(f.detail)]
            if report.repair:
                style = "green" if f.repaired else ("yellow" if report.dry_run else "red")
                row.append(_text(f.action, style))
            table.add_row(*row)
        _show(stdout(), "Findings", table)
    checked = (
        f"Checked {counted(report.objects, 'object')}, "
        f"{counted(report.copies, 'copy', 'copies')} and {counted(report.records, 'record')}"
    )
    if report.consistent:
        message(f"{checked}: consistent.", "bold green")
        return
    found = len(report.findings)
    summary = f"{checked}: {counted(found, 'finding')}"
    if report.warnings:
        summary += f" ({counted(report.warnings, 'warning')}: no repair can or should fix "
        summary += "it)" if report.warnings == 1 else "them)"
    if report.repair and report.dry_run:
        summary += " (dry run: nothing changed)"
    elif report.repair:
        summary += f", {report.repaired} repaired"
    message(summary + ".", "bold")


def backfill_report(report: BackfillReport) -> None:
    """`backfill`: what was sent (or, dry, would be) on stdout when dry, a summary on stderr."""
    if report.dry_run and report.objects:
        table = _table("object")
        for key in report.objects:
            table.add_row(_text(key))
        _show(stdout(), "Would send an Object Created event for", table)
    where = f" under {report.prefix!r}" if report.prefix else ""
    summary = (
        f"Listed {counted(report.listed, 'object')}{where}: {report.skipped} already backed up, "
    )
    if report.unsupported:
        summary += f"{report.unsupported} unsupported (archived: S3 cannot copy them), "
    if report.dry_run:
        summary += f"{len(report.objects)} would be sent (dry run: nothing sent)"
    else:
        summary += f"{report.sent} sent to the replicator queue"
    if report.excluded:
        summary += f"; {report.excluded} outside the deployment's key filter"
    message(summary + ".", "bold")
