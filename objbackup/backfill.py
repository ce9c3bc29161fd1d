"""Backfill: back up objects that existed before deployment, through the replicator's own queue.

Each object the key filter matches and that has no active copy of its current ETag is described by
a synthetic EventBridge "Object Created" event and sent to the replicator queue, so the deployed
replicator does the copying with all its guarantees (conditional copy, conditional record,
pruning). The event is a function of the object version alone:

* `time` is the object's LastModified (whole seconds, like S3's events);
* `sequencer` is empty, which pads to all zeros: it sorts below every real S3 sequencer, so within
  the same second a real event for a later write always outranks a backfilled copy;
* `id` is a hash of bucket, key, ETag and LastModified.

A redelivered or re-sent backfill message therefore lands on the same position and is a duplicate,
and a second backfill run finds the copy (same ETag) and sends nothing.

Objects S3 cannot copy as they are are skipped and counted as `unsupported`: an object ListObjectsV2
puts in GLACIER, DEEP_ARCHIVE or INTELLIGENT_TIERING is HEADed (if it has no copy) to see whether it
is archived and not restored. SSE-C shows only to a HEAD, which backfill does not spend on every
object: such an object is sent, and the replicator acknowledges it as `unsupported`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from objbackup.errors import ObjbackupError
from objbackup.filters import KeyFilter
from objbackup.parallel import DEFAULT_WORKERS, ordered_map
from objbackup.progress import Progress, no_progress
from objbackup.records import ACTIVE
from objbackup.table import CopyTable
from objbackup.unsupported import MAY_BE_ARCHIVED, check_source
from objbackup.wording import counted

BACKFILL_REASON = "Backfill"
_BACKED_UP, _UNSUPPORTED, _TO_SEND = "backed-up", "unsupported", "to-send"
SEND_BATCH_LIMIT = 10
_SEND_ROUNDS = 5


class SendFailed(ObjbackupError):
    """SQS refused some backfill messages even after retries."""

    hint = "run backfill again: objects already backed up are skipped"

    def __init__(self, failed: int, reason: str) -> None:
        super().__init__(
            f"{counted(failed, 'message')} could not be sent to the replicator queue: {reason}"
        )
        self.failed = failed


@dataclass(frozen=True)
class SourceObject:
    """One current object of the source bucket, as ListObjectsV2 describes it."""

    key: str
    etag: str
    size: int
    last_modified: datetime
    storage_class: str = "STANDARD"

    @classmethod
    def from_listing(cls, item: dict[str, Any]) -> SourceObject:
        modified: datetime = item["LastModified"]
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=UTC)
        return cls(
            key=str(item["Key"]),
            etag=str(item.get("ETag", "")).strip('"'),
            size=int(item.get("Size", 0)),
            last_modified=modified.astimezone(UTC).replace(microsecond=0),
            storage_class=str(item.get("StorageClass") or "STANDARD"),
        )


def list_objects(s3: Any, bucket: str, prefix: str = "") -> Iterator[SourceObject]:
    """Every current object of `bucket` under `prefix`, in key order (ListObjectsV2, all pages)."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield SourceObject.from_listing(item)


def created_event(bucket: str, obj: SourceObject, time: datetime | None = None) -> dict[str, Any]:
    """The EventBridge "Object Created" event for `obj`, deterministic per object version.

    `time` defaults to the object's LastModified; verify passes the current time to place a copy
    above every existing one (a stale newest copy).
    """
    when = (time or obj.last_modified).astimezone(UTC)
    identity = f"{bucket}\n{obj.key}\n{obj.etag}\n{when:%Y-%m-%dT%H:%M:%SZ}"
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return {
        "version": "0",
        "id": f"backfill-{digest}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": f"{when:%Y-%m-%dT%H:%M:%SZ}",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                # Keys travel URL-encoded with `+` for a space, as S3 sends them; the replicator
                # decodes them once with unquote_plus.
                "key": quote_plus(obj.key, safe="/"),
                "size": obj.size,
                "etag": obj.etag,
                # Empty pads to all zeros: below any real sequencer of the same second.
                "sequencer": "",
            },
            "reason": BACKFILL_REASON,
        },
    }


class QueueSender:
    """Sends events to the replicator queue ten per SendMessageBatch, retrying failed entries."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.sent = 0
        self._pending: list[str] = []

    def add(self, event: dict[str, Any]) -> None:
        self._pending.append(json.dumps(event, separators=(",", ":")))
        if len(self._pending) == SEND_BATCH_LIMIT:
            self.flush()

    def flush(self) -> None:
        """Send what is pending; SendFailed when SQS keeps refusing some of it."""
        bodies, self._pending = self._pending, []
        if bodies:
            self._send(bodies)

    def _send(self, bodies: Sequence[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
        reason = ""
        for _ in range(_SEND_ROUNDS):
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            self.sent += len(response.get("Successful", []))
            failed = response.get("Failed", [])
            if not failed:
                return
            # Sender faults (a malformed entry) never succeed on retry; give up on them at once.
            if any(f.get("SenderFault") for f in failed):
                reason = "; ".join(str(f.get("Message", f.get("Code"))) for f in failed)
                break
            retry = {str(f["Id"]) for f in failed}
            reason = "; ".join(str(f.get("Message", f.get("Code"))) for f in failed)
            entries = [e for e in entries if e["Id"] in retry]
        raise SendFailed(len(entries), reason)


def has_copy_of(table: CopyTable, obj: SourceObject) -> bool:
    """True when `obj`'s current content (its ETag) already has an active copy."""
    return any(r.status == ACTIVE and r.etag == obj.etag for r in table.copies(obj.key))


@dataclass
class BackfillReport:
    """What a backfill listed, skipped (already backed up), found unsupported (S3 cannot copy
    it as it is) and sent (or would send)."""

    prefix: str
    dry_run: bool
    listed: int = 0
    excluded: int = 0
    skipped: int = 0
    unsupported: int = 0
    sent: int = 0
    objects: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "listed": self.listed,
            "sent": self.sent,
            "skipped": self.skipped,
            "unsupported": self.unsupported,
            "excluded": self.excluded,
            "dry_run": self.dry_run,
            "objects": self.objects,
        }


class Backfill:
    """Sends an Object Created event for every matched object that has no copy of its content."""

    def __init__(
        self,
        s3: Any,
        sqs: Any,
        table: CopyTable,
        source_bucket: str,
        queue_url: str,
        key_filter: KeyFilter | None = None,
        progress: Progress = no_progress,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.s3 = s3
        self.workers = workers
        self.table = table
        self.source_bucket = source_bucket
        self.sender = QueueSender(sqs, queue_url)
        self.key_filter = key_filter or KeyFilter()
        self.progress = progress

    def run(self, prefix: str = "", dry_run: bool = False) -> BackfillReport:
        """List `prefix`, skip what is backed up, send (or, dry, only name) the rest."""
        report = BackfillReport(prefix=prefix, dry_run=dry_run)
        seen = 0

        def matched(obj: SourceObject) -> bool:
            nonlocal seen
            seen += 1
            if self.key_filter.matches(obj.key):
                return True
            report.excluded += 1
            return False

        objects = filter(matched, list_objects(self.s3, self.source_bucket, prefix))
        for obj, state in ordered_map(self._state, objects, self.workers):
            report.listed += 1
            if state == _BACKED_UP:
                report.skipped += 1
            elif state == _UNSUPPORTED:
                report.unsupported += 1
            else:
                report.objects.append(obj.key)
                if not dry_run:
                    self.sender.add(created_event(self.source_bucket, obj))
            self.progress("backfill", report.listed + report.excluded, seen)
        self.sender.flush()
        report.sent = self.sender.sent
        return report

    def _state(self, obj: SourceObject) -> str:
        if has_copy_of(self.table, obj):
            return _BACKED_UP
        if obj.storage_class in MAY_BE_ARCHIVED and check_source(
            self.s3, self.source_bucket, obj.key
        ):
            return _UNSUPPORTED
        return _TO_SEND
