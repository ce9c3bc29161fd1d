"""Crash injection: a failure before or after every AWS call, then redelivery, ends where a run
without the crash ends, with no orphan copy and no dangling record; in a batch whose keys run
concurrently, the crash fails the message of its thread alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from moto import mock_aws

from objbackup.core.clean import LEASE_SECONDS
from objbackup.core.deadline import Deadline, OutOfTime
from objbackup.core.events import Kind
from objbackup.core.runtime import ReplicatorApp
from tests.harness import Crash, Harness, counting_calls, crash_at
from tests.unit.test_batch import failures, sqs_batch

Action = Callable[[], object]
Scenario = Callable[[Harness], Action]
KEYS = {"k", "other"}


def first_copy(system: Harness) -> Action:
    event = system.put("k", b"v1")
    return lambda: system.replicator.handle(event)


def three_copies(system: Harness, repeat: int = 1) -> None:
    """Three versions of "k" backed up a second apart; the clock then a second further on."""
    for n in range(3):
        system.clock.advance(1)
        system.replicator.handle(system.put("k", f"v{n}".encode() * repeat))
    system.clock.advance(1)


def steady_state_copy(system: Harness) -> Action:
    three_copies(system)
    event = system.put("k", b"v3")
    return lambda: system.replicator.handle(event)


def multipart_copy(system: Harness) -> Action:
    system = system.with_settings(multipart_threshold=1)
    three_copies(system, repeat=100)
    event = system.put("k", b"big" * 100, ContentType="text/plain", Tagging="a=b")
    return lambda: system.replicator.handle(event)


def resumed_multipart(system: Harness) -> Action:
    """A big copy that an earlier invocation's deadline stopped after one of its four parts."""
    system = system.with_settings(multipart_threshold=300, part_bytes=100)
    three_copies(system)
    event = system.put("k", bytes(range(100)) * 4, ContentType="text/plain", Tagging="a=b")
    stopped = {"now": False}

    def stop(**_: Any) -> None:
        stopped["now"] = True

    copier = system.replicator.copier
    copier.part_workers = 1  # so exactly one part is copied before the deadline stops the copy
    system.s3.meta.events.register("after-call.s3.UploadPartCopy", stop)
    try:
        with pytest.raises(OutOfTime):
            system.replicator.handle(event, Deadline(lambda: 0 if stopped["now"] else 60, 1))
    finally:
        system.s3.meta.events.unregister("after-call.s3.UploadPartCopy", stop)
        copier.part_workers = 10
    backup = system.settings.backup_bucket
    [upload] = system.s3.list_multipart_uploads(Bucket=backup)["Uploads"]
    parts = system.s3.list_parts(Bucket=backup, Key=upload["Key"], UploadId=upload["UploadId"])
    assert [p["PartNumber"] for p in parts["Parts"]] == [1]
    return lambda: system.replicator.handle(event)


def disown(system: Harness) -> Action:
    three_copies(system)
    event = system.delete("k")
    return lambda: system.replicator.handle(event)


def resurfaced_version(system: Harness) -> Action:
    bucket = system.settings.source_bucket
    system.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    system.replicator.handle(system.put("k", b"old"))
    system.clock.advance(1)
    newest = system.put("k", b"new")
    system.replicator.handle(newest)
    assert newest.version_id is not None
    system.s3.delete_object(Bucket=bucket, Key="k", VersionId=newest.version_id)
    event = system.event(Kind.DELETED, "k", version_id=newest.version_id)
    return lambda: system.replicator.handle(event)


def clean(system: Harness) -> Action:
    for key in sorted(KEYS):
        for n in range(2):
            system.clock.advance(1)
            system.replicator.handle(system.put(key, f"{key}{n}".encode()))
        system.replicator.handle(system.delete(key))
    system.clock.advance(60)

    def run() -> object:
        # A crashed run's claims are taken over once their lease runs out (a later schedule).
        system.clock.advance(LEASE_SECONDS + 1)
        return system.cleaner.run()

    return run


SCENARIOS: dict[str, Scenario] = {
    "first-copy": first_copy,
    "steady-state": steady_state_copy,
    "multipart": multipart_copy,
    "resumed-multipart": resumed_multipart,
    "disown": disown,
    "resurfaced-version": resurfaced_version,
    "clean": clean,
}


def _fresh(scenario: Scenario) -> tuple[Harness, Action]:
    system = Harness.create()
    return system, scenario(system)


def _reference(scenario: Scenario) -> tuple[Any, int]:
    with mock_aws():
        system, action = _fresh(scenario)
        with counting_calls(system.s3, system.dynamodb) as calls:
            action()
        return system.snapshot(KEYS), sum(calls.values())


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto complete uploads of 100-byte parts (S3 wants 5 MiB; the logic is the same)."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)


@pytest.mark.slow  # a crash before and after every AWS call of each path
@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_at_every_call_then_redelivery_converges(name: str, when: str) -> None:
    scenario = SCENARIOS[name]
    expected, calls = _reference(scenario)
    assert calls >= 1
    for call_number in range(1, calls + 1):
        with mock_aws():
            system, action = _fresh(scenario)
            with (
                crash_at(call_number, when, system.s3, system.dynamodb) as fired,
                pytest.raises(Crash),
            ):
                action()
            assert fired()
            action()  # redelivery (or the next scheduled clean)
            assert system.snapshot(KEYS) == expected, f"crash {when} call {call_number}"
            system.check_invariants(KEYS)


# --- a crash inside a concurrent batch ----------------------------------------------------------


def concurrent_batch(system: Harness) -> dict[str, Any]:
    """Three messages on two keys: `k`'s two writes in order, `other`'s delete beside them."""
    for n in range(3):
        system.clock.advance(1)
        system.replicator.handle(system.put("k", f"v{n}".encode()))
    system.replicator.handle(system.put("other", b"o"))
    system.clock.advance(1)
    put = system.put("k", b"v3")
    gone = system.delete("other")
    system.clock.advance(1)
    return sqs_batch(("m-put", put), ("m-gone", gone), ("m-put-again", system.put("k", b"v4")))


def _batch_reference() -> tuple[Any, int]:
    with mock_aws():
        system = Harness.create()
        batch = concurrent_batch(system)
        threads: set[int] = set()

        def note(**_: Any) -> None:
            threads.add(threading.get_ident())

        system.s3.meta.events.register("before-call.*.*", note)
        with counting_calls(system.s3, system.dynamodb) as calls:
            assert ReplicatorApp(system.settings, system.replicator)(batch) == failures()
        system.s3.meta.events.unregister("before-call.*.*", note)
        assert len(threads) == 2, "the two keys are handled on threads of their own"
        return system.snapshot(KEYS), sum(calls.values())


@pytest.mark.slow  # a crash at every call of a concurrent batch
@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_in_one_key_of_a_concurrent_batch_fails_its_message_alone(when: str) -> None:
    expected, calls = _batch_reference()
    for call_number in range(1, calls + 1):
        with mock_aws():
            system = Harness.create()
            batch = concurrent_batch(system)
            app = ReplicatorApp(system.settings, system.replicator)
            with crash_at(call_number, when, system.s3, system.dynamodb) as fired:
                answer = app(batch)
            assert fired()
            [failed] = answer["batchItemFailures"]  # the message of the crashed thread, alone
            redelivery = [r for r in batch["Records"] if r["messageId"] == failed["itemIdentifier"]]
            assert app({"Records": redelivery}) == failures()
            assert system.snapshot(KEYS) == expected, f"crash {when} call {call_number}"
            system.check_invariants(KEYS)
