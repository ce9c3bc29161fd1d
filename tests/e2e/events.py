"""S3 events shaped as AWS sends them through EventBridge, for tests that put them on the queue."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from objbackup.core.events import Kind, ObjectEvent, encode_eventbridge


def object_created(
    bucket: str,
    key: str,
    etag: str = "0" * 32,
    size: int = 5,
    sequencer: str = "FFFFFFFFFFFFFFFFFF",
) -> dict[str, Any]:
    """An EventBridge `Object Created` event, its key URL-encoded as AWS encodes it."""
    event = ObjectEvent(
        kind=Kind.CREATED,
        bucket=bucket,
        key=key,
        time=datetime.now(UTC).replace(microsecond=0),
        sequencer=sequencer,
        event_id=str(uuid.uuid4()),
        reason="PutObject",
        etag=etag,
        size=size,
    )
    return encode_eventbridge(event) | {"account": "123456789012", "region": "us-east-1"}
