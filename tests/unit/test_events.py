"""Decoding S3 events at the edge: AWS's samples, every rejection, key and ordering properties."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from objbackup.core.errors import ForeignBucket, MalformedEvent
from objbackup.core.events import (
    Kind,
    ObjectEvent,
    decode_eventbridge,
    decode_invocation,
    decode_sqs_body,
)
from objbackup.core.naming import MAX_KEY_BYTES, copy_name, copy_timestamp

EVENTS = Path(__file__).resolve().parent.parent / "events"
SAMPLE_KEY = "my photos/café + tea.jpg"  # what `my+photos/caf%C3%A9+%2B+tea.jpg` stands for


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def created(**object_fields: Any) -> dict[str, Any]:
    """The Object Created sample with some `detail.object` fields replaced."""
    event = load("eventbridge_object_created.json")
    event["detail"]["object"].update(object_fields)
    return event


def decode_one(payload: Any, source_bucket: str | None = "src") -> ObjectEvent:
    [event] = decode_invocation(payload, source_bucket)
    return event


# --- AWS's samples ----------------------------------------------------------------------------


def test_eventbridge_object_created() -> None:
    event = decode_one(load("eventbridge_object_created.json"))
    assert event == ObjectEvent(
        kind=Kind.CREATED,
        bucket="src",
        key=SAMPLE_KEY,
        time=datetime(2021, 11, 12, tzinfo=UTC),
        sequencer="617f08299329d189",
        event_id="17793124-05d4-b198-2fde-7ededc63b103",
        reason="PutObject",
        etag="b1946ac92492d2347c6235b4d2611184",
        size=5,
        version_id="IYV3p45BhZUiFjlYyZ8ThoL5ANkv0hV6",
    )


def test_eventbridge_object_deleted() -> None:
    event = decode_one(load("eventbridge_object_deleted.json"))
    assert event.kind is Kind.DELETED
    assert event.key == SAMPLE_KEY
    assert event.reason == "DeleteObject"
    assert event.deletion_type == "Delete Marker Created"
    assert event.version_id == "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF"
    assert event.sequencer == "617f0837b476e463"
    assert (event.size, event.etag) == (None, None)


def test_eventbridge_lifecycle_expiration() -> None:
    event = decode_one(load("eventbridge_lifecycle_expiration.json"))
    assert event.kind is Kind.DELETED
    assert event.key == "logs/2021/11/app (old).log"
    assert event.reason == "Lifecycle Expiration"
    assert event.deletion_type == "Delete Marker Created"
    assert event.sequencer == "617b398000000000"


def test_classic_put_notification() -> None:
    event = decode_one(load("s3_notification_put.json"))
    assert event.kind is Kind.CREATED
    assert event.key == "reports/100% done + café.csv"
    assert event.time == datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)  # .789 dropped
    assert event.sequencer == "0055AED6DCD90281E5"
    assert event.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert event.size == 1024
    assert event.version_id == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert event.event_id == "C3D13FE58DE4C810"
    assert event.reason == "ObjectCreated:Put"


def test_s3_test_event_decodes_to_nothing() -> None:
    body = json.dumps(load("s3_test_event.json"))
    assert decode_invocation(load("s3_test_event.json"), "src") == []
    assert decode_sqs_body(body, "m-1", "src") == []


def test_sqs_sample_bodies_carry_their_message_ids() -> None:
    first, second, broken = load("sqs_batch.json")["Records"]
    [one] = decode_sqs_body(first["body"], first["messageId"], "src")
    [two] = decode_sqs_body(second["body"], second["messageId"], "src")
    assert (one.key, one.message_id) == ("reports/q1 2026.csv", first["messageId"])
    assert (two.key, two.message_id) == ("café/menu + 100%.txt", second["messageId"])
    with pytest.raises(MalformedEvent) as caught:
        decode_sqs_body(broken["body"], broken["messageId"], "src")
    assert caught.value.message_id == broken["messageId"]


# --- keys: decoded exactly once ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("a+b", "a b"),
        ("a%2Bb", "a+b"),
        ("100%25", "100%"),
        ("100%2525", "100%25"),  # decoded once, not twice
        ("%2541", "%41"),
        ("caf%C3%A9", "café"),
        ("%E2%9C%93+ok/%F0%9F%98%80", "✓ ok/😀"),
        ("dir%2Fsub/file", "dir/sub/file"),
        ("plain/key.txt", "plain/key.txt"),
    ],
)
def test_key_is_unquoted_plus_once(raw: str, key: str) -> None:
    assert decode_one(created(key=raw)).key == key


def test_key_of_exactly_1024_bytes_after_decoding_is_accepted() -> None:
    raw = "%C3%A9" * 512  # 3072 characters on the wire, 1024 bytes as a key
    assert decode_one(created(key=raw)).key == "é" * 512


KEY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("+% /~#?&=\"'é✓😀"), st.characters(codec="utf-8")),
    min_size=1,
).filter(lambda key: len(key.encode("utf-8")) <= MAX_KEY_BYTES)


@given(key=KEY_TEXT)
def test_any_key_survives_quote_plus_and_decoding(key: str) -> None:
    event = created(key=quote_plus(key))
    assert decode_one(event).key == key
    [from_sqs] = decode_sqs_body(json.dumps(event), "m-1", "src")
    assert from_sqs.key == key
    classic = load("s3_notification_put.json")
    classic["Records"][0]["s3"]["object"]["key"] = quote_plus(key)
    assert decode_one(classic).key == key


# --- time and position ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-25T12:00:01Z", datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25T12:00:01.999Z", datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25T14:00:01.5+02:00", datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25T12:00:01", datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
    ],
)
def test_time_is_utc_whole_seconds(raw: str, expected: datetime) -> None:
    event = load("eventbridge_object_created.json")
    event["time"] = raw
    decoded = decode_one(event)
    assert decoded.time == expected
    assert decoded.time.tzinfo is not None and decoded.time.utcoffset() == timedelta(0)


def test_position_is_time_then_padded_sequencer() -> None:
    event = decode_one(load("eventbridge_object_created.json"))
    assert event.position == "2021-11-12T00:00:00Z~617F08299329D189" + "0" * 16


def position(sequencer: str, time: datetime = datetime(2026, 11, 25, tzinfo=UTC)) -> str:
    return decode_one(
        created(sequencer=sequencer) | {"time": f"{time:%Y-%m-%dT%H:%M:%SZ}"}
    ).position


def s3_order(a: str, b: str) -> int:
    """S3's documented rule: right-pad the shorter sequencer with zeros, then compare strings."""
    width = max(len(a), len(b))
    left, right = a.ljust(width, "0"), b.ljust(width, "0")
    return (left > right) - (left < right)


def test_aws_sample_sequencers_order_their_events() -> None:
    put = load("eventbridge_object_created.json")["detail"]["object"]["sequencer"]
    delete = load("eventbridge_object_deleted.json")["detail"]["object"]["sequencer"]
    assert position(put) < position(delete)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("0100", "FF"),  # as numbers 0x100 > 0xFF; S3's rule pads "FF" to "FF00"
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
        ("617f08299329d189", "617f08299329d18901"),
    ],
)
def test_shorter_sequencer_is_right_padded(earlier: str, later: str) -> None:
    assert position(earlier) < position(later)


def test_sequencers_equal_after_padding_give_one_position() -> None:
    assert position("ab12") == position("AB1200")


HEX_UPPER = st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=32)
HEX_LOWER = st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)


@given(st.one_of(st.tuples(HEX_UPPER, HEX_UPPER), st.tuples(HEX_LOWER, HEX_LOWER)))
def test_position_order_is_s3_sequencer_order_within_a_second(pair: tuple[str, str]) -> None:
    a, b = pair
    order = (position(a) > position(b)) - (position(a) < position(b))
    assert order == s3_order(a, b)


@given(a=HEX_UPPER, b=HEX_UPPER, seconds=st.integers(1, 10**6))
def test_a_later_second_wins_whatever_the_sequencer(a: str, b: str, seconds: int) -> None:
    start = datetime(2026, 11, 25, tzinfo=UTC)
    assert position(a, start) < position(b, start + timedelta(seconds=seconds))


# --- rejections -------------------------------------------------------------------------------


def test_foreign_bucket_is_rejected() -> None:
    with pytest.raises(ForeignBucket) as caught:
        decode_invocation(load("eventbridge_object_created.json"), "other")
    assert caught.value.bucket == "src"


def test_foreign_bucket_in_sqs_carries_the_message_id() -> None:
    body = json.dumps(load("eventbridge_object_created.json"))
    with pytest.raises(ForeignBucket) as caught:
        decode_sqs_body(body, "m-7", "other")
    assert (caught.value.bucket, caught.value.message_id) == ("src", "m-7")


def without(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, name = path.split(".")

    def mutate(event: dict[str, Any]) -> None:
        node = event
        for parent in parents:
            node = node[parent]
        del node[name]

    return mutate


def setting(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, name = path.split(".")

    def mutate(event: dict[str, Any]) -> None:
        node = event
        for parent in parents:
            node = node[parent]
        node[name] = value

    return mutate


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "wrong source": setting("source", "aws.ec2"),
    "no source": without("source"),
    "unsupported detail-type": setting("detail-type", "Object Restore Completed"),
    "no detail": without("detail"),
    "no object": without("detail.object"),
    "no bucket": without("detail.bucket"),
    "missing key": without("detail.object.key"),
    "empty key": setting("detail.object.key", ""),
    "key not a string": setting("detail.object.key", 42),
    "key over 1024 bytes after decoding": setting("detail.object.key", "%C3%A9" * 512 + "x"),
    "size negative": setting("detail.object.size", -1),
    "size a string": setting("detail.object.size", "5"),
    "size a float": setting("detail.object.size", 5.0),
    "size a bool": setting("detail.object.size", True),
    "bad time": setting("time", "yesterday"),
    "time a number": setting("time", 1636675200),
    "no time": without("time"),
    "created without size": without("detail.object.size"),
    "no id": without("id"),
}


@pytest.mark.parametrize("mutate", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_event_is_rejected_with_its_message_id(
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    event = copy.deepcopy(load("eventbridge_object_created.json"))
    mutate(event)
    with pytest.raises(MalformedEvent) as caught:
        decode_sqs_body(json.dumps(event), "m-42", "src")
    assert type(caught.value) is MalformedEvent
    assert caught.value.message_id == "m-42"
    assert "m-42" in str(caught.value)
    with pytest.raises(MalformedEvent):
        decode_eventbridge(event, "src")


@pytest.mark.parametrize(
    "body",
    [None, b"{}", "", "{not json", "[1, 2]", '"text"', "42", "null", "{}"],
    ids=["none", "bytes", "empty", "not json", "list", "string", "number", "null", "empty object"],
)
def test_body_that_is_not_an_s3_event_is_rejected(body: Any) -> None:
    with pytest.raises(MalformedEvent) as caught:
        decode_sqs_body(body, "m-9", "src")
    assert type(caught.value) is MalformedEvent
    assert caught.value.message_id == "m-9"


@pytest.mark.parametrize(
    "records",
    [[], "x", [{"eventSource": "aws:sns"}], [{"eventSource": "aws:s3", "eventName": "Other:X"}]],
    ids=["empty", "not a list", "not s3", "unsupported eventName"],
)
def test_malformed_classic_notification_is_rejected(records: Any) -> None:
    with pytest.raises(MalformedEvent):
        decode_invocation({"Records": records}, "src")


def test_deleted_event_needs_no_size() -> None:
    event = load("eventbridge_object_deleted.json")
    assert "size" not in event["detail"]["object"]
    assert decode_one(event).size is None


# --- copy names -------------------------------------------------------------------------------


def fit(text: str, limit: int = MAX_KEY_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes at a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def long_key(fill: str, size: int, tail: str) -> str:
    return fit(fill * (size // len(fill.encode("utf-8"))) + tail)


SHORT_KEYS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=64)
LONG_KEYS = st.builds(
    long_key,
    st.sampled_from(["a", "é", "✓", "😀", "dir/"]),
    st.integers(900, MAX_KEY_BYTES),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
)
KEYS = st.one_of(SHORT_KEYS, LONG_KEYS).filter(bool)
TIMESTAMPS = st.builds(
    copy_timestamp,
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ).map(lambda t: t.replace(microsecond=0)),
    HEX_UPPER,
)


@given(key=KEYS, timestamp=TIMESTAMPS)
def test_copy_name_fits_in_an_s3_key(key: str, timestamp: str) -> None:
    name = copy_name(key, timestamp)
    assert 1 <= len(name.encode("utf-8")) <= MAX_KEY_BYTES
    assert copy_name(key, timestamp) == name  # a redelivered event lands on the same copy


@given(data=st.data(), key=KEYS, timestamp=TIMESTAMPS)
def test_copy_name_is_injective(data: st.DataObject, key: str, timestamp: str) -> None:
    # The second pair is often a near miss: the same key, a key sharing its prefix, the same time.
    other_key = data.draw(
        st.one_of(
            st.just(key),
            st.builds(lambda tail: fit(key + tail), st.text(min_size=1, max_size=8)),
            st.builds(lambda cut: key[:cut], st.integers(1, max(1, len(key) - 1))),
            KEYS,
        ).filter(bool)
    )
    other_timestamp = data.draw(st.one_of(st.just(timestamp), TIMESTAMPS))
    assume((key, timestamp) != (other_key, other_timestamp))
    assert copy_name(key, timestamp) != copy_name(other_key, other_timestamp)


def test_long_keys_differing_only_at_the_end_get_distinct_names() -> None:
    timestamp = copy_timestamp(datetime(2026, 11, 25, tzinfo=UTC), "1")
    names = {copy_name("k" * 1020 + tail, timestamp) for tail in ("0000", "0001", "001", "01")}
    assert len(names) == 4


def test_a_short_key_cannot_spell_a_long_keys_copy_name() -> None:
    timestamp = copy_timestamp(datetime(2026, 11, 25, tzinfo=UTC), "617f08299329d189")
    long = "a" * MAX_KEY_BYTES
    name = copy_name(long, timestamp)
    spelled = name[: name.rindex("@")]  # 'a' * 941 + '#' + 32 hex digits: 974 bytes
    assert len(spelled.encode("utf-8")) < MAX_KEY_BYTES
    assert copy_name(spelled, timestamp) != name


def test_copy_timestamp_is_fixed_width_utc() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    stamp = copy_timestamp(datetime(2026, 11, 25, 17, 30, 0, tzinfo=tz), "ab")
    assert stamp == "2026-11-25T12:00:00Z~AB" + "0" * 30
