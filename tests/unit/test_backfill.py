"""Backfill: objects written before deployment reach the replicator through its queue, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from objbackup.backfill import Backfill, SourceObject, created_event, list_objects
from objbackup.core.events import decode_sqs_body
from objbackup.core.filters import KeyFilter
from objbackup.core.naming import copy_name
from objbackup.sandbox.patches import archive_tier
from tests.harness import REGION, FakeClock, Harness, counting_calls
from tests.queue import create_queue, drain
from tests.unit.test_unsupported import SSE_C

if TYPE_CHECKING:
    from types_boto3_s3.literals import StorageClassType
    from types_boto3_sqs import SQSClient

KEYS = ["a.txt", "dir/b c+d.txt", "dir/ünï%20code", "logs/skip.log", "x" * 990]


@pytest.fixture
def world(moto_aws: None) -> tuple[Harness, Any, str]:
    # The clock starts at the real time, so harness events and LastModified agree on the date.
    system = Harness.create(clock=FakeClock(datetime.now(UTC).replace(microsecond=0)))
    sqs = boto3.client("sqs", region_name=REGION)
    return system, sqs, create_queue(sqs)


def _backfill(system: Harness, sqs: SQSClient, queue: str, **kwargs: Any) -> Backfill:
    return Backfill(system.s3, sqs, system.table, system.settings.source_bucket, queue, **kwargs)


def _write_without_events(system: Harness, keys: list[str]) -> None:
    for key in keys:
        system.s3.put_object(Bucket=system.settings.source_bucket, Key=key, Body=key.encode()[:50])


def test_backfill_copies_every_object_then_a_second_run_sends_nothing(
    world: tuple[Harness, Any, str],
) -> None:
    system, sqs, queue = world
    _write_without_events(system, KEYS)
    first = _backfill(system, sqs, queue).run()
    assert (first.listed, first.sent, first.skipped, first.dry_run) == (len(KEYS), 5, 0, False)
    assert len(drain(sqs, queue, system)) == len(KEYS)
    system.check_invariants(set(KEYS))
    for key in KEYS:
        assert [r.etag for r in system.active(key)] == [
            system.s3.head_object(Bucket="src", Key=key)["ETag"].strip('"')
        ]
    second = _backfill(system, sqs, queue).run()
    assert (second.listed, second.sent, second.skipped) == (len(KEYS), 0, len(KEYS))
    assert drain(sqs, queue, system) == []


def test_dry_run_names_the_objects_and_sends_nothing(world: tuple[Harness, Any, str]) -> None:
    system, sqs, queue = world
    _write_without_events(system, ["a.txt", "b.txt"])
    system.replicator.handle(system.put("b.txt", b"b.txt"))
    report = _backfill(system, sqs, queue).run(dry_run=True)
    assert report.to_json() == {
        "prefix": "",
        "listed": 2,
        "sent": 0,
        "skipped": 1,
        "unsupported": 0,
        "excluded": 0,
        "dry_run": True,
        "objects": ["a.txt"],
        "failed": [],
    }
    assert drain(sqs, queue, system) == []


def test_prefix_and_key_filter_limit_what_is_sent(world: tuple[Harness, Any, str]) -> None:
    system, sqs, queue = world
    _write_without_events(system, KEYS)
    report = _backfill(system, sqs, queue, key_filter=KeyFilter(exclude=("logs/",))).run()
    assert report.excluded == 1 and report.sent == len(KEYS) - 1
    drain(sqs, queue, system)
    assert system.active("logs/skip.log") == []
    only_dir = _backfill(system, sqs, queue).run(prefix="dir/")
    assert (only_dir.prefix, only_dir.listed, only_dir.sent) == ("dir/", 2, 0)


def test_sends_ten_per_batch_and_queries_each_key_once(world: tuple[Harness, Any, str]) -> None:
    system, sqs, queue = world
    keys = [f"k{i:02}" for i in range(23)]
    _write_without_events(system, keys)
    with counting_calls(sqs, system.dynamodb) as calls:
        report = _backfill(system, sqs, queue).run()
    assert report.sent == 23
    assert calls["sqs.SendMessageBatch"] == 3
    assert calls["dynamodb.Query"] == 23
    assert calls["dynamodb.Scan"] == 0


def test_the_message_decodes_to_the_object_and_is_deterministic(
    world: tuple[Harness, Any, str],
) -> None:
    system, _, _ = world
    key = "dir/a b+c%2F/ü?.txt"
    _write_without_events(system, [key])
    [obj] = list(list_objects(system.s3, "src"))
    body = json.dumps(created_event("src", obj))
    assert body == json.dumps(created_event("src", obj)), "one version, one message"
    [event] = decode_sqs_body(body, "m-1", source_bucket="src")
    assert event.key == key and event.etag == obj.etag and event.size == obj.size
    assert event.reason == "Backfill" and event.time == obj.last_modified
    # An empty sequencer pads to zeros: below any real S3 sequencer of the same second.
    assert event.position.endswith("~" + "0" * 32)


def test_redelivered_backfill_message_is_a_duplicate(world: tuple[Harness, Any, str]) -> None:
    system, sqs, queue = world
    _write_without_events(system, ["a.txt"])
    [obj] = list(list_objects(system.s3, "src"))
    body = json.dumps(created_event("src", obj))
    for _ in range(2):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    drain(sqs, queue, system)
    assert len(system.copies("a.txt")) == 1
    system.check_invariants({"a.txt"})


def test_backfill_and_a_real_event_for_one_write_keep_invariants(
    world: tuple[Harness, Any, str],
) -> None:
    """The real event and the backfill both copy the same write: two copies of the same bytes,
    the newest holding the current content; later writes prune down to `retain`."""
    system, sqs, queue = world
    system = system.with_settings(retain=2)
    real = system.put("k", b"v1")
    _backfill(system, sqs, queue).run()
    drain(sqs, queue, system)
    system.replicator.handle(real)  # the real event arrives after the backfill
    system.check_invariants({"k"})
    assert {r.etag for r in system.active("k")} == {real.etag}
    for body in (b"v2", b"v3"):
        # As on AWS, a later write's event time is not before the earlier write's LastModified.
        system.clock.now = max(system.clock.now, datetime.now(UTC)) + timedelta(seconds=1)
        system.replicator.handle(system.put("k", body))
        system.check_invariants({"k"})
    assert len(system.active("k")) == 2
    assert system.read_backup(system.active("k")[0].copy_name) == b"v3"


def test_a_later_write_in_the_same_second_outranks_the_backfilled_copy(
    world: tuple[Harness, Any, str],
) -> None:
    system, _, _ = world
    obj = SourceObject("k", "etag-old", 2, system.clock().replace(microsecond=0))
    backfilled = copy_name(
        "k", decode_sqs_body(json.dumps(created_event("src", obj)), "m")[0].position
    )
    later = system.put("k", b"new")  # same second, real sequencer
    assert copy_name("k", later.position) > backfilled


def test_archived_and_sse_c_objects_are_skipped_and_counted_only_copyless_ones_are_headed(
    world: tuple[Harness, Any, str],
) -> None:
    system, sqs, queue = world
    _write_without_events(system, ["plain", "secret"])
    system.s3.put_object(Bucket="src", Key="secret", Body=b"s", **SSE_C)
    archived: list[tuple[str, StorageClassType]] = [
        ("cold", "GLACIER"),
        ("colder", "DEEP_ARCHIVE"),
        ("tiered", "INTELLIGENT_TIERING"),
        ("warm", "INTELLIGENT_TIERING"),
        ("restored", "GLACIER"),
        ("instant", "GLACIER_IR"),
    ]
    for key, storage_class in archived:
        system.s3.put_object(Bucket="src", Key=key, Body=key.encode(), StorageClass=storage_class)
    archive_tier("src", "tiered", "DEEP_ARCHIVE_ACCESS")
    system.s3.restore_object(Bucket="src", Key="restored", RestoreRequest={"Days": 1})

    with counting_calls(system.s3) as calls:
        report = _backfill(system, sqs, queue).run(dry_run=True)
    assert (report.listed, report.unsupported, report.skipped) == (8, 4, 0)
    assert report.objects == ["instant", "plain", "restored", "warm"]
    assert report.to_json()["unsupported"] == 4
    # one HEAD per object without a copy (here every object): SSE-C shows to nothing else
    assert calls["s3.HeadObject"] == 8

    sent = _backfill(system, sqs, queue).run()
    assert (sent.sent, sent.unsupported) == (4, 4)
    assert len(drain(sqs, queue, system)) == 4  # and not one batch item failure
    with counting_calls(system.s3) as calls:
        again = _backfill(system, sqs, queue).run(dry_run=True)
    # the four backed up now are skipped on the table's word, with no HEAD
    assert (again.skipped, again.unsupported, calls["s3.HeadObject"]) == (4, 4, 4)
    assert [k for k in report.objects if system.active(k)] == [
        "instant",
        "plain",
        "restored",
        "warm",
    ]
