"""An object that comes back on a versioned source (a delete marker removed, the current version
deleted) gets its disowned copies back, in whatever order the events arrive; verify finds and
repairs copies left disowned (by the code before this rule, or a lost event)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws

from objbackup.core.aws import Clients
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.records import ACTIVE, CLEANING, DISOWNED, CopyRecord
from objbackup.core.replicate import Replicator
from objbackup.core.resurface import came_back
from objbackup.core.table import CopyTable
from tests.harness import REGION, Crash, Harness, counting_calls, crash_at
from tests.interleave import Actor, interleave
from tests.unit.test_verify import World, _kinds

CAME_BACK = "disowned-copies-of-present-object"


@pytest.fixture
def world(moto_aws: None) -> World:
    return World()


def _versioned(system: Harness) -> None:
    system.s3.put_bucket_versioning(
        Bucket=system.settings.source_bucket, VersioningConfiguration={"Status": "Enabled"}
    )


def _marker(system: Harness, key: str) -> ObjectEvent:
    """A plain DELETE on a versioned source: a delete marker hides the object."""
    response = system.s3.delete_object(Bucket=system.settings.source_bucket, Key=key)
    return system.event(
        Kind.DELETED, key, version_id=response["VersionId"], deletion_type="Delete Marker Created"
    )


def _delete_version(system: Harness, key: str, version_id: str) -> ObjectEvent:
    """A DELETE naming a version (a delete marker's too): that version is gone for good, and S3
    sends Object Deleted with deletion-type "Permanently Deleted" (classic ObjectRemoved:Delete)."""
    system.s3.delete_object(Bucket=system.settings.source_bucket, Key=key, VersionId=version_id)
    return system.event(
        Kind.DELETED, key, version_id=version_id, deletion_type="Permanently Deleted"
    )


def _two_versions(system: Harness, key: str = "k") -> list[str]:
    """Two backed-up versions of `key`; their copy names, newest first."""
    _versioned(system)
    for body in (b"one", b"two"):
        system.clock.advance(1)
        system.replicator.handle(system.put(key, body))
    return [r.copy_name for r in system.active(key)]


def test_removing_a_delete_marker_reactivates_the_disowned_copies(system: Harness) -> None:
    names = _two_versions(system)
    system.clock.advance(1)
    marker = _marker(system, "k")
    assert system.replicator.handle(marker).disowned == 2
    system.clock.advance(1)
    outcome = system.replicator.handle(_delete_version(system, "k", marker.version_id or ""))
    assert (outcome.outcome, outcome.reactivated) == ("resurfaced-reactivated", 2)
    copies = system.copies("k")
    assert [(r.copy_name, r.status, r.disowned_at) for r in copies] == [
        (name, ACTIVE, None) for name in names
    ]
    assert system.backup_keys() == set(names)  # the current bytes had a copy: none is made
    system.clock.advance(60)
    assert system.cleaner.run().deleted == 0
    system.check_invariants({"k"})


Step = Callable[[Harness, dict[str, Any]], None]


def _hide(system: Harness, state: dict[str, Any]) -> None:
    state["marker"] = _marker(system, "k")


def _unhide(system: Harness, state: dict[str, Any]) -> None:
    state["removal"] = _delete_version(system, "k", state["marker"].version_id)


def _handle(name: str) -> Step:
    def handle(system: Harness, state: dict[str, Any]) -> None:
        system.replicator.handle(state[name])

    return handle


ORDERS: dict[str, list[Step]] = {
    "each-handled-at-once": [_hide, _handle("marker"), _unhide, _handle("removal")],
    "both-late": [_hide, _unhide, _handle("marker"), _handle("removal")],
    "removal-first": [_hide, _unhide, _handle("removal"), _handle("marker")],
    "twice-each": [
        _hide,
        _handle("marker"),
        _unhide,
        _handle("removal"),
        _handle("marker"),
        _handle("removal"),
    ],
}


def _marker_world(order: str) -> Any:
    with mock_aws():
        system = Harness.create()
        _two_versions(system)
        state: dict[str, Any] = {}
        for step in ORDERS[order]:
            system.clock.advance(1)
            step(system, state)
        system.clock.advance(60)
        system.cleaner.run()
        system.check_invariants({"k"})
        return system.snapshot({"k"})


@pytest.mark.usefixtures("aws_credentials")
def test_marker_events_in_any_order_end_as_if_never_hidden() -> None:
    """The delete marker's event may be handled before its removal (copies disowned, then taken
    back) or after (the object is there: nothing to do), and either may come twice."""
    ends = {order: _marker_world(order) for order in ORDERS}
    assert all(end == ends["both-late"] for end in ends.values()), ends


def _hidden_then_rewritten_then_unhidden(system: Harness, late: bool) -> None:
    """v1; a delete marker; v2 written and its version deleted (the marker is current again); the
    marker removed: v1 is back. `late`: the v2 delete's event is handled after the removal's."""
    _versioned(system)
    system.replicator.handle(system.put("k", b"one"))
    system.clock.advance(1)
    system.replicator.handle(marker := _marker(system, "k"))
    system.clock.advance(1)
    system.replicator.handle(v2 := system.put("k", b"two"))
    system.clock.advance(1)
    gone = _delete_version(system, "k", v2.version_id or "")
    if not late:
        assert system.replicator.handle(gone).disowned == 1  # the marker hides the key again
    system.clock.advance(1)
    system.replicator.handle(_delete_version(system, "k", marker.version_id or ""))
    if late:
        assert system.replicator.handle(gone).outcome == "still-exists"


@pytest.mark.usefixtures("aws_credentials")
def test_deleting_the_current_version_brings_back_every_copy_disowned_since() -> None:
    """Both copies come back (newest first), and "one" is backed up again above "two"'s copy,
    whichever of the last two events is handled first."""
    ends = []
    for late in (False, True):
        with mock_aws():
            system = Harness.create()
            _hidden_then_rewritten_then_unhidden(system, late)
            active = system.active("k")
            assert [system.read_backup(r.copy_name) for r in active] == [b"one", b"two", b"one"]
            assert len(system.copies("k")) == 3
            system.check_invariants({"k"})
            ends.append(system.snapshot({"k"}))
    assert ends[0] == ends[1]


def test_a_copy_written_after_an_earlier_delete_keeps_that_delete(system: Harness) -> None:
    """A copy disowned before the version now current was written stays disowned: that life of
    the key ended with a delete that still stands."""
    _versioned(system)
    system.replicator.handle(system.put("k", b"one"))
    system.clock.advance(1)
    system.replicator.handle(_marker(system, "k"))
    system.clock.advance(1)
    system.replicator.handle(system.put("k", b"two"))
    system.clock.advance(1)
    system.replicator.handle(second := _marker(system, "k"))
    system.clock.advance(1)
    outcome = system.replicator.handle(_delete_version(system, "k", second.version_id or ""))
    assert (outcome.outcome, outcome.reactivated) == ("resurfaced-reactivated", 1)
    assert [system.read_backup(r.copy_name) for r in system.active("k")] == [b"two"]
    assert [r.status for r in system.copies("k")] == [ACTIVE, "disowned"]


def test_a_copy_the_cleaner_claimed_is_never_taken_back(system: Harness) -> None:
    names = _two_versions(system)
    system.clock.advance(1)
    system.replicator.handle(marker := _marker(system, "k"))
    newest = next(r for r in system.copies("k") if r.copy_name == names[0])
    assert system.table.claim([newest]) != []  # a clean claimed "two" and stopped
    system.clock.advance(1)
    outcome = system.replicator.handle(_delete_version(system, "k", marker.version_id or ""))
    # "one" comes back; "two" is being cleaned, so the current bytes get a new copy
    assert (outcome.outcome, outcome.reactivated) == ("resurfaced-copied", 1)
    statuses = {r.copy_name: r.status for r in system.copies("k")}
    assert statuses[names[1]] == ACTIVE and statuses[names[0]] == CLEANING
    system.cleaner.run()
    system.check_invariants({"k"})


def _removal_scenario(system: Harness) -> Callable[[], object]:
    _two_versions(system)
    system.clock.advance(1)
    system.replicator.handle(marker := _marker(system, "k"))
    system.clock.advance(1)
    removal = _delete_version(system, "k", marker.version_id or "")
    return lambda: system.replicator.handle(removal)


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_at_any_call_of_the_comeback_then_redelivery_converges(when: str) -> None:
    with mock_aws():
        system = Harness.create()
        action = _removal_scenario(system)
        names = [r.copy_name for r in system.copies("k")]
        with counting_calls(system.s3, system.dynamodb) as calls:
            action()
        expected = system.snapshot({"k"})
    assert [(n, ACTIVE, None) for n in names] == [(r[2], r[3], r[4]) for r in expected[0]]
    for call_number in range(1, sum(calls.values()) + 1):
        with mock_aws():
            system = Harness.create()
            action = _removal_scenario(system)
            with (
                crash_at(call_number, when, system.s3, system.dynamodb) as fired,
                pytest.raises(Crash),
            ):
                action()
            assert fired()
            action()  # the redelivery
            assert system.snapshot({"k"}) == expected, f"crash {when} call {call_number}"


# --- verify --------------------------------------------------------------------------------


def _came_back_with_copies_disowned(world: World, key: str, old_code: bool) -> None:
    """Two versions backed up, hidden by a delete marker (copies disowned), the marker removed.
    `old_code`: the removal handled as before this rule (the current bytes copied anew, the
    disowned copies left to the cleaner); else never handled (an event lost, or a race)."""
    s = world.system
    for body in (b"one", b"two"):
        world.write(key, body)
    world.tick()
    s.replicator.handle(marker := _marker(s, key))
    world.tick()
    removal = _delete_version(s, key, marker.version_id or "")
    if old_code:
        head = s.s3.head_object(Bucket="src", Key=key)
        s.replicator.replicate(
            replace(removal, kind=Kind.CREATED, etag=head["ETag"].strip('"'), size=3)
        )


@pytest.mark.parametrize("old_code", [True, False])
def test_verify_finds_and_repairs_copies_left_disowned(world: World, old_code: bool) -> None:
    s = world.system
    _versioned(s)
    _came_back_with_copies_disowned(world, "k", old_code)
    # not a finding: a key deleted, then written anew, keeps its old copies disowned
    world.write("new", b"1")
    s.replicator.handle(_marker(s, "new"))
    world.write("new", b"2")
    found = world.verify()
    assert _kinds(found) == [(CAME_BACK, "k")], found.to_json()
    assert _kinds(world.verify(repair=True, dry_run=True)) == _kinds(found)
    assert _kinds(world.verify()) == _kinds(found), "a dry run changed something"
    repaired = world.verify(repair=True)
    assert repaired.remaining == 0, repaired.to_json()
    world.settle()
    assert world.verify().consistent
    # retain is 2: the newest copies come back; the old code's copy of "two" is one of them
    expected = [b"two", b"two"] if old_code else [b"two", b"one"]
    assert [s.read_backup(r.copy_name) for r in s.active("k")] == expected
    s.clock.advance(60)
    s.cleaner.run()
    s.check_invariants({"k", "new"})
    assert world.verify().consistent


def _replicator(system: Harness, clients: Clients) -> Replicator:
    table = CopyTable(clients.dynamodb, system.settings.table, system.settings.disowned_index)
    return Replicator(system.settings, clients.s3, table, system.clock)


def _race(k: int) -> None:
    """The marker's event paused before its call k while the marker is removed and the removal's
    event handled to its end; then the marker's event goes on."""
    system = Harness.create()
    names = _two_versions(system)
    system.clock.advance(1)
    marker = _marker(system, "k")
    removal = system.event(
        Kind.DELETED, "k", version_id=marker.version_id, deletion_type="Permanently Deleted"
    )
    first, second = Clients.create(region=REGION), Clients.create(region=REGION)

    def unhide() -> object:
        bucket = system.settings.source_bucket
        assert marker.version_id is not None  # a delete marker has one
        second.s3.delete_object(Bucket=bucket, Key="k", VersionId=marker.version_id)
        return _replicator(system, second).handle(removal)

    actors = [
        Actor(
            "marker", lambda: _replicator(system, first).handle(marker), [first.s3, first.dynamodb]
        ),
        Actor("removal", unhide, [second.s3, second.dynamodb]),
    ]
    interleave(actors, [0] * k + [1] * 20)
    assert [a.error for a in actors] == [None, None]
    statuses = [(r.copy_name, r.status) for r in system.copies("k")]
    assert statuses == [(n, ACTIVE) for n in names], f"marker event paused before call {k + 1}"
    system.check_invariants({"k"})


@pytest.mark.slow  # every interleaving of the race
@pytest.mark.usefixtures("aws_credentials")
def test_the_marker_event_racing_its_removal_leaves_no_copy_disowned() -> None:
    """Paused after finding the object gone, the marker's event lets the removal's event run: it
    sees the copies still active and takes nothing back; then the first disowns them. Its second
    look finds the object back and takes them back."""
    with mock_aws():
        alone = Harness.create()
        _two_versions(alone)
        with counting_calls(alone.s3, alone.dynamodb) as calls:
            alone.replicator.handle(_marker(alone, "k"))
    for k in range(sum(calls.values()) + 1):
        with mock_aws():
            _race(k)


def test_verify_sends_the_event_when_the_copies_back_are_not_the_current_content(
    world: World,
) -> None:
    """v1, hidden; v2 written, its version deleted (hidden again); the marker removed and that
    event lost: v1 is back, v2's copy is the newest of those taken back, so v1 is sent again."""
    s = world.system
    _versioned(s)
    world.write("k", b"one")
    world.tick()
    s.replicator.handle(marker := _marker(s, "k"))
    world.write("k", b"two")
    world.tick()
    s.replicator.handle(_delete_version(s, "k", s.active("k")[0].version_id or ""))
    world.tick()
    _delete_version(s, "k", marker.version_id or "")  # its event is lost
    found = world.verify()
    assert _kinds(found) == [(CAME_BACK, "k")], found.to_json()
    [finding] = world.verify(repair=True).findings
    assert finding.repaired and "sent an Object Created event" in (finding.action or "")
    world.settle()
    assert world.verify().consistent
    assert [s.read_backup(r.copy_name) for r in s.active("k")] == [b"one", b"two"]


def test_came_back_orders_a_disown_against_the_first_copy_to_the_microsecond() -> None:
    """Within one second: a key deleted then written anew keeps its old copy disowned; a version
    hidden and brought back gets its copy back."""
    second = "2026-11-25T12:00:00"
    old = CopyRecord("k", f"{second}Z~1", "k@1", DISOWNED, f"{second}.200000Z", 1, "e1", "v1")
    old = replace(old, created_at=f"{second}.100000Z")
    new = CopyRecord("k", f"{second}Z~2", "k@2", ACTIVE, None, 1, "e2", "v2", f"{second}.500000Z")
    assert came_back([new, old], "v2", "e2") == []
    assert came_back([new, old], "v1", "e1") == [old]
    assert came_back([new, old], "null", "e1") == []
