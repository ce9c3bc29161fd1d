"""Replicate on Object Created, disown on Object Deleted: exact under at-least-once delivery.

Each event is placed in its key's history by its `position` (time + sequencer) and handled against
the key's records and, where it matters, the source's current state:

* A create whose position already has a record is a duplicate: only pruning is (re)done.
* A create older than the newest `retain` active copies is stale: it would be pruned at once.
* Otherwise the copy is made with `CopySourceIfMatch` on the event's ETag, so only the version the
  event describes is ever copied; if the source moved on, the newer event will do the work.
* The record is written conditionally (never over an existing one) after its copy exists, and a
  pruned copy leaves the bucket before its record leaves the table. Copy names and timestamps are
  functions of the event, so a crash at any step is repaired by redelivery.
* A source S3 cannot copy as it is (archived, or SSE-C) is acknowledged as `unsupported`, with
  the reason logged: no retry would ever copy it (objbackup.core.unsupported).
* A delete disowns the key's older active copies only if the source object is really gone (on a
  versioned bucket, deleting an old version emits the same event while the object lives on).
* A delete that finds the object present may have brought an older version back (a delete marker
  removed, the current version deleted): the copies its hiding disowned are reactivated, newest
  first up to `retain`, as undelete does, and the version now current is backed up if the newest
  active copy does not hold it. A versioned delete that disowned looks once more, in case the
  object came back while it ran.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from objbackup.core.aws import head_or_none
from objbackup.core.config import Settings
from objbackup.core.continuation import Continuation
from objbackup.core.copier import Copier, SourceChanged
from objbackup.core.deadline import Deadline, OutOfTime
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.logs import log_event
from objbackup.core.metrics import object_metrics
from objbackup.core.multipart import CopyStopped
from objbackup.core.naming import copy_name, iso_now
from objbackup.core.records import ACTIVE, CopyRecord
from objbackup.core.resurface import came_back
from objbackup.core.table import CopyTable
from objbackup.core.unsupported import UnsupportedObject, refusal

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What handling one event did; logged as one JSON line."""

    action: str  # replicate | disown
    outcome: str
    key: str
    copy_name: str | None = None
    pruned: int = 0
    disowned: int = 0
    reason: str | None = None  # why, for an `unsupported` outcome
    reactivated: int = 0
    parts_done: int | None = None  # of a `continued` copy: parts copied so far, of parts_total
    parts_total: int | None = None
    size: int = 0  # bytes copied, for a copy made now


class Replicator:
    """Applies source events to the backup bucket and the table."""

    def __init__(
        self,
        settings: Settings,
        s3: S3Client,
        table: CopyTable,
        clock: Clock = utc_now,
        continuation: Continuation | None = None,
    ) -> None:
        self.settings = settings
        self.continuation = continuation
        self.s3 = s3
        self.table = table
        self.copier = Copier(
            s3,
            settings.backup_bucket,
            settings.multipart_threshold,
            settings.backup_kms_key,
            part_bytes=settings.part_bytes,
            resumable=True,
            storage_class=settings.storage_class,
        )
        self.clock = clock

    def handle(self, event: ObjectEvent, deadline: Deadline | None = None) -> Outcome:
        """Handle one event and log one line about it; errors propagate to the caller.

        A multipart copy that `deadline` stops raises OutOfTime and resumes on redelivery; with
        a `continuation`, one that made progress is re-sent as a new message instead and ends
        `continued` (objbackup.core.continuation).
        """
        started = time.perf_counter()
        outcome: Outcome | None = None
        failure = "error"
        try:
            outcome = (
                self.replicate(event, deadline=deadline)
                if event.kind is Kind.CREATED
                else self.disown(event, deadline)
            )
            return outcome
        except CopyStopped as exc:
            outcome = self._continue(event, exc)
            if outcome is None:
                failure = "deferred"
                raise
            return outcome
        except OutOfTime:
            failure = "deferred"
            raise
        finally:
            extra: dict[str, Any] = {"reason": outcome.reason} if outcome and outcome.reason else {}
            if outcome and outcome.parts_total is not None:
                extra = {"parts_done": outcome.parts_done, "parts_total": outcome.parts_total}
            metrics = object_metrics(
                outcome.outcome if outcome else failure,
                self.clock(),
                event.time,
                outcome.size if outcome else 0,
                outcome.pruned if outcome else 0,
                outcome.disowned if outcome else 0,
            )
            log_event(
                logging.WARNING if "reason" in extra else logging.INFO,
                event="object",
                key=event.key,
                action=outcome.action if outcome else _action(event),
                outcome=outcome.outcome if outcome else failure,
                copy_name=outcome.copy_name if outcome else None,
                pruned=outcome.pruned if outcome else 0,
                disowned=outcome.disowned if outcome else 0,
                reactivated=outcome.reactivated if outcome else 0,
                event_id=event.event_id,
                message_id=event.message_id,
                position=event.position,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **extra,
                **metrics,
            )

    def _continue(self, event: ObjectEvent, stopped: CopyStopped) -> Outcome | None:
        """Re-send `event` if its copy advanced; None leaves it to redelivery (and the DLQ).

        Only an Object Created event resumes its upload: a resurfaced version's copy (a delete
        event) starts over on every delivery, so re-sending it would only repeat the work.
        """
        if self.continuation is None or event.kind is not Kind.CREATED or not stopped.parts_new:
            return None
        try:
            self.continuation.send(event)
        except (ClientError, BotoCoreError) as exc:
            log_event(
                logging.WARNING,
                event="continuation-failed",
                key=event.key,
                message_id=event.message_id,
                error=type(exc).__name__,
                reason=str(exc),
            )
            return None
        return Outcome(
            "replicate",
            "continued",
            event.key,
            copy_name(event.key, event.position),
            parts_done=stopped.parts_done,
            parts_total=stopped.parts_total,
        )

    def replicate(
        self,
        event: ObjectEvent,
        records: list[CopyRecord] | None = None,
        deadline: Deadline | None = None,
        resume: bool = True,
    ) -> Outcome:
        """Back up the version `event` describes, then keep the newest `retain` active copies.

        `resume` False: the event's ETag was read now, not sent by S3, so an earlier attempt's
        multipart upload may hold parts of another version and is not continued.
        """
        position = event.position
        name = copy_name(event.key, position)
        if records is None:
            records = self.table.copies(event.key)
        if any(r.copy_timestamp == position for r in records):
            pruned = self._prune(records)
            return Outcome("replicate", "duplicate", event.key, name, pruned=pruned)
        if self._too_old(position, records):
            # The copy would be pruned at once. An earlier attempt may have crashed between copy
            # and record, though, or stopped mid-copy: remove what it may have left.
            self.s3.delete_object(Bucket=self.settings.backup_bucket, Key=name)
            self.copier.abandon(name, event.size)
            return Outcome("replicate", "stale", event.key, name)
        try:
            self.copier.copy(
                event.bucket,
                event.key,
                name,
                event.etag,
                event.size,
                deadline=deadline,
                resume=resume,
            )
        except SourceChanged as exc:
            self.s3.delete_object(Bucket=self.settings.backup_bucket, Key=name)
            return Outcome(
                "replicate", "source-gone" if exc.gone else "superseded", event.key, name
            )
        except UnsupportedObject as exc:
            # Acknowledged, not failed: redelivery and the DLQ would only repeat S3's refusal. As
            # for a changed source, remove what an earlier attempt may have left without a record.
            self.s3.delete_object(Bucket=self.settings.backup_bucket, Key=name)
            return Outcome("replicate", "unsupported", event.key, name, reason=exc.reason)
        record = CopyRecord(
            source_object=event.key,
            copy_timestamp=position,
            copy_name=name,
            status=ACTIVE,
            size=event.size,
            etag=event.etag,
            version_id=event.version_id,
            created_at=iso_now(self.clock()),
        )
        written = self.table.put_new(record)
        pruned = self._prune([record, *records])
        if not written:
            return Outcome("replicate", "duplicate", event.key, name, pruned)
        return Outcome("replicate", "copied", event.key, name, pruned, size=event.size or 0)

    def disown(self, event: ObjectEvent, deadline: Deadline | None = None) -> Outcome:
        """Disown the key's active copies older than `event`, if the source object is gone."""
        head = self._head_source(event)
        records = self.table.copies(event.key)
        if head is not None:
            return self._still_exists(event, head, records, deadline)
        at = iso_now(self.clock())
        disowned = sum(
            self.table.disown(r, at)
            for r in records
            if r.status == ACTIVE and r.copy_timestamp < event.position
        )
        if disowned and event.version_id:
            # A versioned object may have come back meanwhile (its delete marker removed). If the
            # event that brought it back read the copies before they were disowned here, it took
            # none back: look again now that they are. One of the two always sees the other.
            # (A key written anew instead has its own event coming: came_back finds nothing.)
            head = self._head_source(event)
            records = [] if head is None else self.table.copies(event.key)
            if head is not None and came_back(records, head.get("VersionId"), _etag(head)):
                outcome = self._still_exists(event, head, records, deadline)
                return replace(outcome, disowned=disowned)
        return Outcome("disown", "disowned", event.key, disowned=disowned)

    def _still_exists(
        self,
        event: ObjectEvent,
        head: Mapping[str, Any],
        records: list[CopyRecord],
        deadline: Deadline | None,
    ) -> Outcome:
        current = _etag(head)
        version = head.get("VersionId")
        # Versioned source: a delete marker removed or the current version deleted made an older
        # version current again, and no Object Created event will announce it. The copies its
        # hiding disowned come back first (the conditional reclaim undelete uses: never one the
        # cleaner has claimed), newest first up to retain; whatever the order of the events, the
        # key ends as if it had never been hidden.
        room = self.settings.retain - sum(r.status == ACTIVE for r in records)
        back = self.table.reactivate_newest(came_back(records, version, current), room)
        names = {r.copy_name for r in back}
        records = [
            replace(r, status=ACTIVE, disowned_at=None) if r.copy_name in names else r
            for r in records
        ]
        active = [r for r in records if r.status == ACTIVE]
        if event.version_id and (not active or active[0].etag != current):
            # Back up what is there now: its own copy, if any, is not the newest active one.
            resurfaced = replace(
                event,
                kind=Kind.CREATED,
                etag=current,
                size=int(head.get("ContentLength", 0)),
                version_id=version,
            )
            outcome = self.replicate(resurfaced, records, deadline, resume=False)
            return replace(
                outcome,
                action="disown",
                outcome=f"resurfaced-{outcome.outcome}",
                reactivated=len(back),
            )
        if back:
            return Outcome("disown", "resurfaced-reactivated", event.key, reactivated=len(back))
        return Outcome("disown", "still-exists", event.key)

    def _head_source(self, event: ObjectEvent) -> Mapping[str, Any] | None:
        try:
            return head_or_none(self.s3, event.bucket, event.key)
        except ClientError as exc:
            if refusal(exc) is not None:
                return {}  # there, but SSE-C: S3 describes it only to a holder of its key
            raise

    def _too_old(self, position: str, records: list[CopyRecord]) -> bool:
        """True when `retain` active copies are all newer than `position`."""
        active = sorted((r.copy_timestamp for r in records if r.status == ACTIVE), reverse=True)
        return len(active) >= self.settings.retain and position < active[self.settings.retain - 1]

    def prune(self, records: list[CopyRecord]) -> int:
        """Keep the newest `retain` active copies of one key's `records` (verify --repair)."""
        return self._prune(records)

    def _prune(self, records: list[CopyRecord]) -> int:
        """Delete active copies beyond the newest `retain`: the object first, then its record."""
        active = sorted(
            (r for r in records if r.status == ACTIVE),
            key=lambda r: r.copy_timestamp,
            reverse=True,
        )
        extra = active[self.settings.retain :]
        for record in extra:
            self.s3.delete_object(Bucket=self.settings.backup_bucket, Key=record.copy_name)
            self.table.delete(record)
        return len(extra)


def _action(event: ObjectEvent) -> str:
    return "replicate" if event.kind is Kind.CREATED else "disown"


def _etag(head: Mapping[str, Any]) -> str:
    return str(head.get("ETag", "")).strip('"')
