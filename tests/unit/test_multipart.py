"""Big objects against the invocation's deadline: batches stop in time, part copies run in
parallel, and a multipart copy that does not fit one invocation resumes in the next."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from objbackup.core.batch import process_sqs_batch
from objbackup.core.deadline import MAX_MARGIN, Deadline
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.runtime import ReplicatorApp
from tests.harness import Harness
from tests.unit.test_batch import failures, sqs_batch

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

Json = dict[str, Any]
PART = 100  # bytes; moto's 5 MiB minimum part size is lowered by the `small_parts` fixture


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto complete uploads of tiny parts (S3 wants 5 MiB; the logic is the same)."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)


@pytest.fixture
def big(system: Harness, small_parts: None) -> Harness:
    """A deployment whose objects of 1000 bytes or more are copied in parts of PART bytes."""
    return system.with_settings(multipart_threshold=1000, part_bytes=PART)


class PartsContext:
    """A Lambda context whose time runs out once `parts` part copies have started."""

    def __init__(self, s3: S3Client, parts: int) -> None:
        self.started = 0
        self.parts = parts
        self._lock = threading.Lock()
        self._s3 = s3

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.started += 1

    def get_remaining_time_in_millis(self) -> int:
        return 60_000 if self.started < self.parts else 0

    @contextmanager
    def running(self) -> Iterator[PartsContext]:
        self._s3.meta.events.register("before-call.s3.UploadPartCopy", self._count)
        try:
            yield self
        finally:
            self._s3.meta.events.unregister("before-call.s3.UploadPartCopy", self._count)


def run_invocation(app: ReplicatorApp, s3: S3Client, batch: Json, parts: int) -> Json:
    with PartsContext(s3, parts).running() as context:
        return app(batch, context)


def uploads(system: Harness) -> list[Json]:
    listed = system.s3.list_multipart_uploads(Bucket=system.settings.backup_bucket)
    return [dict(u) for u in listed.get("Uploads", [])]


@contextmanager
def copies_by_key(system: Harness) -> Iterator[Counter[str]]:
    """How many CopyObject calls were made of each source key."""
    made: Counter[str] = Counter()

    def count(params: Json, **_: Any) -> None:
        made[params["CopySource"]["Key"]] += 1

    system.s3.meta.events.register("provide-client-params.s3.CopyObject", count)
    try:
        yield made
    finally:
        system.s3.meta.events.unregister("provide-client-params.s3.CopyObject", count)


def _redeliver(batch: Json, answer: Json) -> Json:
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    return {"Records": [r for r in batch["Records"] if r["messageId"] in failed]}


def test_a_big_object_is_copied_over_several_invocations_and_its_neighbours_once(
    big: Harness,
) -> None:
    content = os.urandom(40 * PART)
    described = {"ContentType": "text/csv", "Metadata": {"owner": "ops"}, "Tagging": "team=ops"}
    events = {
        "m-a": big.put("a", b"small a"),
        "m-big": big.put("big", content, **described),
        "m-z": big.put("z", b"small z"),
    }
    app = ReplicatorApp(big.settings, big.replicator)
    batch = sqs_batch(*events.items())
    answers: list[Json] = []
    with copies_by_key(big) as made:
        while batch["Records"] and len(answers) < 40:
            answers.append(run_invocation(app, big.s3, batch, parts=3))
            batch = _redeliver(batch, answers[-1])
            assert len(uploads(big)) <= 1
    # Smallest first: the first invocation copies `a` and `z`, then stops the big copy in time.
    assert answers[0] == failures("m-big")
    assert len(answers) >= 3, "40 parts, at most 3 + 10 in flight per invocation"
    assert answers[-1] == failures()
    assert made == {"a": 1, "z": 1}, "a neighbour of the big object was copied twice"
    [record] = big.active("big")
    assert big.read_backup(record.copy_name) == content
    head = big.s3.head_object(Bucket=big.settings.backup_bucket, Key=record.copy_name)
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"owner": "ops"})
    assert head["ETag"].endswith('-40"')
    tags = big.s3.get_object_tagging(Bucket=big.settings.backup_bucket, Key=record.copy_name)
    assert tags["TagSet"] == [{"Key": "team", "Value": "ops"}]
    big.check_invariants({"a", "big", "z"})


def test_part_copies_run_in_parallel(big: Harness) -> None:
    system = big.with_settings(part_bytes=600)
    both = threading.Barrier(2, timeout=10)

    def meet(**_: Any) -> None:  # each of the two parts waits until the other is in flight too
        both.wait()

    system.s3.meta.events.register("before-call.s3.UploadPartCopy", meet)
    try:
        system.replicator.handle(system.put("big", os.urandom(1200)))
    finally:
        system.s3.meta.events.unregister("before-call.s3.UploadPartCopy", meet)
    assert not both.broken
    system.check_invariants({"big"})


def test_a_stopped_copy_of_an_overwritten_object_is_aborted(big: Harness) -> None:
    app = ReplicatorApp(big.settings, big.replicator)
    batch = sqs_batch(("m-old", big.put("big", os.urandom(40 * PART))))
    assert run_invocation(app, big.s3, batch, parts=1) == failures("m-old")
    assert len(uploads(big)) == 1
    big.clock.advance(1)
    newer = big.put("big", os.urandom(40 * PART))
    assert run_invocation(app, big.s3, batch, parts=100) == failures()
    assert big.copies("big") == [] and uploads(big) == []  # superseded: the newer event copies
    big.replicator.handle(newer)
    big.check_invariants({"big"})
    assert uploads(big) == []


def test_a_stopped_copy_that_became_stale_is_aborted(big: Harness) -> None:
    system = big.with_settings(retain=1)
    app = ReplicatorApp(system.settings, system.replicator)
    batch = sqs_batch(("m-old", system.put("big", os.urandom(40 * PART))))
    assert run_invocation(app, system.s3, batch, parts=1) == failures("m-old")
    system.clock.advance(1)
    system.replicator.handle(system.put("big", os.urandom(40 * PART)))
    assert len(uploads(system)) == 1  # the old event's, still in progress
    assert run_invocation(app, system.s3, batch, parts=100) == failures()
    assert uploads(system) == []
    system.check_invariants({"big"})


def test_a_changed_part_size_starts_the_copy_over(big: Harness) -> None:
    app = ReplicatorApp(big.settings, big.replicator)
    content = os.urandom(40 * PART)
    batch = sqs_batch(("m", big.put("big", content)))
    assert run_invocation(app, big.s3, batch, parts=1) == failures("m")
    bigger = big.with_settings(part_bytes=2 * PART)
    answer = run_invocation(ReplicatorApp(bigger.settings, bigger.replicator), big.s3, batch, 100)
    assert answer == failures()
    [record] = big.active("big")
    assert big.read_backup(record.copy_name) == content
    assert uploads(big) == []


# --- the batch against its deadline -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_message_starts_once_the_deadline_is_near(system: Harness) -> None:
    clock = Clock()
    deadline = Deadline.after(10, margin=3, clock=clock)
    handled: list[str] = []

    def handle(event: ObjectEvent) -> None:
        handled.append(event.key)
        clock.now += 4  # each message takes 4 s: after two, 2 s are left, under the margin

    batch = sqs_batch(*[(f"m{n}", system.put(f"k{n}")) for n in range(4)])
    answer = process_sqs_batch(batch, handle, system.settings.source_bucket, deadline)
    assert handled == ["k0", "k1"]
    assert answer == failures("m2", "m3")


def test_the_deadline_comes_from_the_lambda_context() -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    deadline = Deadline.from_context(Context())
    assert deadline is not None
    assert deadline.margin == MAX_MARGIN and deadline.remaining() == 300
    short = Deadline.from_context(type("C", (), {"get_remaining_time_in_millis": lambda _: 5000})())
    assert short is not None and short.margin == pytest.approx(1.0)
    assert Deadline.from_context(None) is None


def test_a_resurfaced_version_is_never_resumed_from_another_versions_parts(big: Harness) -> None:
    """A delete that makes an older version current backs up what a HEAD finds, not what the
    event says; a redelivery may find another version, so the copy starts over."""
    bucket = big.settings.source_bucket
    big.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    older, newest = os.urandom(40 * PART), os.urandom(40 * PART)
    big.replicator.handle(big.put("k", older))
    big.clock.advance(1)
    current = big.put("k", newest)
    big.replicator.handle(current)
    assert current.version_id is not None
    big.s3.delete_object(Bucket=bucket, Key="k", VersionId=current.version_id)
    app = ReplicatorApp(big.settings, big.replicator)
    batch = sqs_batch(("m-delete", big.event(Kind.DELETED, "k", version_id=current.version_id)))
    assert run_invocation(app, big.s3, batch, parts=1) == failures("m-delete")
    assert len(uploads(big)) == 1  # parts of `older`, under the delete event's copy name
    big.clock.advance(1)
    written = os.urandom(40 * PART)
    later = big.put("k", written)
    assert run_invocation(app, big.s3, batch, parts=1000) == failures()
    resurfaced = big.active("k")[0]
    assert big.read_backup(resurfaced.copy_name) == written, "parts of two versions mixed"
    big.replicator.handle(later)
    big.check_invariants({"k"})
