"""S3 events shaped as AWS sends them through EventBridge, for tests that put them on the queue."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus


def object_created(
    bucket: str,
    key: str,
    etag: str = "0" * 32,
    size: int = 5,
    sequencer: str = "FFFFFFFFFFFFFFFFFF",
) -> dict[str, Any]:
    """An EventBridge `Object Created` event, its key URL-encoded as AWS encodes it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": size,
                "etag": etag,
                "sequencer": sequencer,
            },
            "reason": "PutObject",
        },
    }
