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

Objects S3 cannot copy as they are are skipped and counted as `unsupported`: each object with no
copy of its content is HEADed before it is sent, since SSE-C shows only to a HEAD (it answers 400
without the customer's key) and an Intelligent-Tiering archive tier only in its ArchiveStatus. A
HEAD ($0.0004 per 1,000) is a tenth of the CopyObject the send leads to ($0.005 per 1,000).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.events import Kind, ObjectEvent, encode_eventbridge
from objbackup.core.filters import KeyFilter
from objbackup.core.records import ACTIVE
from objbackup.core.table import CopyTable
from objbackup.core.unsupported import check_source
from objbackup.parallel import DEFAULT_WORKERS, ordered_map
from objbackup.progress import Progress, no_progress

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

BACKFILL_REASON = "Backfill"
_BACKED_UP, _UNSUPPORTED, _TO_SEND = "backed-up", "unsupported", "to-send"
SEND_BATCH_LIMIT = 10
_SEND_ROUNDS = 5


@dataclass(frozen=True)
class SourceObject:
    """One current object of the source bucket, as ListObjectsV2 describes it."""

    key: str
    etag: str
    size: int
    last_modified: datetime
    storage_class: str = "STANDARD"

    @classmethod
    def from_listing(cls, item: Mapping[str, Any]) -> SourceObject:
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


def list_objects(s3: S3Client, bucket: str, prefix: str = "") -> Iterator[SourceObject]:
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
    when = (time or obj.last_modified).astimezone(UTC).replace(microsecond=0)
    identity = f"{bucket}\n{obj.key}\n{obj.etag}\n{when:%Y-%m-%dT%H:%M:%SZ}"
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    event = ObjectEvent(
        kind=Kind.CREATED,
        bucket=bucket,
        key=obj.key,
        time=when,
        # Empty pads to all zeros: below any real sequencer of the same second.
        sequencer="",
        event_id=f"backfill-{digest}",
        reason=BACKFILL_REASON,
        etag=obj.etag,
        size=obj.size,
    )
    return encode_eventbridge(event)


class QueueSender:
    """Sends events to the replicator queue ten per SendMessageBatch, retrying failed entries.

    One event SQS will not take never stops the others: SendMessageBatch answers per entry
    (`Successful` and `Failed`, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html),
    entries failed by SQS's side are retried, and a batch refused as a whole is sent again one
    entry per call so that each object gets its own answer. What still fails is in `failed`
    as (object key, reason); a later run sends only what is still missing.
    """

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.sent = 0
        self.failed: list[tuple[str, str]] = []
        self._pending: list[tuple[str, str]] = []  # (object key, message body)

    def add(self, event: dict[str, Any]) -> None:
        key = unquote_plus(str(event["detail"]["object"]["key"]))
        self._pending.append((key, json.dumps(event, separators=(",", ":"))))
        if len(self._pending) == SEND_BATCH_LIMIT:
            self.flush()

    def flush(self) -> None:
        """Send what is pending; what SQS keeps refusing goes to `failed`."""
        pending, self._pending = self._pending, []
        if pending:
            self._send(pending)

    def _send(self, pending: Sequence[tuple[str, str]]) -> None:
        waiting = {str(i): item for i, item in enumerate(pending)}
        reasons: dict[str, str] = {}
        for _ in range(_SEND_ROUNDS):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": i, "MessageBody": body} for i, (_, body) in waiting.items()
            ]
            try:
                response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except ClientError as exc:
                if len(waiting) > 1:  # refused as a whole: let each entry answer for itself
                    for item in waiting.values():
                        self._send([item])
                    return
                reasons = {i: error_code(exc) for i in waiting}
                break
            self.sent += len(response.get("Successful", []))
            failed = response.get("Failed", [])
            reasons = {
                str(f["Id"]): f"{f.get('Code')}: {f.get('Message', '')}".strip(": ") for f in failed
            }
            waiting = {i: waiting[i] for i in reasons if i in waiting}
            # Sender faults (a malformed entry) never succeed on retry; give up on them at once.
            if not waiting or any(f.get("SenderFault") for f in failed):
                break
        self.failed += [(waiting[i][0], reasons.get(i, "not sent")) for i in waiting]


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
    failed: list[tuple[str, str]] = field(default_factory=list)  # (object key, reason)

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
            "failed": [{"object": key, "reason": reason} for key, reason in self.failed],
        }


class Backfill:
    """Sends an Object Created event for every matched object that has no copy of its content."""

    def __init__(
        self,
        s3: S3Client,
        sqs: SQSClient,
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
        report.failed = list(self.sender.failed)
        return report

    def _state(self, obj: SourceObject) -> str:
        if has_copy_of(self.table, obj):
            return _BACKED_UP
        if check_source(self.s3, self.source_bucket, obj.key):
            return _UNSUPPORTED
        return _TO_SEND
