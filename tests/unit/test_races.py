"""The cleaner racing undelete and the replicator on one key, interleaved at every AWS call.

Each actor runs with its own clients in its own thread and stops before each call; a schedule
(every "pause one actor at call k, run the other to its end" split, then hypothesis-drawn ones)
decides whose call comes next. Whatever the order:

* the cleaner never deletes an active copy: at rest every active record's copy is in the bucket,
  and every copy the cleaner reports deleted had a record that undelete did not reclaim;
* undelete and the cleaner never both win one record;
* after the restored object's own event and a later clean, invariants 1 to 3 hold, and a key
  re-written during its grace period keeps an active copy of its new content.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from objbackup.core.aws import Clients
from objbackup.core.clean import Cleaner, CleanReport
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.replicate import Replicator
from objbackup.core.table import CopyTable
from objbackup.restore import RestoreError, Restorer
from objbackup.undelete import Undeleter, UndeleteResult
from tests.harness import REGION, Harness
from tests.interleave import Actor, interleave
from tests.profiles import examples

KEY = "race/key.txt"
pytestmark = pytest.mark.usefixtures("aws_credentials")


def _clients() -> Clients:
    return Clients.create(region=REGION)


def _table(system: Harness, clients: Clients) -> CopyTable:
    return CopyTable(clients.dynamodb, system.settings.table, system.settings.disowned_index)


def cleaner_actor(system: Harness) -> Actor:
    clients = _clients()
    cleaner = Cleaner(system.settings, clients.s3, _table(system, clients), clock=system.clock)
    return Actor("cleaner", cleaner.run, [clients.s3, clients.dynamodb])


def undelete_actor(system: Harness) -> Actor:
    clients = _clients()
    s = system.settings
    restorer = Restorer(
        clients.s3, _table(system, clients), s.source_bucket, s.backup_bucket, s.multipart_threshold
    )
    undeleter = Undeleter(restorer, s.retain)

    def run() -> UndeleteResult:
        return undeleter.run(KEY)

    return Actor("undelete", run, [clients.s3, clients.dynamodb])


def replicator_actor(system: Harness, event: ObjectEvent, name: str) -> Actor:
    clients = _clients()
    replicator = Replicator(system.settings, clients.s3, _table(system, clients), system.clock)
    return Actor(name, lambda: replicator.handle(event), [clients.s3, clients.dynamodb])


def deleted_and_expired(system: Harness) -> ObjectEvent:
    """Three copies of KEY, the object deleted, its copies disowned and past the grace period."""
    for n in range(3):
        system.clock.advance(1)
        system.replicator.handle(system.put(KEY, f"v{n}".encode()))
    system.clock.advance(1)
    deleted = system.delete(KEY)
    system.replicator.handle(deleted)
    system.clock.advance(system.settings.grace_seconds + 1)
    return deleted


def settle(system: Harness, restored: bool) -> None:
    """What follows at rest: a restored object's own event, then a clean after the grace."""
    if restored and KEY in system.source_keys():
        head = system.s3.head_object(Bucket=system.settings.source_bucket, Key=KEY)
        system.clock.advance(1)
        event = system.event(
            Kind.CREATED, KEY, etag=head["ETag"].strip('"'), size=head["ContentLength"]
        )
        system.replicator.handle(event)
    system.clock.advance(system.settings.grace_seconds + 1)
    system.cleaner.run()
    system.check_invariants({KEY})


def active_copies_exist(system: Harness) -> None:
    for record in system.active(KEY):
        assert record.copy_name in system.backup_keys(), f"active copy {record.copy_name} deleted"


# --- undelete against the cleaner -------------------------------------------------------------


def run_undelete_race(schedule: list[int]) -> tuple[list[str], CleanReport]:
    system = Harness.create()
    deleted_and_expired(system)
    before = {r.copy_name: r for r in system.copies(KEY)}
    newest = system.copies(KEY)[0]
    actors = [cleaner_actor(system), undelete_actor(system)]
    trace = interleave(actors, schedule)
    cleaner, undelete = actors
    assert cleaner.error is None, cleaner.error
    report: CleanReport = cleaner.result
    cleaned = set(report.copies)
    if undelete.error is not None:
        # The cleaner won every copy: undelete must say so, and nothing came back.
        assert isinstance(undelete.error, RestoreError), undelete.error
        assert KEY not in system.source_keys()
        reclaimed: set[str] = set()
    else:
        result: UndeleteResult = undelete.result
        reclaimed = {r.copy_name for r in result.reactivated}
        assert result.restored_from is not None
        restored_bytes = system.read_source(KEY)
        # the newest copy the cleaner did not take is what comes back
        winners = [n for n in before if n not in cleaned]
        assert winners and restored_bytes == system.read_backup(
            max(winners, key=lambda n: before[n].copy_timestamp)
        )
        if newest.copy_name not in cleaned:
            assert restored_bytes == b"v2"
    assert not (reclaimed & cleaned), f"both won {reclaimed & cleaned} ({trace})"
    assert reclaimed | cleaned == set(before), trace  # each record went one way or the other
    active_copies_exist(system)
    settle(system, restored=True)
    return trace, report


@pytest.mark.slow  # every boundary of both actors: minutes; the random interleavings stay fast
def test_undelete_and_cleaner_at_every_call_boundary() -> None:
    # How many calls each makes alone bounds the splits worth trying.
    with mock_aws():
        solo, _ = run_undelete_race([0] * 100)  # the cleaner first, then undelete
    calls = {name: solo.count(name) for name in ("cleaner", "undelete")}
    assert calls["cleaner"] >= 4
    outcomes, reclaimed = set(), 0
    for first, other in ((0, 1), (1, 0)):
        for pause_at in range(calls["cleaner" if first == 0 else "undelete"] + 1):
            with mock_aws():
                trace, report = run_undelete_race([first] * pause_at + [other] * 100)
                outcomes.add(trace[-1])
                reclaimed += report.reclaimed
    assert outcomes == {"cleaner", "undelete"}  # both orders were exercised
    # and in some of them undelete took copies back after the cleaner had read them as expired
    assert reclaimed > 0


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(schedule=st.lists(st.integers(0, 1), min_size=1, max_size=40))
def test_undelete_and_cleaner_random_interleavings(schedule: list[int]) -> None:
    with mock_aws():
        run_undelete_race(schedule)


# --- the replicator against the cleaner ---------------------------------------------


def run_rewrite_race(schedule: list[int], late_delete: bool) -> list[str]:
    """KEY deleted, then written again before the clean; the cleaner, the replicator handling
    the new write, and (optionally) a late redelivery of the delete race each other."""
    system = Harness.create()
    deleted = deleted_and_expired(system)
    old = {r.copy_name for r in system.copies(KEY)}
    system.clock.advance(1)
    rewritten = system.put(KEY, b"new content")
    actors = [cleaner_actor(system), replicator_actor(system, rewritten, "replicator")]
    if late_delete:
        actors.append(replicator_actor(system, deleted, "late-delete"))
    trace = interleave(actors, schedule)
    for actor in actors:
        assert actor.error is None, (actor.name, actor.error, trace)
    report: CleanReport = actors[0].result
    assert set(report.copies) <= old, trace  # only the disowned copies were ever deleted
    active_copies_exist(system)
    [new] = system.active(KEY)
    assert system.read_backup(new.copy_name) == b"new content"
    settle(system, restored=False)
    assert [system.read_backup(r.copy_name) for r in system.active(KEY)] == [b"new content"]
    return trace


@pytest.mark.slow  # every boundary of both actors
def test_rewrite_during_grace_against_the_cleaner_at_every_call_boundary() -> None:
    with mock_aws():
        solo = run_rewrite_race([0] * 100, late_delete=False)
    for first, other in ((0, 1), (1, 0)):
        for pause_at in range(solo.count("cleaner" if first == 0 else "replicator") + 1):
            with mock_aws():
                run_rewrite_race([first] * pause_at + [other] * 100, late_delete=False)


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(schedule=st.lists(st.integers(0, 2), min_size=1, max_size=40))
def test_rewrite_cleaner_and_late_delete_random_interleavings(schedule: list[int]) -> None:
    with mock_aws():
        run_rewrite_race(schedule, late_delete=True)


def test_interleave_really_alternates() -> None:
    """The harness itself: a strict alternation shows up in the trace as asked."""
    with mock_aws():
        trace, _ = run_undelete_race([0, 1, 0, 1, 0, 1])
    assert trace[:6] == ["cleaner", "undelete"] * 3
