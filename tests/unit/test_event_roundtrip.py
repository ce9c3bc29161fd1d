"""The encoders of objbackup.core.events are the exact inverse of its decoders, through every
envelope the replicator reads: a bare EventBridge event (a direct invoke), one in an SQS message
body, and a classic S3 notification, bare or in an SQS message body."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objbackup.core.events import (
    Kind,
    ObjectEvent,
    decode_classic,
    decode_eventbridge,
    decode_invocation,
    decode_sqs_body,
    encode_classic,
    encode_eventbridge,
)
from objbackup.core.naming import MAX_KEY_BYTES

_text = st.text(st.characters(blacklist_characters='"'), min_size=1, max_size=40)
# Any text, with a bias to what URL encoding treats specially (space, "+", "%", "/") and to
# characters of several UTF-8 lengths.
_key_chars = st.one_of(
    st.sampled_from(" +%/~*?&=#\t\x00é漢🙂"), st.characters(blacklist_categories=["Cs"])
)
_keys = st.text(_key_chars, min_size=1, max_size=300).filter(
    lambda k: len(k.encode()) <= MAX_KEY_BYTES
)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))  # S3's events carry whole seconds (events._time)
_sequencers = st.one_of(st.just(""), st.from_regex(r"[0-9A-F]{16,20}", fullmatch=True))
_etags = st.one_of(st.none(), st.from_regex(r"[0-9a-f]{32}(-[0-9]{1,5})?", fullmatch=True))
_sizes = st.integers(0, 5 * 1024**4)
_buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)


@st.composite
def events(draw: st.DrawFn) -> ObjectEvent:
    """Any event an EventBridge S3 event carries."""
    kind = draw(st.sampled_from(Kind))
    created = kind is Kind.CREATED
    return ObjectEvent(
        kind=kind,
        bucket=draw(_buckets),
        key=draw(_keys),
        time=draw(_times),
        sequencer=draw(_sequencers),
        event_id=draw(_text),
        reason=draw(st.one_of(st.just(""), _text)),
        etag=draw(_etags),
        size=draw(_sizes) if created else draw(st.none() | _sizes),
        version_id=draw(st.one_of(st.none(), _text)),
        deletion_type=None if created else draw(st.one_of(st.none(), _text)),
    )


_CLASSIC_NAMES = {
    Kind.CREATED: [
        "ObjectCreated:Put",
        "ObjectCreated:Post",
        "ObjectCreated:Copy",
        "ObjectCreated:CompleteMultipartUpload",
    ],
    Kind.DELETED: [
        "ObjectRemoved:Delete",
        "ObjectRemoved:DeleteMarkerCreated",
        "LifecycleExpiration:Delete",
        "LifecycleExpiration:DeleteMarkerCreated",
    ],
}


@st.composite
def classic_events(draw: st.DrawFn) -> ObjectEvent:
    """Any event a classic notification carries: its reason is the event name, its deletion type
    follows from it, and its id (the request id) may be missing."""
    event = draw(events())
    name = draw(st.sampled_from(_CLASSIC_NAMES[event.kind]))
    marker = "Delete Marker Created" if name.endswith("DeleteMarkerCreated") else None
    event_id = draw(st.one_of(st.just(""), _text))
    return replace(event, reason=name, deletion_type=marker, event_id=event_id)


def _as_sent(payload: object) -> str:
    return json.dumps(payload)  # every envelope travels as JSON text


@given(events())
def test_an_eventbridge_event_decodes_to_what_was_encoded(event: ObjectEvent) -> None:
    body = _as_sent(encode_eventbridge(event))
    decoded = decode_eventbridge(json.loads(body), event.bucket)
    assert decoded == event
    assert decoded.position == event.position
    assert decode_invocation(json.loads(body), event.bucket) == [event]


@given(events(), _text)
def test_an_eventbridge_event_in_an_sqs_message_decodes_to_what_was_encoded(
    event: ObjectEvent, message_id: str
) -> None:
    body = _as_sent(encode_eventbridge(event))
    assert decode_sqs_body(body, message_id, event.bucket) == [
        replace(event, message_id=message_id)
    ]


@given(st.lists(classic_events(), min_size=1, max_size=4), _text)
def test_a_classic_notification_decodes_to_what_was_encoded(
    batch: list[ObjectEvent], message_id: str
) -> None:
    body = _as_sent(encode_classic(batch))
    assert decode_classic(json.loads(body)) == batch
    assert decode_invocation(json.loads(body)) == batch
    assert decode_sqs_body(body, message_id) == [replace(e, message_id=message_id) for e in batch]


@given(classic_events())
def test_an_event_encodes_the_same_in_both_formats(event: ObjectEvent) -> None:
    [from_classic] = decode_classic(encode_classic([event]))
    from_eventbridge = decode_eventbridge(encode_eventbridge(replace(event, event_id="id")))
    assert replace(from_classic, event_id="id") == from_eventbridge


_PUT = ObjectEvent(Kind.CREATED, "b", "k", datetime(2026, 12, 1, tzinfo=UTC), "0A", "i", size=1)


@pytest.mark.parametrize(
    "odd",
    [
        replace(_PUT, reason="PutObject"),  # an EventBridge reason, not an event name
        replace(_PUT, reason="ObjectRemoved:Delete"),  # a delete's name on a write
        replace(_PUT, kind=Kind.DELETED, reason="ObjectRemoved:DeleteMarkerCreated"),
    ],
)
def test_an_event_with_no_classic_form_is_refused(odd: ObjectEvent) -> None:
    with pytest.raises(ValueError, match="no classic notification"):
        encode_classic([odd])


def test_an_event_without_an_id_is_encoded_with_its_position() -> None:
    event = ObjectEvent(
        Kind.CREATED, "b", "a key+/%", datetime(2026, 12, 1, tzinfo=UTC), "0A", "", size=1
    )
    assert decode_eventbridge(encode_eventbridge(event)) == replace(event, event_id=event.position)
