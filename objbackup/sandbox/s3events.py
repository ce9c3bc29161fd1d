"""S3 -> EventBridge events as AWS sends them, for the sandbox's buckets.

moto 5.2 sends a constant `id` and `sequencer`, `reason` ObjectCreated/ObjectRemoved, no
`deletion-type`, the key raw instead of URL-encoded, a numeric `time`, `eTag` instead of `etag`,
and no event at all when a versioned bucket gets a delete marker or loses one of several versions.
This module builds the real shape; patches/s3_eventbridge.py routes moto's notifications through it.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from objbackup.core.events import Kind, ObjectEvent, encode_eventbridge

_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "PostObject",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
    "s3:LifecycleExpiration:Delete": "Lifecycle Expiration",
    "s3:LifecycleExpiration:DeleteMarkerCreated": "Lifecycle Expiration",
}

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def next_sequencer() -> str:
    """Strictly increasing across the sandbox, hence per key too: S3's ordering guarantee."""
    with _counter_lock:
        return f"{next(_counter):018X}"


def build_event(
    *,
    account: str,
    region: str,
    bucket: str,
    key: str,
    event_name: str,
    size: int | None = None,
    etag: str | None = None,
    version_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The EventBridge event S3 sends for `event_name` on `bucket/key`, or None if none is sent."""
    reason = _REASONS.get(event_name)
    if reason is None:
        return None
    created = event_name.startswith("s3:ObjectCreated:")
    deletion_type = None
    if not created:
        deletion_type = (
            "Delete Marker Created"
            if event_name.endswith("DeleteMarkerCreated")
            else "Permanently Deleted"
        )
    event = encode_eventbridge(
        ObjectEvent(
            kind=Kind.CREATED if created else Kind.DELETED,
            bucket=bucket,
            key=key,
            time=now or datetime.now(UTC),
            sequencer=next_sequencer(),
            event_id=str(uuid.uuid4()),
            reason=reason,
            etag=(etag or "").strip('"') if created else None,
            size=(size or 0) if created else None,
            version_id=version_id if version_id and version_id != "null" else None,
            deletion_type=deletion_type,
        )
    )
    # What S3 adds that the replicator does not read.
    event.update(account=account, region=region)
    event["detail"].update(
        {
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "source-ip-address": "127.0.0.1",
        }
    )
    return event
