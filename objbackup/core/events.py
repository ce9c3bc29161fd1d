"""Decoding S3 events (EventBridge, SQS-wrapped, classic notifications) into one typed event, and
encoding one back into each format (the exact inverse).

Keys arrive URL-encoded with `+` for a space; they are decoded exactly once, here, at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from objbackup.core.errors import ForeignBucket, MalformedEvent
from objbackup.core.naming import MAX_KEY_BYTES, copy_timestamp


class Kind(StrEnum):
    CREATED = "created"
    DELETED = "deleted"


_DETAIL_TYPES = {"Object Created": Kind.CREATED, "Object Deleted": Kind.DELETED}
_CLASSIC_PREFIXES = {
    "ObjectCreated:": Kind.CREATED,
    "ObjectRemoved:": Kind.DELETED,
    "LifecycleExpiration:": Kind.DELETED,
}


@dataclass(frozen=True)
class ObjectEvent:
    """One write or delete of one key in the source bucket."""

    kind: Kind
    bucket: str
    key: str
    time: datetime
    sequencer: str
    event_id: str
    reason: str = ""
    etag: str | None = None
    size: int | None = None
    version_id: str | None = None
    deletion_type: str | None = None
    message_id: str | None = None

    @property
    def position(self) -> str:
        """Where this event stands in its key's history; also the `copy_timestamp` it creates."""
        return copy_timestamp(self.time, self.sequencer)


def encode_key(key: str) -> str:
    """A key as AWS documents it in classic S3 notifications: URL-encoded, `+` for a space ("The
    object key name value is URL encoded", "Event message structure",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).

    The encoders write it so; the decoders read it and the other encodings
    objbackup.core.filters lists.
    """
    return quote_plus(key, safe="/")


def decode_invocation(payload: Any, source_bucket: str | None = None) -> list[ObjectEvent]:
    """Decode a bare EventBridge event or a classic `Records[]` notification (a direct invoke)."""
    if not isinstance(payload, Mapping):
        raise MalformedEvent(f"expected a JSON object, got {type(payload).__name__}")
    if "detail-type" in payload:
        return [decode_eventbridge(payload, source_bucket)]
    if "Records" in payload:
        return decode_classic(payload, source_bucket)
    if payload.get("Event") == "s3:TestEvent":
        return []
    raise MalformedEvent("neither an EventBridge S3 event nor an S3 notification")


def decode_sqs_body(
    body: Any, message_id: str, source_bucket: str | None = None
) -> list[ObjectEvent]:
    """Decode the body of one SQS message; every error carries the message id."""
    if not isinstance(body, str):
        raise MalformedEvent("message body is not a string", message_id)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise MalformedEvent(f"body is not JSON: {exc}", message_id) from None
    try:
        events = decode_invocation(payload, source_bucket)
    except MalformedEvent as exc:
        if isinstance(exc, ForeignBucket):
            raise ForeignBucket(exc.bucket, source_bucket or "", message_id) from None
        raise MalformedEvent(exc.reason, message_id) from None
    return [_with_message_id(e, message_id) for e in events]


def decode_eventbridge(event: Mapping[str, Any], source_bucket: str | None = None) -> ObjectEvent:
    """Decode an EventBridge `aws.s3` Object Created / Object Deleted event."""
    if event.get("source") != "aws.s3":
        raise MalformedEvent(f"source is {event.get('source')!r}, not 'aws.s3'")
    kind = _DETAIL_TYPES.get(str(event.get("detail-type")))
    if kind is None:
        raise MalformedEvent(f"unsupported detail-type {event.get('detail-type')!r}")
    detail = _mapping(event, "detail")
    obj = _mapping(detail, "object")
    return _build(
        kind=kind,
        bucket=_string(_mapping(detail, "bucket"), "name"),
        raw_key=_string(obj, "key"),
        time=_time(event.get("time")),
        sequencer=_optional_string(obj, "sequencer") or "",
        event_id=_string(event, "id"),
        reason=_optional_string(detail, "reason") or "",
        etag=_optional_string(obj, "etag"),
        size=_optional_size(obj, "size"),
        version_id=_optional_string(obj, "version-id"),
        deletion_type=_optional_string(detail, "deletion-type"),
        source_bucket=source_bucket,
    )


def encode_eventbridge(event: ObjectEvent) -> dict[str, Any]:
    """`event` as an EventBridge S3 event: `decode_eventbridge` gives back the same event.

    The replicator re-sends an event whose copy is still in progress
    (objbackup.core.continuation), so time, sequencer, key, ETag, size and version id, hence the
    copy name, must survive exactly.
    An event without an id (a classic notification lacking its request id) gets its position.
    The one encoder of the project: backfill, verify, the sandbox and the tests build with it
    (tests/unit/test_event_roundtrip.py proves the round trip through every envelope).
    """
    detail_type = next(name for name, kind in _DETAIL_TYPES.items() if kind is event.kind)
    obj = _encode_object(event, etag="etag", version_id="version-id")
    detail: dict[str, Any] = {"version": "0", "bucket": {"name": event.bucket}, "object": obj}
    if event.reason:
        detail["reason"] = event.reason
    if event.deletion_type is not None:
        detail["deletion-type"] = event.deletion_type
    return {
        "version": "0",
        "id": event.event_id or event.position,
        "detail-type": detail_type,
        "source": "aws.s3",
        "time": event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [f"arn:aws:s3:::{event.bucket}"],
        "detail": detail,
    }


def decode_classic(
    payload: Mapping[str, Any], source_bucket: str | None = None
) -> list[ObjectEvent]:
    """Decode a classic S3 notification (`Records[]`), as S3 sends to SQS, SNS or Lambda."""
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        raise MalformedEvent("Records is not a non-empty list")
    return [_decode_classic_record(r, source_bucket) for r in records]


def encode_classic(events: Sequence[ObjectEvent]) -> dict[str, Any]:
    """`events` as one classic S3 notification: `decode_classic` gives back the same events.

    The classic format names the operation in `eventName` ("ObjectCreated:Put"), which the
    decoder keeps as the reason and reads the delete-marker deletion type from; an event whose
    reason is no such name, or whose deletion type says otherwise, has no classic form.
    """
    return {"Records": [_encode_classic_record(event) for event in events]}


def _encode_classic_record(event: ObjectEvent) -> dict[str, Any]:
    kind = next((k for p, k in _CLASSIC_PREFIXES.items() if event.reason.startswith(p)), None)
    marker = "Delete Marker Created" if event.reason.endswith("DeleteMarkerCreated") else None
    if kind is not event.kind or event.deletion_type != marker:
        raise ValueError(f"no classic notification carries {event!r}")
    obj = _encode_object(event, etag="eTag", version_id="versionId")
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventName": event.reason,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": event.bucket, "arn": f"arn:aws:s3:::{event.bucket}"},
            "object": obj,
        },
    }
    if event.event_id:
        record["responseElements"] = {"x-amz-request-id": event.event_id}
    return record


def _encode_object(event: ObjectEvent, *, etag: str, version_id: str) -> dict[str, Any]:
    """The event's object, under the format's names for the ETag and version id."""
    obj: dict[str, Any] = {"key": encode_key(event.key)}
    for name, value in (
        ("size", event.size),
        (etag, event.etag),
        (version_id, event.version_id),
        ("sequencer", event.sequencer or None),
    ):
        if value is not None:
            obj[name] = value
    return obj


def _decode_classic_record(record: Any, source_bucket: str | None) -> ObjectEvent:
    if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3":
        raise MalformedEvent("a record is not an aws:s3 notification record")
    name = _string(record, "eventName")
    kind = next((k for prefix, k in _CLASSIC_PREFIXES.items() if name.startswith(prefix)), None)
    if kind is None:
        raise MalformedEvent(f"unsupported eventName {name!r}")
    s3 = _mapping(record, "s3")
    obj = _mapping(s3, "object")
    return _build(
        kind=kind,
        bucket=_string(_mapping(s3, "bucket"), "name"),
        raw_key=_string(obj, "key"),
        time=_time(record.get("eventTime")),
        sequencer=_optional_string(obj, "sequencer") or "",
        event_id=str(record.get("responseElements", {}).get("x-amz-request-id", ""))
        if isinstance(record.get("responseElements"), Mapping)
        else "",
        reason=name,
        etag=_optional_string(obj, "eTag"),
        size=_optional_size(obj, "size"),
        version_id=_optional_string(obj, "versionId"),
        deletion_type="Delete Marker Created" if name.endswith("DeleteMarkerCreated") else None,
        source_bucket=source_bucket,
    )


def _build(*, raw_key: str, source_bucket: str | None, **fields: Any) -> ObjectEvent:
    key = unquote_plus(raw_key)
    if not key:
        raise MalformedEvent("object key is empty")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise MalformedEvent(f"object key is longer than {MAX_KEY_BYTES} bytes")
    if source_bucket is not None and fields["bucket"] != source_bucket:
        raise ForeignBucket(fields["bucket"], source_bucket)
    if fields["kind"] is Kind.CREATED and fields["size"] is None:
        raise MalformedEvent("Object Created event has no object size")
    return ObjectEvent(key=key, **fields)


def _with_message_id(event: ObjectEvent, message_id: str) -> ObjectEvent:
    return replace(event, message_id=message_id)


def _mapping(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{name} is missing or not an object")
    return value


def _string(parent: Mapping[str, Any], name: str) -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{name} is missing or not a string")
    return value


def _optional_string(parent: Mapping[str, Any], name: str) -> str | None:
    value = parent.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{name} is not a string")
    return value.strip('"')


def _optional_size(parent: Mapping[str, Any], name: str) -> int | None:
    value = parent.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEvent(f"{name} is not a non-negative integer")
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedEvent("event time is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"event time {value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # S3's EventBridge events carry whole seconds; classic ones milliseconds. Keep seconds so that
    # both encodings of one write map onto the same copy_timestamp; the sequencer orders within.
    return parsed.astimezone(UTC).replace(microsecond=0)
