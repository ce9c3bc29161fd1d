"""The specification's scenarios, against the core and moto in process."""

from __future__ import annotations

from typing import Any

import pytest

from objbackup.core.events import Kind
from objbackup.core.naming import MAX_KEY_BYTES
from tests.harness import Harness, counting_calls


@pytest.mark.parametrize("writes", [1, 2, 3, 4, 5])
def test_writes_leave_newest_min_n_3_copies(system: Harness, writes: int) -> None:
    events = []
    for n in range(writes):
        system.clock.advance(1)
        event = system.put("report.csv", f"version {n}".encode())
        system.replicator.handle(event)
        events.append(event)
    active = system.active("report.csv")
    assert len(active) == min(writes, 3)
    # newest first, and exactly the newest writes survive, in the bucket and in the table
    assert [r.copy_timestamp for r in active] == [e.position for e in reversed(events)][:3]
    contents = [system.read_backup(r.copy_name) for r in active]
    assert contents == [f"version {n}".encode() for n in reversed(range(writes))][:3]
    assert system.backup_keys() == {r.copy_name for r in active}
    system.check_invariants({"report.csv"})


def test_records_carry_size_and_etag(system: Harness) -> None:
    event = system.put("a.txt", b"12345")
    outcome = system.replicator.handle(event)
    assert outcome.outcome == "copied"
    [record] = system.copies("a.txt")
    assert record.size == 5
    assert record.etag == event.etag
    assert record.status == "active"
    assert record.disowned_at is None


def test_delete_disowns_every_copy(system: Harness) -> None:
    for n in range(3):
        system.clock.advance(1)
        system.replicator.handle(system.put("k", f"{n}".encode()))
    system.clock.advance(1)
    outcome = system.replicator.handle(system.delete("k"))
    assert outcome.disowned == 3
    copies = system.copies("k")
    assert {r.status for r in copies} == {"disowned"}
    assert all(r.disowned_at is not None for r in copies)
    # nothing is deleted yet: the copies stay until the cleaner's grace period is over
    assert system.backup_keys() == {r.copy_name for r in copies}


def test_clean_inside_grace_deletes_nothing_and_after_it_deletes_all(system: Harness) -> None:
    system.replicator.handle(system.put("k", b"x"))
    system.replicator.handle(system.delete("k"))
    system.clock.advance(10)  # exactly the grace period: not yet "more than" it
    report = system.cleaner.run()
    assert (report.deleted, report.failed, report.copies) == (0, 0, [])
    assert len(system.copies("k")) == 1
    system.clock.advance(0.001)
    report = system.cleaner.run()
    assert report.deleted == 1 and report.failed == 0
    assert system.copies("k") == []
    assert system.backup_keys() == set()


def test_dry_run_lists_and_deletes_nothing(system: Harness) -> None:
    system.replicator.handle(system.put("k", b"x"))
    system.replicator.handle(system.delete("k"))
    system.clock.advance(11)
    report = system.cleaner.run(dry_run=True)
    assert report.dry_run and report.deleted == 0
    assert report.copies == [r.copy_name for r in system.copies("k")]
    assert len(system.backup_keys()) == 1


def test_delete_of_object_that_still_exists_disowns_nothing(system: Harness) -> None:
    system.replicator.handle(system.put("k", b"old"))
    delete = system.delete("k")
    system.clock.advance(1)
    rewrite = system.put("k", b"new")
    # the delete arrives after the object was written again: it proves nothing
    assert system.replicator.handle(delete).outcome == "still-exists"
    system.replicator.handle(rewrite)
    assert len(system.active("k")) == 2
    system.check_invariants({"k"})


def test_rewrite_during_grace_keeps_new_copy_active(system: Harness) -> None:
    system.replicator.handle(system.put("k", b"one"))
    system.replicator.handle(system.delete("k"))
    system.clock.advance(2)
    system.replicator.handle(system.put("k", b"two"))
    system.clock.advance(30)
    system.cleaner.run()
    [active] = system.copies("k")
    assert active.status == "active"
    assert system.read_backup(active.copy_name) == b"two"
    system.check_invariants({"k"})


def test_stale_create_for_overwritten_object_copies_nothing(system: Harness) -> None:
    first = system.put("k", b"one")
    system.clock.advance(1)
    second = system.put("k", b"two")
    # the first event arrives after the object was overwritten: its version is gone
    assert system.replicator.handle(first).outcome == "superseded"
    assert system.copies("k") == []
    assert system.backup_keys() == set()
    system.replicator.handle(second)
    system.check_invariants({"k"})


def test_create_for_deleted_object_copies_nothing(system: Harness) -> None:
    created = system.put("k", b"one")
    system.delete("k")
    assert system.replicator.handle(created).outcome == "source-gone"
    assert system.copies("k") == [] and system.backup_keys() == set()


ODD_KEYS = [
    "with space.txt",
    "plus+sign.txt",
    "percent%20literal.txt",
    "ünïcødé/日本語/😀.bin",
    "a/../b/./c",
    "tab\there",
    "x" * MAX_KEY_BYTES,
    "é" * (MAX_KEY_BYTES // 2),
]


@pytest.mark.parametrize("key", ODD_KEYS, ids=range(len(ODD_KEYS)))
def test_odd_keys_round_trip(system: Harness, key: str) -> None:
    system.replicator.handle(system.put(key, b"odd"))
    [record] = system.copies(key)
    assert len(record.copy_name.encode()) <= MAX_KEY_BYTES
    assert system.read_backup(record.copy_name) == b"odd"
    system.replicator.handle(system.delete(key))
    system.clock.advance(11)
    assert system.cleaner.run().deleted == 1
    system.check_invariants({key})


def test_long_keys_sharing_a_prefix_get_distinct_copy_names(system: Harness) -> None:
    keys = ["p" * 1000 + "a", "p" * 1000 + "b"]
    for key in keys:
        system.replicator.handle(system.put(key, key[-1].encode()))
    names = {r.copy_name for key in keys for r in system.copies(key)}
    assert len(names) == 2
    system.check_invariants(set(keys))


def test_zero_byte_object(system: Harness) -> None:
    system.replicator.handle(system.put("empty", b""))
    [record] = system.copies("empty")
    assert record.size == 0
    assert system.read_backup(record.copy_name) == b""


@pytest.mark.parametrize("threshold", [1, 10_000_000], ids=["multipart", "single"])
def test_metadata_content_type_and_tags_survive_both_copy_paths(
    system: Harness, threshold: int
) -> None:
    system = system.with_settings(multipart_threshold=threshold)
    body = b"m" * 1024
    event = system.put(
        "doc.json",
        body,
        ContentType="application/json",
        Metadata={"owner": "ops", "ticket": "42"},
        Tagging="team=platform&tier=gold",
        CacheControl="max-age=60",
    )
    with counting_calls(system.s3) as calls:
        system.replicator.handle(event)
    assert ("s3.UploadPartCopy" in calls) == (threshold == 1)
    [record] = system.copies("doc.json")
    head = system.s3.head_object(Bucket=system.settings.backup_bucket, Key=record.copy_name)
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"owner": "ops", "ticket": "42"}
    assert head["CacheControl"] == "max-age=60"
    tags = system.s3.get_object_tagging(Bucket=system.settings.backup_bucket, Key=record.copy_name)
    assert {t["Key"]: t["Value"] for t in tags["TagSet"]} == {"team": "platform", "tier": "gold"}
    assert system.read_backup(record.copy_name) == body


@pytest.mark.parametrize("threshold", [1, 10_000_000], ids=["multipart", "single"])
def test_copies_are_written_with_the_backup_kms_key_on_both_copy_paths(
    system: Harness, threshold: int
) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/bbbbbbbb-2222-4222-8222-000000000002"
    system = system.with_settings(multipart_threshold=threshold, backup_kms_key=key)
    with counting_calls(system.s3) as calls:
        system.replicator.handle(system.put("secret.txt", b"s" * 1024))
    assert ("s3.UploadPartCopy" in calls) == (threshold == 1)
    [record] = system.copies("secret.txt")
    head = system.s3.head_object(Bucket=system.settings.backup_bucket, Key=record.copy_name)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
    assert system.read_backup(record.copy_name) == b"s" * 1024


@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR"])
@pytest.mark.parametrize("threshold", [1, 10_000_000], ids=["multipart", "single"])
def test_copies_are_written_in_the_storage_class_on_both_copy_paths(
    system: Harness, threshold: int, storage_class: str
) -> None:
    """The class is set on write (CopyObject, CreateMultipartUpload), whatever the source's."""
    system = system.with_settings(multipart_threshold=threshold, storage_class=storage_class)
    with counting_calls(system.s3) as calls:
        system.replicator.handle(system.put("cold.txt", b"c" * 1024, StorageClass="STANDARD"))
    assert ("s3.UploadPartCopy" in calls) == (threshold == 1)
    [record] = system.copies("cold.txt")
    head = system.s3.head_object(Bucket=system.settings.backup_bucket, Key=record.copy_name)
    assert head["StorageClass"] == storage_class
    assert system.read_backup(record.copy_name) == b"c" * 1024


def test_multipart_copy_of_overwritten_object_is_refused(system: Harness) -> None:
    system = system.with_settings(multipart_threshold=1)
    stale = system.put("big", b"a" * 2048)
    system.clock.advance(1)
    system.put("big", b"b" * 2048)
    assert system.replicator.handle(stale).outcome == "superseded"
    assert system.backup_keys() == set()


def test_multipart_copy_overwritten_mid_copy_is_superseded_not_failed(system: Harness) -> None:
    """A 412 on a part copy (s3transfer wraps it in its own error) ends as superseded at once."""
    system = system.with_settings(multipart_threshold=1)
    stale = system.put("big", b"a" * 2048)
    overwritten: list[bool] = []

    def overwrite(**_: Any) -> None:
        if not overwritten:
            overwritten.append(True)
            system.s3.put_object(Bucket=system.settings.source_bucket, Key="big", Body=b"b" * 9)

    system.s3.meta.events.register("before-call.s3.UploadPartCopy", overwrite)
    try:
        assert system.replicator.handle(stale).outcome == "superseded"
    finally:
        system.s3.meta.events.unregister("before-call.s3.UploadPartCopy", overwrite)
    assert overwritten
    assert system.backup_keys() == set()
    assert system.copies("big") == []


def test_versioned_source_old_version_delete_keeps_copies(system: Harness) -> None:
    bucket = system.settings.source_bucket
    system.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = system.put("v", b"one")
    system.replicator.handle(first)
    system.clock.advance(1)
    system.replicator.handle(system.put("v", b"two"))
    # permanently delete the *old* version: S3 emits Object Deleted, the object lives on
    assert first.version_id is not None
    system.s3.delete_object(Bucket=bucket, Key="v", VersionId=first.version_id)
    event = system.event(Kind.DELETED, "v", version_id=first.version_id)
    assert system.replicator.handle(event).outcome == "still-exists"
    assert len(system.active("v")) == 2
    system.check_invariants({"v"})


def test_versioned_source_deleting_current_version_backs_up_the_resurfaced_one(
    system: Harness,
) -> None:
    bucket = system.settings.source_bucket
    system.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = system.put("v", b"one")
    system.replicator.handle(first)
    system.clock.advance(1)
    second = system.put("v", b"two")
    system.replicator.handle(second)
    assert second.version_id is not None
    system.s3.delete_object(Bucket=bucket, Key="v", VersionId=second.version_id)
    system.clock.advance(1)
    event = system.event(Kind.DELETED, "v", version_id=second.version_id)
    outcome = system.replicator.handle(event)
    assert outcome.outcome == "resurfaced-copied"
    system.check_invariants({"v"})  # the newest copy holds "one" again


def test_late_duplicate_after_clean_keeps_invariants(system: Harness) -> None:
    """The one documented inexact case: an old event redelivered after its key was deleted,
    cleaned, and re-written with identical bytes makes one extra copy of those same bytes."""
    first = system.put("k", b"same")
    system.replicator.handle(first)
    system.clock.advance(1)
    system.replicator.handle(system.delete("k"))
    system.clock.advance(11)
    assert system.cleaner.run().deleted == 1
    rewrite = system.put("k", b"same")
    system.replicator.handle(first)  # the late duplicate
    system.replicator.handle(rewrite)
    active = system.active("k")
    assert len(active) == 2
    assert {system.read_backup(r.copy_name) for r in active} == {b"same"}
    system.check_invariants({"k"})


def test_late_event_after_identical_bytes_return_copies_them_once_more(system: Harness) -> None:
    """The same limit without a delete: once a key holds again the very bytes an old event
    describes (A, B, then A again), that event's ETag matches again, so its late redelivery
    copies the current bytes under its own older position. One extra copy of the current bytes,
    pruned by retention; invariants 1 to 3 hold. A versioned source would tell them apart."""
    first = system.put("k", b"A")
    second = system.put("k", b"B")
    assert system.replicator.handle(first).outcome == "superseded"
    system.replicator.handle(second)
    third = system.put("k", b"A")
    system.replicator.handle(third)
    assert system.replicator.handle(first).outcome == "copied"  # the late redelivery
    active = system.active("k")
    assert [system.read_backup(r.copy_name) for r in active] == [b"A", b"B", b"A"]
    system.check_invariants({"k"})
