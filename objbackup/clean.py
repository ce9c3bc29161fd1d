"""The cleaner: delete copies disowned for longer than the grace period, at the batch APIs' limits.

Expired records are found with a Query on `DisownedIndex` (paged to the end) and claimed: each is
moved from `disowned` to `cleaning`, conditionally on being still disowned since the time read, 100
per TransactWriteItems call. A record that `undelete` took back in the meantime fails its condition
and is left alone, so the cleaner never deletes an active copy. Claimed copies leave the backup
bucket 1000 keys per DeleteObjects call, and only then do their records leave the table 25 per
BatchWriteItem call. A record whose copy could not be deleted stays claimed, and every run also
finishes the records an earlier, interrupted run had claimed (the index's `cleaning` partition).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from objbackup.chunks import chunks
from objbackup.config import Settings
from objbackup.logs import log_event
from objbackup.metrics import clean_metrics
from objbackup.naming import iso_now
from objbackup.records import CLEANING, CopyRecord
from objbackup.replicate import Clock, utc_now
from objbackup.table import CopyTable

DELETE_OBJECTS_LIMIT = 1000


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

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "failed": self.failed,
            "copies": self.copies,
            "cutoff": self.cutoff,
            "errors": self.errors,
            "reclaimed": self.reclaimed,
        }


class Cleaner:
    """Deletes expired disowned copies and their records."""

    def __init__(
        self, settings: Settings, s3: Any, table: CopyTable, clock: Clock = utc_now
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.table = table
        self.clock = clock

    def run(self, grace_seconds: float | None = None, dry_run: bool = False) -> CleanReport:
        """Clean copies disowned more than `grace_seconds` (default: the setting) ago."""
        started = time.perf_counter()
        grace = self.settings.grace_seconds if grace_seconds is None else grace_seconds
        cutoff = iso_now(self.clock() - timedelta(seconds=grace))
        expired = list(self.table.disowned(before=cutoff))
        # Claimed by an earlier run that stopped before finishing them: no undelete can take them.
        unfinished = list(self.table.disowned(status=CLEANING))
        report = CleanReport(dry_run=dry_run, cutoff=cutoff)
        if dry_run:
            report.copies = [r.copy_name for r in unfinished + expired]
        else:
            claimed = self.table.claim(expired)
            report.reclaimed = len(expired) - len(claimed)
            self._delete(unfinished + claimed, report)
        log_event(
            event="clean",
            dry_run=dry_run,
            cutoff=cutoff,
            expired=len(expired),
            unfinished=len(unfinished),
            reclaimed=report.reclaimed,
            deleted=report.deleted,
            failed=report.failed,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **({} if dry_run else clean_metrics(self.clock(), report.deleted, report.failed)),
        )
        return report

    def _delete(self, expired: list[CopyRecord], report: CleanReport) -> None:
        gone: list[CopyRecord] = []
        for chunk in chunks(expired, DELETE_OBJECTS_LIMIT):
            response = self.s3.delete_objects(
                Bucket=self.settings.backup_bucket,
                Delete={"Objects": [{"Key": r.copy_name} for r in chunk], "Quiet": True},
            )
            errors = {e["Key"]: e for e in response.get("Errors", [])}
            for record in chunk:
                error = errors.get(record.copy_name)
                if error is None:
                    gone.append(record)
                else:
                    report.errors.append(f"{record.copy_name}: {error.get('Code')}")
        # A record leaves the table only once its copy has left the bucket.
        left = self.table.delete_many(gone)
        left_names = {r.copy_name for r in left}
        report.errors += [f"{name}: record not deleted" for name in sorted(left_names)]
        report.copies = [r.copy_name for r in gone if r.copy_name not in left_names]
        report.deleted = len(report.copies)
        report.failed = len(expired) - report.deleted
