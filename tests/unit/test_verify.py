"""Verify: every kind of inconsistency is found without a Scan, and --repair makes it consistent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from objbackup.core.config import Settings
from objbackup.core.filters import KeyFilter
from objbackup.core.naming import copy_name, copy_timestamp, key_digest, parse_copy_name
from objbackup.core.records import DISOWNED, CopyRecord
from objbackup.sandbox.patches import archive_tier, install_all
from objbackup.verify import Verifier, VerifyReport
from tests.harness import REGION, FakeClock, Harness, counting_calls
from tests.profiles import examples
from tests.queue import create_queue, drain
from tests.unit.test_unsupported import SSE_C

LONG = "long/" + "é" * 500  # 1005 bytes: its copy names are hashed
KEYS = ["a", "dir/b c+d", "ünï%20", LONG]
RETAIN = 2


class World:
    """A harness with a replicator queue, and a verifier of it."""

    def __init__(self) -> None:
        install_all()
        start = datetime.now(UTC).replace(microsecond=0)
        self.system = Harness.create(
            Settings(source_bucket="src", backup_bucket="bak", table="copies", retain=RETAIN),
            clock=FakeClock(start),
        )
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queue = create_queue(self.sqs)

    def verifier(self, key_filter: KeyFilter | None = None) -> Verifier:
        return Verifier(
            self.system.settings,
            self.system.s3,
            self.system.table,
            self.sqs,
            self.queue,
            key_filter=key_filter,
            clock=self.tick,
        )

    def tick(self) -> datetime:
        """Event times follow real time, as on AWS, where they are never before LastModified."""
        clock = self.system.clock
        clock.now = max(clock.now, datetime.now(UTC).replace(microsecond=0)) + timedelta(seconds=1)
        return clock.now

    def write(self, key: str, body: bytes) -> None:
        self.tick()
        self.system.replicator.handle(self.system.put(key, body))

    def verify(self, **kwargs: Any) -> VerifyReport:
        return self.verifier().run(**kwargs)

    def settle(self) -> None:
        drain(self.sqs, self.queue, self.system)


@pytest.fixture
def world(moto_aws: None) -> World:
    return World()


def _kinds(report: VerifyReport) -> list[tuple[str, str | None]]:
    return [(f.kind, f.object) for f in report.findings]


def _backup(world: World, name: str, body: bytes = b"x") -> None:
    world.system.s3.put_object(Bucket="bak", Key=name, Body=body)


def test_a_consistent_deployment_has_no_findings(world: World) -> None:
    for key in KEYS:
        world.write(key, b"1")
        world.write(key, b"2")
    world.write("gone", b"1")
    world.system.replicator.handle(world.system.delete("gone"))
    report = world.verify()
    assert report.consistent and report.remaining == 0
    assert report.to_json()["checked"] == {"objects": 4, "copies": 9, "records": 9}


def test_each_kind_is_found_and_repaired(world: World) -> None:
    s = world.system
    for key in ("orphaned", "dangling", "absent", "crowded", "stale"):
        world.write(key, b"1")
    world.write("dangling", b"2")
    # orphan copy: a record lost
    s.table.delete(s.active("orphaned")[0])
    # record without copy: the newest copy lost (the older one still holds v1)
    s.s3.delete_object(Bucket="bak", Key=s.active("dangling")[0].copy_name)
    # copies of an absent object: deleted with no event
    s.s3.delete_object(Bucket="src", Key="absent")
    # over retention: two older copies added
    for second in (1, 2):
        old = copy_timestamp(datetime(2020, 1, 1, 0, 0, second, tzinfo=UTC), "01")
        name = copy_name("crowded", old)
        _backup(world, name)
        s.table.put_new(CopyRecord("crowded", old, name, etag="old"))
    # stale: overwritten with no event; missing: written with no event
    s.s3.put_object(Bucket="src", Key="stale", Body=b"2")
    s.s3.put_object(Bucket="src", Key="missing", Body=b"1")

    found = world.verify()
    assert not found.consistent
    assert sorted(_kinds(found)) == sorted(
        [
            ("orphan-copy", "orphaned"),
            ("record-without-copy", "dangling"),
            ("copies-of-absent-object", "absent"),
            ("over-retention", "crowded"),
            ("missing-copy", "missing"),
            ("missing-copy", "orphaned"),
            ("stale-copy", "dangling"),
            ("stale-copy", "stale"),
        ]
    )
    dry = world.verify(repair=True, dry_run=True)
    assert dry.repaired == 0 and all(
        f.action and f.action.startswith("would") for f in dry.findings
    )
    assert _kinds(world.verify()) == _kinds(found), "a dry run changed something"

    repaired = world.verify(repair=True)
    assert repaired.remaining == 0 and repaired.repaired == len(found.findings)
    actions = {(str(f.kind), f.object): f.action for f in repaired.findings}
    assert actions[("orphan-copy", "orphaned")] == "deleted the copy"
    assert actions[("record-without-copy", "dangling")] == "deleted the record"
    assert actions[("over-retention", "crowded")] == "pruned the oldest 1"
    assert "disowned 1 copy" in (actions[("copies-of-absent-object", "absent")] or "")
    world.settle()
    again = world.verify()
    assert again.consistent, again.to_json()
    keys = {"orphaned", "dangling", "absent", "crowded", "stale", "missing"}
    s.check_invariants(keys)
    assert s.read_backup(s.active("stale")[0].copy_name) == b"2"


def test_long_keys_are_resolved_through_their_hash(world: World) -> None:
    s = world.system
    world.write(LONG, b"1")
    stray = copy_name(LONG, copy_timestamp(datetime(2020, 1, 1, tzinfo=UTC), "01"))
    assert parse_copy_name(stray) is not None and parse_copy_name(stray).key is None  # type: ignore[union-attr]
    _backup(world, stray)
    gone = "gone/" + "x" * 1000
    unknown = copy_name(gone, copy_timestamp(datetime(2020, 1, 1, tzinfo=UTC), "01"))
    _backup(world, unknown)
    _backup(world, "not a copy name")
    report = world.verify(repair=True)
    assert sorted(_kinds(report)) == [
        ("foreign-object", None),
        ("orphan-copy", LONG),
        ("unresolved-copy", None),
    ]
    by_kind = {str(f.kind): f for f in report.findings}
    assert by_kind["orphan-copy"].repaired and by_kind["orphan-copy"].copy_name == stray
    assert not by_kind["unresolved-copy"].repaired and not by_kind["foreign-object"].repaired
    assert report.remaining == 2
    assert s.backup_keys() == {s.active(LONG)[0].copy_name, unknown, "not a copy name"}


def test_a_versioned_source_names_a_deleted_long_key(world: World) -> None:
    s = world.system
    s.s3.put_bucket_versioning(Bucket="src", VersioningConfiguration={"Status": "Enabled"})
    world.write(LONG, b"1")
    s.s3.delete_object(Bucket="src", Key=LONG)  # a delete marker, and no event
    report = world.verify(repair=True)
    assert _kinds(report) == [("copies-of-absent-object", LONG)] and report.remaining == 0
    assert [r.status for r in s.copies(LONG)] == ["disowned"]
    assert world.verify().consistent


@pytest.mark.parametrize("versioned", [False, True])
def test_a_record_nothing_else_names_is_seen_only_on_a_versioned_source(
    world: World, versioned: bool
) -> None:
    """The documented gap: a key gone from the source whose copy is gone too leaves an active
    record nothing outside the table names. A versioned source still names the key."""
    s = world.system
    if versioned:
        s.s3.put_bucket_versioning(Bucket="src", VersioningConfiguration={"Status": "Enabled"})
    world.write("a", b"1")
    s.s3.delete_object(Bucket="bak", Key=s.active("a")[0].copy_name)
    s.s3.delete_object(Bucket="src", Key="a")
    report = world.verify(repair=True)
    if versioned:
        assert _kinds(report) == [("record-without-copy", "a")] and report.remaining == 0
        assert s.copies("a") == []
    else:
        assert report.consistent, "only a Scan could find it"
        assert len(s.active("a")) == 1


def test_a_disowned_long_key_resolves_its_copies(world: World) -> None:
    s = world.system
    world.write(LONG, b"1")
    world.system.replicator.handle(s.delete(LONG))
    assert world.verify().consistent


def test_objects_the_filter_excludes_need_no_copy(world: World) -> None:
    s = world.system
    s.s3.put_object(Bucket="src", Key="logs/x", Body=b"1")
    s.s3.put_object(Bucket="src", Key="data/x", Body=b"1")
    report = world.verifier(KeyFilter(exclude=("logs/",))).run()
    assert _kinds(report) == [("missing-copy", "data/x")]
    assert report.objects == 1


def test_copies_of_a_key_excluded_after_it_was_backed_up_are_found_once_it_is_deleted(
    world: World,
) -> None:
    s = world.system
    world.write("logs/old", b"1")
    # The filter narrows to exclude logs/; the delete's event never reaches the replicator.
    s.s3.delete_object(Bucket="src", Key="logs/old")
    excluding = world.verifier(KeyFilter(exclude=("logs/",)))
    report = excluding.run(repair=True)
    assert _kinds(report) == [("copies-of-absent-object", "logs/old")]
    assert report.repaired == 1
    assert [r.status for r in s.copies("logs/old")] == [DISOWNED]
    s.clock.advance(60)
    s.cleaner.run()
    assert s.copies("logs/old") == [] and s.backup_keys() == set()
    assert excluding.run().consistent


def test_reads_are_queries_one_per_key(world: World) -> None:
    for key in ("a", "b", "c"):
        world.write(key, b"1")
    with counting_calls(world.system.dynamodb) as calls:
        world.verify()
    # three keys on the table key, DisownedIndex for disowned and for cleaning records
    assert calls == {"dynamodb.Query": 5}


def test_a_record_a_cleaner_claimed_is_found_through_the_index(world: World) -> None:
    s = world.system
    world.write("gone", b"1")
    s.replicator.handle(s.delete("gone"))
    [claimed] = s.table.claim(s.table.disowned())
    s.s3.delete_object(Bucket="bak", Key=claimed.copy_name)  # the clean stopped here
    report = world.verify(repair=True)
    assert _kinds(report) == [("record-without-copy", "gone")] and report.remaining == 0
    assert s.copies("gone") == [] and world.verify().consistent


@pytest.mark.parametrize("again", [{}, SSE_C], ids=["plain", "sse-c"])
def test_absent_object_that_returns_is_left_alone(world: World, again: dict[str, Any]) -> None:
    s = world.system
    world.write("k", b"1")
    verifier = world.verifier()
    s.s3.delete_object(Bucket="src", Key="k")
    state = verifier._read()
    findings = verifier._check(state)
    # written again before the repair (with SSE-C, its HEAD answers 400: it is there all the same)
    s.s3.put_object(Bucket="src", Key="k", Body=b"1", **again)
    [finding] = verifier._repair(findings, state, dry_run=False)
    assert not finding.repaired and "in the source again" in (finding.action or "")
    assert len(s.active("k")) == 1


def test_orphan_whose_record_appears_and_record_whose_copy_appears_are_left_alone(
    world: World,
) -> None:
    """The replicator copies, then records: between verify's check and its repair both can land."""
    s = world.system
    world.write("k", b"1")
    [record] = s.active("k")
    body = s.read_backup(record.copy_name)
    s.table.delete(record)
    world.write("j", b"1")
    [lost] = s.active("j")
    s.s3.delete_object(Bucket="bak", Key=lost.copy_name)
    verifier = world.verifier()
    state = verifier._read()
    findings = [f for f in verifier._check(state) if f.kind != "missing-copy"]
    assert [f.kind for f in findings] == ["orphan-copy", "record-without-copy"]
    s.table.put_new(record)  # the record lands
    _backup(world, lost.copy_name, body)  # the copy lands
    repaired = verifier._repair(findings, state, dry_run=False)
    assert [f.repaired for f in repaired] == [False, False]
    assert all("since the check; run verify again" in (f.action or "") for f in repaired)
    assert world.verify().consistent


# --- random corruption --------------------------------------------------------------------

CORRUPTIONS = [
    "lose-copy",
    "lose-record",
    "orphan",
    "extra-copy",
    "delete-unseen",
    "overwrite-unseen",
    "create-unseen",
]


def _corrupt(world: World, what: str, key: str, n: int) -> None:
    s = world.system
    records = s.copies(key)
    when = copy_timestamp(datetime(2020, 1, 1, 0, 0, n % 60, tzinfo=UTC), f"{n:04X}")
    if what == "lose-copy" and records:
        s.s3.delete_object(Bucket="bak", Key=records[n % len(records)].copy_name)
    elif what == "lose-record" and records:
        s.table.delete(records[n % len(records)])
    elif what == "orphan":
        _backup(world, copy_name(key, when))
    elif what == "extra-copy":
        _backup(world, copy_name(key, when))
        s.table.put_new(CopyRecord(key, when, copy_name(key, when), etag="old"))
    elif what == "delete-unseen":
        s.s3.delete_object(Bucket="src", Key=key)
    elif what in ("overwrite-unseen", "create-unseen"):
        s.s3.put_object(Bucket="src", Key=key, Body=f"unseen {n}".encode())


def _consistent(system: Harness, keys: set[str]) -> bool:
    try:
        system.check_invariants(keys)
    except Exception:  # an assertion, or a record whose copy is gone (NoSuchKey)
        return False
    return True


@pytest.fixture
def fresh_worlds(aws_credentials: None) -> Iterator[None]:
    yield


@settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    writes=st.lists(st.tuples(st.sampled_from(KEYS), st.binary(max_size=4)), max_size=6),
    corruptions=st.lists(
        st.tuples(st.sampled_from(CORRUPTIONS), st.sampled_from(KEYS), st.integers(0, 99)),
        min_size=1,
        max_size=5,
    ),
    versioned=st.booleans(),
)
def test_random_corruption_is_found_and_repaired(
    fresh_worlds: None,
    writes: list[tuple[str, bytes]],
    corruptions: list[tuple[str, str, int]],
    versioned: bool,
) -> None:
    with mock_aws():
        world = World()
        if versioned:
            world.system.s3.put_bucket_versioning(
                Bucket="src", VersioningConfiguration={"Status": "Enabled"}
            )
        for key, body in writes:
            world.write(key, body)
        for what, key, n in corruptions:
            _corrupt(world, what, key, n)
        hidden = _hidden(world, versioned)
        keys = set(KEYS) - hidden
        before = _consistent(world.system, keys)
        found = world.verify(repair=True)
        assert found.consistent == before, found.to_json()
        # Hashed copies of the long key, gone from the source without a trace, cannot be tied to
        # a record without a Scan: reported, left alone.
        left = [f for f in found.findings if not f.repaired]
        assert all(f.kind == "unresolved-copy" for f in left), found.to_json()
        if left:
            assert LONG not in world.system.source_keys() | _ever(world, versioned)
            assert all(
                parse_copy_name(f.copy_name or "").digest == key_digest(LONG)  # type: ignore[union-attr]
                for f in left
            )
        world.settle()
        after = world.verify()
        assert [f.copy_name for f in after.findings] == [f.copy_name for f in left]
        # What an operator who knows the key does: `objbackup list KEY`, then remove both.
        for f in left:
            assert f.copy_name is not None
            world.system.s3.delete_object(Bucket="bak", Key=f.copy_name)
            for record in world.system.copies(LONG):
                if record.copy_name == f.copy_name:
                    world.system.table.delete(record)
        assert world.verify().consistent
        world.system.check_invariants(keys)


def _ever(world: World, versioned: bool) -> set[str]:
    """Keys with any version or delete marker in a versioned source."""
    if not versioned:
        return set()
    pages = world.system.s3.get_paginator("list_object_versions").paginate(Bucket="src")
    return {
        v["Key"]
        for page in pages
        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    }


def _hidden(world: World, versioned: bool) -> set[str]:
    """Verify's documented gap: keys whose records nothing outside the table names (not the
    source, its versions, a copy name, a disowned record); only a Scan would find them."""
    s = world.system
    named = s.source_keys() | _ever(world, versioned)
    named |= {p.key for n in s.backup_keys() if (p := parse_copy_name(n)) and p.key}
    return {
        key
        for key in KEYS
        if key not in named
        and (records := s.copies(key))
        and all(r.status == "active" for r in records)
    }


def test_objects_s3_cannot_copy_are_warnings_repair_leaves_alone(world: World) -> None:
    s = world.system
    world.write("fine", b"1")
    world.write("then archived", b"1")
    # written with no event (or refused by the replicator): no copy can be made of these
    s.s3.put_object(Bucket="src", Key="cold", Body=b"1", StorageClass="DEEP_ARCHIVE")
    s.s3.put_object(Bucket="src", Key="tiered", Body=b"1", StorageClass="INTELLIGENT_TIERING")
    archive_tier("src", "tiered", "ARCHIVE_ACCESS")
    s.s3.put_object(Bucket="src", Key="secret", Body=b"1", **SSE_C)
    # overwritten by an archived version: the newest copy is older, and no newer one can be made
    s.s3.put_object(Bucket="src", Key="then archived", Body=b"2", StorageClass="GLACIER")
    # restored: copyable, so an ordinary missing copy
    s.s3.put_object(Bucket="src", Key="restored", Body=b"1", StorageClass="GLACIER")
    s.s3.restore_object(Bucket="src", Key="restored", RestoreRequest={"Days": 1})
    _backup(world, "not a copy name")

    report = world.verify(repair=True)
    unsupported = {f.object: f for f in report.findings if f.kind == "unsupported-object"}
    assert set(unsupported) == {"cold", "tiered", "secret", "then archived"}
    assert "DEEP_ARCHIVE" in unsupported["cold"].detail
    assert "INTELLIGENT_TIERING ARCHIVE_ACCESS" in unsupported["tiered"].detail
    assert "SSE-C" in unsupported["secret"].detail
    assert unsupported["then archived"].copy_name == s.active("then archived")[0].copy_name
    assert all(not f.repaired and "left alone" in (f.action or "") for f in unsupported.values())
    assert sorted(_kinds(report))[0] == ("foreign-object", None)
    assert ("missing-copy", "restored") in _kinds(report)
    assert (report.errors, report.warnings, report.errors_remaining) == (1, 5, 0)
    document = report.to_json()
    assert (document["errors"], document["warnings"], document["errors_remaining"]) == (1, 5, 0)
    assert {f["object"]: f["severity"] for f in document["findings"]} == {
        None: "warning",
        "cold": "warning",
        "tiered": "warning",
        "secret": "warning",
        "then archived": "warning",
        "restored": "error",
    }
    world.settle()
    again = world.verify()
    assert again.errors == 0 and again.warnings == 5
    assert s.read_backup(s.active("restored")[0].copy_name) == b"1"


def test_only_objects_without_a_copy_are_headed(world: World) -> None:
    for key in ("a", "b", "c"):
        world.write(key, b"1")
    with counting_calls(world.system.s3) as calls:
        world.verify()
    assert calls["s3.HeadObject"] == 0
    world.system.s3.put_object(Bucket="src", Key="new", Body=b"1")
    world.system.s3.put_object(Bucket="src", Key="b", Body=b"2")
    with counting_calls(world.system.s3) as calls:
        report = world.verify()
    assert _kinds(report) == [("missing-copy", "new"), ("stale-copy", "b")]
    assert calls["s3.HeadObject"] == 2
