"""S3 -> EventBridge events as AWS sends them, for the sandbox's buckets.

moto 5.2 sends a constant `id` and `sequencer`, `reason` ObjectCreated/ObjectRemoved, no
`deletion-type`, the key raw instead of URL-encoded, a numeric `time`, `eTag` instead of `etag`,
and no event at all when a versioned bucket gets a delete marker or loses one of several versions.
This module builds the real shape; gaps.py routes moto's notifications through it.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

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
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
    if created:
        obj["size"] = size or 0
        obj["etag"] = (etag or "").strip('"')
    if version_id and version_id != "null":
        obj["version-id"] = version_id
    obj["sequencer"] = next_sequencer()
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account,
        "source-ip-address": "127.0.0.1",
        "reason": reason,
    }
    if not created:
        detail["deletion-type"] = (
            "Delete Marker Created"
            if event_name.endswith("DeleteMarkerCreated")
            else "Permanently Deleted"
        )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created" if created else "Object Deleted",
        "source": "aws.s3",
        "account": account,
        "time": f"{(now or datetime.now(UTC)):%Y-%m-%dT%H:%M:%SZ}",
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": detail,
    }
