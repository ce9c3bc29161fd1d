"""The cleaner: delete copies disowned for longer than the grace period, streaming, at the batch
APIs' limits, one record's failure never stopping the others.

A run reads `DisownedIndex` a chunk of 1,000 records at a time (pages are fetched as consumed) and
forgets each chunk once handled, so its memory does not grow with the backlog. Per chunk: claim
(`disowned` -> `cleaning`, conditional on still being disowned since the time read, 100 per
TransactWriteItems; a record `undelete` took back is left alone), delete the claimed copies
(objbackup.core.deletes: 1,000 per DeleteObjects, keys XML cannot carry one by one), then their
records (25 per BatchWriteItem). Expired `disowned` records come first, then the `cleaning` ones
whose claim has lapsed (a run that stopped, or a copy that failed): a claim is a lease of
LEASE_SECONDS, longer than any run, so two runs never both own a record, each copy is deleted and
counted by one run, and a record that keeps failing is retried once a lease, never first in line.
A run stops before starting a chunk when its deadline is near, leaving the rest to the next run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from objbackup.core.chunks import chunks
from objbackup.core.config import Settings
from objbackup.core.deadline import Deadline
from objbackup.core.deletes import DELETE_OBJECTS_LIMIT, Target, delete_targets
from objbackup.core.logs import log_event
from objbackup.core.metrics import clean_metrics
from objbackup.core.naming import iso_now
from objbackup.core.records import CLEANING, CopyRecord
from objbackup.core.replicate import Clock, utc_now
from objbackup.core.table import CopyTable

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

__all__ = ["DELETE_OBJECTS_LIMIT", "LEASE_SECONDS", "CleanReport", "Cleaner"]

# A claim (and the scheduled runs' lease) outlives any run: Lambda stops a function after at most
# 900 s (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html), and a run
# without a Lambda deadline gives itself RUN_SECONDS.
LEASE_SECONDS = 960.0
RUN_SECONDS = 840.0
# The report lists at most this many copies and errors (a synchronous invoke answers at most
# 6 MB); the counts are always whole.
LISTED = 1000


@dataclass
class CleanReport:
    """What one clean did (or, on a dry run, would do)."""

    dry_run: bool
    cutoff: str
    deleted: int = 0
    failed: int = 0
    reclaimed: int = 0  # expired copies undelete took back before they could be claimed
    copies: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    copies_omitted: int = 0
    errors_omitted: int = 0
    stopped_early: bool = False  # the deadline came first; the next run goes on
    remaining: int = 0  # at least this many records were read but left for the next run
    skipped: str | None = None  # why the run did nothing (another scheduled clean is running)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "failed": self.failed,
            "copies": self.copies,
            "cutoff": self.cutoff,
            "errors": self.errors,
            "reclaimed": self.reclaimed,
            "copies_omitted": self.copies_omitted,
            "errors_omitted": self.errors_omitted,
            "stopped_early": self.stopped_early,
            "remaining": self.remaining,
            "skipped": self.skipped,
        }

    def list_copy(self, name: str) -> None:
        if len(self.copies) < LISTED:
            self.copies.append(name)
        else:
            self.copies_omitted += 1

    def fail(self, name: str, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < LISTED:
            self.errors.append(f"{name}: {reason}")
        else:
            self.errors_omitted += 1


@dataclass(eq=False)
class Cleaner:
    """Deletes expired disowned copies and their records."""

    settings: Settings
    s3: S3Client
    table: CopyTable
    clock: Clock = utc_now
    chunk_size: int = DELETE_OBJECTS_LIMIT
    page_size: int | None = None

    def run(
        self,
        grace_seconds: float | None = None,
        dry_run: bool = False,
        deadline: Deadline | None = None,
    ) -> CleanReport:
        """Clean copies disowned more than `grace_seconds` (default: the setting) ago."""
        started = time.perf_counter()
        deadline = deadline or Deadline.after(RUN_SECONDS, 0.0)
        grace = self.settings.grace_seconds if grace_seconds is None else grace_seconds
        now = self.clock()
        cutoff = iso_now(now - timedelta(seconds=grace))
        report = CleanReport(dry_run=dry_run, cutoff=cutoff)
        until = iso_now(now + timedelta(seconds=LEASE_SECONDS))
        lapsed = iso_now(now)
        seen = {"expired": 0, "unfinished": 0}
        # New expired records first: a claimed record whose copy failed waits out its lease.
        for what, records in (
            ("expired", self.table.disowned(before=cutoff, page_size=self.page_size)),
            ("unfinished", self._lapsed(lapsed)),
        ):
            # A Query that fails past its retries fails the run (the index cannot be read at
            # all); what it had finished stays done.
            seen[what] = self._stream(records, until, deadline, report)
            if report.stopped_early:
                break
        log_event(
            event="clean",
            dry_run=dry_run,
            cutoff=cutoff,
            expired=seen["expired"],
            unfinished=seen["unfinished"],
            reclaimed=report.reclaimed,
            deleted=report.deleted,
            failed=report.failed,
            stopped_early=report.stopped_early,
            remaining=report.remaining,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **({} if dry_run else clean_metrics(self.clock(), report.deleted, report.failed)),
        )
        return report

    def _lapsed(self, now: str) -> Iterator[CopyRecord]:
        """Claimed records whose claim has lapsed (no run owns them any more)."""
        for record in self.table.disowned(status=CLEANING, page_size=self.page_size):
            if record.claimed_until is None or record.claimed_until < now:
                yield record

    def _stream(
        self, records: Iterable[CopyRecord], until: str, deadline: Deadline, report: CleanReport
    ) -> int:
        """Handle `records` chunk by chunk until the deadline; returns how many were handled."""
        handled = 0
        for chunk in chunks(records, self.chunk_size):
            if deadline.expired():
                report.stopped_early = True
                report.remaining += len(chunk)
                break
            handled += len(chunk)
            if report.dry_run:
                for record in chunk:
                    report.list_copy(record.copy_name)
            else:
                self._clean(chunk, until, report)
        return handled

    def _clean(self, chunk: list[CopyRecord], until: str, report: CleanReport) -> None:
        claim = self.table.claim_many(chunk, until)
        report.reclaimed += len(claim.reclaimed)
        for record, reason in claim.failed:
            report.fail(record.copy_name, reason)
        by_name = {r.copy_name: r for r in claim.claimed}
        deleted = delete_targets(
            self.s3, self.settings.backup_bucket, (Target(r.copy_name) for r in claim.claimed)
        )
        for target, reason in deleted.failed:
            report.fail(target.key, reason)
        # A record leaves the table only once its copy has left the bucket.
        gone = [by_name[t.key] for t in deleted.deleted]
        left = self.table.delete_records(gone)
        for record, reason in left:
            report.fail(record.copy_name, reason)
        not_deleted = {r.copy_name for r, _ in left}
        for record in gone:
            if record.copy_name not in not_deleted:
                report.deleted += 1
                report.list_copy(record.copy_name)
