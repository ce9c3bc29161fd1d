"""Restore and undelete against the core and moto in process, and the cleaner's claim on records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto import mock_aws

from objbackup.core.aws import Clients
from objbackup.core.copier import TargetCondition
from objbackup.core.events import Kind
from objbackup.core.records import CLEANING, DISOWNED
from objbackup.core.table import TRANSACT_WRITE_LIMIT, CopyTable
from objbackup.restore import RestoreError, Restorer, compact_timestamp, pick_copy
from objbackup.undelete import Undeleter
from tests.harness import REGION, Crash, Harness, counting_calls, crash_at

KEY = "docs/report 1+2.txt"


def restorer(system: Harness) -> Restorer:
    s = system.settings
    return Restorer(
        system.s3, system.table, s.source_bucket, s.backup_bucket, s.multipart_threshold
    )


def undeleter(system: Harness) -> Undeleter:
    return Undeleter(restorer(system), system.settings.retain)


def write(system: Harness, key: str, body: bytes, **extra: object) -> None:
    system.clock.advance(1)
    system.replicator.handle(system.put(key, body, **extra))


def deliver_created(system: Harness, key: str) -> None:
    """The Object Created event S3 sends for a restore's copy-back, handled by the replicator."""
    head = system.s3.head_object(Bucket=system.settings.source_bucket, Key=key)
    system.clock.advance(1)
    event = system.event(
        Kind.CREATED, key, etag=head["ETag"].strip('"'), size=head["ContentLength"]
    )
    system.replicator.handle(event)


def deleted_with_copies(system: Harness, versions: int = 3) -> None:
    for n in range(versions):
        write(system, KEY, f"v{n}".encode(), ContentType="text/csv", Metadata={"n": str(n)})
    system.clock.advance(1)
    system.replicator.handle(system.delete(KEY))


# --- restore ----------------------------------------------------------------------------------


def test_restore_default_is_newest_active_and_keeps_type_metadata_tags(system: Harness) -> None:
    write(system, KEY, b"old", ContentType="text/plain", Metadata={"a": "1"}, Tagging="t=1")
    write(system, KEY, b"new", ContentType="text/csv", Metadata={"a": "2"}, Tagging="t=2")
    r = restorer(system)
    plan = r.plan(KEY, None, "elsewhere/copy.txt")
    assert plan.copy.copy_timestamp == system.active(KEY)[0].copy_timestamp
    assert (plan.to, plan.overwrites) == ("elsewhere/copy.txt", False)
    r.copy_back(plan.copy, plan.to)
    src = system.settings.source_bucket
    head = system.s3.head_object(Bucket=src, Key="elsewhere/copy.txt")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"a": "2"})
    tags = system.s3.get_object_tagging(Bucket=src, Key="elsewhere/copy.txt")["TagSet"]
    assert tags == [{"Key": "t", "Value": "2"}]
    assert system.read_source("elsewhere/copy.txt") == b"new"


def test_restore_multipart_path_keeps_type_metadata_tags(system: Harness) -> None:
    system = system.with_settings(multipart_threshold=1)
    write(system, KEY, b"x" * 100, ContentType="text/csv", Metadata={"a": "2"}, Tagging="t=2")
    r = restorer(system)
    plan = r.plan(KEY, None, "big")
    r.copy_back(plan.copy, "big")
    src = system.settings.source_bucket
    head = system.s3.head_object(Bucket=src, Key="big")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"a": "2"})
    assert system.s3.get_object_tagging(Bucket=src, Key="big")["TagSet"] == [
        {"Key": "t", "Value": "2"}
    ]


@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR"])
@pytest.mark.parametrize("threshold", [1, 10_000_000], ids=["multipart", "single"])
def test_restore_reads_a_copy_in_any_offered_class_back_into_standard(
    system: Harness, threshold: int, storage_class: str
) -> None:
    """Copies in an instantly readable class are copied back as they are (no RestoreObject);
    the restored object is STANDARD, CopyObject's and CreateMultipartUpload's default."""
    system = system.with_settings(multipart_threshold=threshold, storage_class=storage_class)
    write(system, KEY, b"z" * 300, ContentType="text/csv")
    [copy] = system.active(KEY)
    bak = system.s3.head_object(Bucket=system.settings.backup_bucket, Key=copy.copy_name)
    assert bak["StorageClass"] == storage_class
    r = restorer(system)
    r.copy_back(r.plan(KEY, None, "back.txt").copy, "back.txt")
    src = system.settings.source_bucket
    listed = system.s3.list_objects_v2(Bucket=src, Prefix="back.txt")["Contents"]
    assert [o["StorageClass"] for o in listed] == ["STANDARD"]
    assert system.read_source("back.txt") == b"z" * 300


def test_restore_picks_a_copy_by_timestamp_compact_form_or_name(system: Harness) -> None:
    for body in (b"one", b"two", b"three"):
        write(system, KEY, body)
    oldest = system.copies(KEY)[-1]
    records = system.copies(KEY)
    for wanted in (
        oldest.copy_timestamp,
        compact_timestamp(oldest.copy_timestamp),
        oldest.copy_name,
    ):
        assert pick_copy(records, wanted) == oldest
    assert oldest.copy_name.endswith("@" + compact_timestamp(oldest.copy_timestamp))
    r = restorer(system)
    plan = r.plan(KEY, oldest.copy_timestamp, None)
    assert plan.overwrites is True
    r.copy_back(plan.copy, plan.to)
    assert system.read_source(KEY) == b"one"
    deliver_created(system, KEY)
    system.check_invariants({KEY})
    assert system.read_backup(system.active(KEY)[0].copy_name) == b"one"


def test_restore_falls_back_to_newest_disowned_and_never_to_a_cleaning_copy(
    system: Harness,
) -> None:
    deleted_with_copies(system, 2)
    assert pick_copy(system.copies(KEY), None) == system.copies(KEY)[0]
    system.table.claim([system.copies(KEY)[0]])
    records = system.copies(KEY)
    assert [r.status for r in records] == [CLEANING, DISOWNED]
    assert pick_copy(records, None) == records[1]
    assert pick_copy(records, records[0].copy_timestamp) is None


def test_restore_errors_name_the_missing_copy(system: Harness) -> None:
    r = restorer(system)
    with pytest.raises(RestoreError, match="no copy of nothing to restore") as info:
        r.plan("nothing", None, None)
    assert "list --disowned" in (info.value.hint or "")
    write(system, KEY, b"x")
    with pytest.raises(RestoreError, match="at 2000-01-01") as info:
        r.plan(KEY, "2000-01-01T00:00:00Z~0", None)
    assert f"objbackup list {KEY}" in (info.value.hint or "")


def test_restore_of_a_copy_the_cleaner_deleted_meanwhile(system: Harness) -> None:
    deleted_with_copies(system, 1)
    r = restorer(system)
    plan = r.plan(KEY, None, None)
    system.clock.advance(60)
    system.cleaner.run()
    with pytest.raises(RestoreError, match="no longer in the backup bucket"):
        r.copy_back(plan.copy, plan.to)
    assert KEY not in system.source_keys()


@contextmanager
def written_before_the_copy(system: Harness, key: str, body: bytes | None) -> Iterator[None]:
    """Someone writes (or, with `body` None, deletes) `key` just before the copy-back starts."""
    source = system.settings.source_bucket
    fired: list[bool] = []

    def meanwhile(**_: Any) -> None:
        if fired:
            return
        fired.append(True)
        if body is None:
            system.s3.delete_object(Bucket=source, Key=key)
        else:
            system.s3.put_object(Bucket=source, Key=key, Body=body)

    events = ("before-call.s3.CopyObject", "before-call.s3.CreateMultipartUpload")
    for event in events:
        system.s3.meta.events.register(event, meanwhile, unique_id=f"meanwhile-{event}")
    try:
        yield
    finally:
        for event in events:
            system.s3.meta.events.unregister(event, unique_id=f"meanwhile-{event}")
    assert fired, "the copy-back never started"


def no_uploads_left(system: Harness) -> bool:
    listed = system.s3.list_multipart_uploads(Bucket=system.settings.source_bucket)
    return not listed.get("Uploads")


@pytest.mark.parametrize("threshold", [10**9, 1], ids=["copy-object", "multipart"])
@pytest.mark.parametrize(
    ("there_at_check", "meanwhile"),
    [(False, b"written meanwhile"), (True, b"written meanwhile"), (True, None)],
    ids=["absent-then-written", "confirmed-then-overwritten", "confirmed-then-deleted"],
)
def test_restore_never_overwrites_what_changed_after_its_check(
    system: Harness, threshold: int, there_at_check: bool, meanwhile: bytes | None
) -> None:
    system = system.with_settings(multipart_threshold=threshold)
    write(system, KEY, b"backed up")
    src, to = system.settings.source_bucket, "restored/here.txt"
    if there_at_check:
        system.s3.put_object(Bucket=src, Key=to, Body=b"confirmed")
    r = restorer(system)
    plan = r.plan(KEY, None, to)
    assert plan.overwrites is there_at_check
    with (
        written_before_the_copy(system, to, meanwhile),
        pytest.raises(RestoreError, match="changed after it was checked; nothing was overwritten"),
    ):
        r.copy_back(plan.copy, plan.to, plan.target)
    if meanwhile is None:
        assert to not in system.source_keys()
    else:
        assert system.read_source(to) == meanwhile
    assert no_uploads_left(system)
    # Checked again, the same restore lands.
    plan = r.plan(KEY, None, to)
    r.copy_back(plan.copy, plan.to, plan.target)
    assert system.read_source(to) == b"backed up"


def test_a_copy_takes_a_source_etag_or_a_target_condition_not_both(system: Harness) -> None:
    copier = restorer(system).copier
    with pytest.raises(ValueError, match="not both"):
        copier.copy("src", "k", "dest", "etag", 1, TargetCondition())


# --- undelete ---------------------------------------------------------------------------------


def test_undelete_restores_newest_and_reactivates_the_rest(system: Harness) -> None:
    deleted_with_copies(system, 3)
    result = undeleter(system).run(KEY)
    assert result.restored_from is not None and not result.resumed
    assert system.read_source(KEY) == b"v2"
    head = system.s3.head_object(Bucket=system.settings.source_bucket, Key=KEY)
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"n": "2"})
    assert [r.copy_name for r in result.reactivated] == [r.copy_name for r in system.copies(KEY)]
    assert {r.status for r in system.copies(KEY)} == {"active"}
    assert all(r.disowned_at is None for r in system.copies(KEY))
    # The copy-back's own event: one more copy, then pruning back to retain.
    deliver_created(system, KEY)
    system.check_invariants({KEY})
    assert len(system.active(KEY)) == 3
    # Nothing is disowned any more, so a clean after the grace deletes nothing.
    system.clock.advance(60)
    assert system.cleaner.run().deleted == 0
    system.check_invariants({KEY})


def test_undelete_keeps_at_most_retain_active(system: Harness) -> None:
    for n in range(2):
        write(system, KEY, f"a{n}".encode())
    system.replicator.handle(system.delete(KEY))
    for n in range(3):
        write(system, KEY, f"b{n}".encode())
    system.replicator.handle(system.delete(KEY))
    assert len(system.copies(KEY)) == 5
    result = undeleter(system).run(KEY)
    assert len(result.reactivated) == 3 and len(system.active(KEY)) == 3
    assert system.read_source(KEY) == b"b2"
    deliver_created(system, KEY)
    system.clock.advance(60)
    system.cleaner.run()
    system.check_invariants({KEY})


def test_undelete_refuses_an_existing_object(system: Harness) -> None:
    write(system, KEY, b"here")
    with pytest.raises(RestoreError, match="exists in the source bucket") as info:
        undeleter(system).run(KEY)
    assert "objbackup restore" in (info.value.hint or "")


@pytest.mark.parametrize("threshold", [10**9, 1], ids=["copy-object", "multipart"])
def test_undelete_never_overwrites_a_write_that_landed_after_its_check(
    system: Harness, threshold: int
) -> None:
    system = system.with_settings(multipart_threshold=threshold)
    deleted_with_copies(system, 2)
    with (
        written_before_the_copy(system, KEY, b"written meanwhile"),
        pytest.raises(RestoreError, match="changed after it was checked; nothing was overwritten"),
    ):
        undeleter(system).run(KEY)
    assert system.read_source(KEY) == b"written meanwhile"
    assert no_uploads_left(system)
    # The reclaimed copies stay active; the new write's own event settles the key as any write.
    assert {r.status for r in system.copies(KEY)} == {"active"}
    deliver_created(system, KEY)
    system.check_invariants({KEY})
    assert system.read_backup(system.active(KEY)[0].copy_name) == b"written meanwhile"


def test_undelete_after_the_clean_says_no_copy_remains(system: Harness) -> None:
    deleted_with_copies(system, 2)
    system.clock.advance(60)
    system.cleaner.run()
    with pytest.raises(RestoreError, match="grace period is over") as info:
        undeleter(system).run(KEY)
    assert "no copy of it remains" in (info.value.hint or "")
    assert KEY not in system.source_keys()


def test_undelete_while_the_cleaner_holds_every_copy(system: Harness) -> None:
    deleted_with_copies(system, 2)
    system.table.claim(system.copies(KEY))
    with pytest.raises(RestoreError, match="cleaner is deleting its copies"):
        undeleter(system).run(KEY)
    assert {r.status for r in system.copies(KEY)} == {CLEANING}


def test_undelete_skips_copies_the_cleaner_claimed(system: Harness) -> None:
    deleted_with_copies(system, 3)
    newest = system.copies(KEY)[0]
    system.table.claim([newest])
    result = undeleter(system).run(KEY)
    assert result.restored_from is not None
    assert result.restored_from.copy_name == system.copies(KEY)[1].copy_name
    assert system.read_source(KEY) == b"v1"
    assert newest.copy_name not in {r.copy_name for r in result.reactivated}
    system.clock.advance(60)
    report = system.cleaner.run()  # finishes the claimed copy only
    assert report.copies == [newest.copy_name]
    deliver_created(system, KEY)
    system.check_invariants({KEY})


def test_undelete_dry_run_changes_nothing(system: Harness) -> None:
    deleted_with_copies(system, 2)
    before = system.snapshot({KEY})
    result = undeleter(system).run(KEY, dry_run=True)
    assert result.to_json()["restored"] is False
    assert result.restored_from == system.copies(KEY)[0]
    assert system.snapshot({KEY}) == before and KEY not in system.source_keys()


def test_undelete_that_stopped_after_reclaiming_converges(system: Harness) -> None:
    deleted_with_copies(system, 3)
    newest = system.copies(KEY)[0]
    assert system.table.reactivate(newest)  # what a run that died before its copy-back left
    result = undeleter(system).run(KEY)
    assert result.resumed and result.restored_from is not None
    assert result.restored_from.copy_name == newest.copy_name
    assert system.read_source(KEY) == b"v2"
    assert len(system.active(KEY)) == 3
    deliver_created(system, KEY)
    system.check_invariants({KEY})


def _deleted_system() -> Harness:
    system = Harness.create()
    deleted_with_copies(system, 3)
    return system


@pytest.mark.slow  # a crash at every call of undelete
@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("when", ["before", "after"])
def test_undelete_crash_at_every_call_then_rerun_converges(when: str) -> None:
    with mock_aws():
        system = _deleted_system()
        with counting_calls(system.s3, system.dynamodb) as calls:
            undeleter(system).run(KEY)
        total = sum(calls.values())
    assert total >= 5
    for call_number in range(1, total + 1):
        with mock_aws():
            system = _deleted_system()
            with (
                crash_at(call_number, when, system.s3, system.dynamodb) as fired,
                pytest.raises(Crash),
            ):
                undeleter(system).run(KEY)
            assert fired()
            if KEY not in system.source_keys():
                undeleter(system).run(KEY)  # the operator runs it again
            assert system.read_source(KEY) == b"v2", f"crash {when} call {call_number}"
            assert len(system.active(KEY)) == 3
            deliver_created(system, KEY)
            system.clock.advance(60)
            system.cleaner.run()
            system.check_invariants({KEY})


# --- the cleaner's claim ----------------------------------------------------------------------


def test_claim_skips_reclaimed_and_redisowned_records_in_one_transaction(
    system: Harness,
) -> None:
    keys = [f"k{n}" for n in range(5)]
    for key in keys:
        write(system, key, b"x")
        system.replicator.handle(system.delete(key))
    expired = list(system.table.disowned())
    assert len(expired) == 5
    assert system.table.reactivate(next(r for r in expired if r.source_object == "k1"))
    redisowned = next(r for r in expired if r.source_object == "k3")
    system.table.reactivate(redisowned)
    system.clock.advance(5)
    system.table.disown(redisowned, "2099-01-01T00:00:00.000000Z")  # disowned again, later
    with counting_calls(system.dynamodb) as calls:
        claimed = system.table.claim(expired)
    assert sorted(r.source_object for r in claimed) == ["k0", "k2", "k4"]
    # one cancelled transaction, then one that claims the rest
    assert calls["dynamodb.TransactWriteItems"] == 2
    statuses = {r.source_object: r.status for key in keys for r in system.copies(key)}
    assert statuses == {
        "k0": CLEANING,
        "k1": "active",
        "k2": CLEANING,
        "k3": DISOWNED,
        "k4": CLEANING,
    }


def test_claim_uses_transactions_of_at_most_100(system: Harness) -> None:
    records = []
    for n in range(TRANSACT_WRITE_LIMIT + 1):
        key = f"bulk/{n:03d}"
        system.s3.put_object(Bucket=system.settings.backup_bucket, Key=f"{key}@c", Body=b"")
        item: dict[str, Any] = {
            "source_object": {"S": key},
            "copy_timestamp": {"S": "2026-01-01T00:00:00Z~0"},
            "copy_name": {"S": f"{key}@c"},
            "status": {"S": DISOWNED},
            "disowned_at": {"S": "2026-01-01T00:00:00.000000Z"},
        }
        system.dynamodb.put_item(TableName=system.settings.table, Item=item)
        records.append(key)
    with counting_calls(system.s3, system.dynamodb) as calls:
        report = system.cleaner.run()
    assert report.deleted == TRANSACT_WRITE_LIMIT + 1 and report.reclaimed == 0
    assert calls["dynamodb.TransactWriteItems"] == 2
    assert system.backup_keys() == set()


def test_a_clean_that_stopped_after_claiming_is_finished_by_the_next(system: Harness) -> None:
    deleted_with_copies(system, 2)
    system.clock.advance(60)
    system.table.claim(list(system.table.disowned()))
    assert list(system.table.disowned()) == []
    assert len(list(system.table.disowned(status=CLEANING))) == 2
    dry = system.cleaner.run(dry_run=True)
    assert sorted(dry.copies) == sorted(r.copy_name for r in system.copies(KEY))
    report = system.cleaner.run()
    assert (report.deleted, report.failed) == (2, 0)
    assert system.copies(KEY) == [] and system.backup_keys() == set()


def test_separate_clients_see_the_same_claims(moto_aws: None) -> None:
    system = Harness.create()
    deleted_with_copies(system, 1)
    other = CopyTable(Clients.create(region=REGION).dynamodb, system.settings.table)
    [record] = list(other.disowned())
    assert system.table.reactivate(record)
    assert other.claim([record]) == []


def test_list_disowned_shows_claimed_copies_in_disowned_order(system: Harness) -> None:
    from objbackup.listing import list_disowned

    for key in ("first", "second"):
        write(system, key, b"x")
        system.clock.advance(1)
        system.replicator.handle(system.delete(key))
    first = system.copies("first")
    system.table.claim(first)
    listed = list_disowned(system.table)["disowned"]
    assert [(c["source_object"], c["status"]) for c in listed] == [
        ("first", CLEANING),
        ("second", DISOWNED),
    ]
    system.clock.advance(60)
    assert list_disowned(system.table, older_than=30, now=system.clock())["disowned"] == listed
    assert list_disowned(system.table, older_than=3600, now=system.clock())["disowned"] == []
