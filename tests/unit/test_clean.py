"""The cleaner at scale and under failure: it streams, stops in time, isolates each record's
failure, never starves the rest behind a poisoned record, and counts each copy once across runs
(scheduled runs never overlap; `clean --now` may run beside one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from objbackup.core.aws import Clients
from objbackup.core.clean import LEASE_SECONDS, Cleaner, CleanReport
from objbackup.core.deadline import Deadline
from objbackup.core.naming import iso_now
from objbackup.core.records import CLEANING, DISOWNED, CopyRecord
from objbackup.core.runtime import SCHEDULED_LEASE, SKIPPED, CleanerApp
from objbackup.core.table import CopyTable
from tests.harness import REGION, Harness
from tests.interleave import Actor, interleave
from tests.profiles import examples

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import WriteRequestTypeDef

SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def seed(
    system: Harness, count: int, prefix: str = "obj", names: list[str] | None = None
) -> list[str]:
    """`count` copies disowned an hour ago (past any grace), with their records; their names."""
    disowned_at = iso_now(system.clock() - timedelta(hours=1))
    keys = names or [f"{prefix}/{n:05d}" for n in range(count)]
    items: list[WriteRequestTypeDef] = []
    for key in keys:
        record = CopyRecord(
            source_object=key,
            copy_timestamp="2026-01-01T00:00:00Z~0",
            copy_name=f"{key}@c",
            status=DISOWNED,
            disowned_at=disowned_at,
        )
        system.s3.put_object(Bucket=system.settings.backup_bucket, Key=record.copy_name, Body=b"")
        items.append({"PutRequest": {"Item": record.to_item()}})
    for start in range(0, len(items), 25):
        system.dynamodb.batch_write_item(
            RequestItems={system.settings.table: items[start : start + 25]}
        )
    return [f"{key}@c" for key in keys]


def left(system: Harness) -> tuple[set[str], set[str]]:
    """Copy names still in the table (disowned or cleaning), and keys still in the bucket."""
    records = {
        r.copy_name for status in (DISOWNED, CLEANING) for r in system.table.disowned(status=status)
    }
    return records, system.backup_keys()


def countdown(chunks: int) -> Deadline:
    """A deadline that lets exactly `chunks` chunks start."""
    ticks = iter(range(chunks, -(10**9), -1))
    return Deadline(lambda: float(next(ticks)), 0.5)


# --- keys a DeleteObjects body cannot carry -----------------------------------------------------


def test_a_key_xml_cannot_carry_is_cleaned_and_does_not_sink_its_chunk(system: Harness) -> None:
    names = seed(system, 0, names=["plain/1", "bad\x01key", "cr\rkey", "plain/2"])
    report = system.cleaner.run()
    assert (report.deleted, report.failed) == (4, 0), report.errors
    assert sorted(report.copies) == sorted(names)
    assert left(system) == (set(), set())


# --- streaming and the deadline -----------------------------------------------------------------


def test_claims_and_deletes_begin_before_the_index_is_read_to_its_end(system: Harness) -> None:
    seed(system, 60)
    order: list[str] = []

    def note(model: Any, **_: Any) -> None:
        order.append(model.name)

    cleaner = Cleaner(system.settings, system.s3, system.table, system.clock, 20, page_size=20)
    for client in (system.s3, system.dynamodb):
        client.meta.events.register("before-call.*.*", note)
    report = cleaner.run()
    assert report.deleted == 60
    last_query = max(i for i, name in enumerate(order) if name == "Query")
    assert order.index("TransactWriteItems") < order.index("Query", 1) < last_query
    assert order.index("DeleteObjects") < last_query


def test_a_run_stops_before_its_deadline_and_the_next_goes_on(system: Harness) -> None:
    names = seed(system, 50)
    cleaner = Cleaner(system.settings, system.s3, system.table, system.clock, 20, page_size=20)
    first = cleaner.run(deadline=countdown(1))
    assert (first.deleted, first.stopped_early) == (20, True)
    assert first.remaining >= 1
    second = cleaner.run(deadline=countdown(10))
    assert (second.deleted, second.stopped_early, second.remaining) == (30, False, 0)
    assert sorted(first.copies + second.copies) == sorted(names)
    assert left(system) == (set(), set())


def test_the_report_lists_a_bounded_number_of_copies_and_counts_all(
    system: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("objbackup.core.clean.LISTED", 3)
    seed(system, 10)
    report = system.cleaner.run()
    assert (report.deleted, len(report.copies), report.copies_omitted) == (10, 3, 7)
    assert report.to_json()["copies_omitted"] == 7


# --- failures: isolated per record, no starvation -----------------------------------------------


class Faults:
    """Per-key faults on the cleaner's clients: any call that names a faulty key is refused."""

    S3: ClassVar[dict[str, str]] = {
        "throttle": "SlowDown",
        "5xx": "InternalError",
        "denied": "AccessDenied",
    }
    DDB: ClassVar[dict[str, str]] = {
        "throttle": "ThrottlingException",
        "5xx": "InternalServerError",
        "denied": "AccessDeniedException",
    }

    def __init__(self, system: Harness) -> None:
        self.system = system
        self.s3: dict[str, str] = {}  # copy name -> kind
        self.ddb: dict[str, str] = {}  # source object -> kind
        self.refused = 0

    def _raise(self, code: str, operation: str) -> None:
        self.refused += 1
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

    def _s3(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])]
        keys += [params["Key"]] if "Key" in params else []
        for key in keys:
            if key in self.s3:
                kind = self.s3[key]
                self._raise("MalformedXML" if kind == "malformed" else self.S3[kind], model.name)

    def _ddb(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        keys = [params["Key"]] if "Key" in params else []
        keys += [i["Update"]["Key"] for i in params.get("TransactItems", [])]
        for requests in params.get("RequestItems", {}).values():
            keys += [r["DeleteRequest"]["Key"] for r in requests]
        for key in keys:
            kind = self.ddb.get(key["source_object"]["S"])
            if kind is not None:
                self._raise(
                    "ValidationException" if kind == "malformed" else self.DDB[kind], model.name
                )

    @property
    def hooks(self) -> list[tuple[Any, str, Callable[..., None]]]:
        return [
            (self.system.s3, "before-parameter-build.s3.DeleteObjects", self._s3),
            (self.system.s3, "before-parameter-build.s3.DeleteObject", self._s3),
            (self.system.dynamodb, "before-parameter-build.dynamodb.TransactWriteItems", self._ddb),
            (self.system.dynamodb, "before-parameter-build.dynamodb.UpdateItem", self._ddb),
            (self.system.dynamodb, "before-parameter-build.dynamodb.BatchWriteItem", self._ddb),
        ]

    def __enter__(self) -> Faults:
        for client, event, hook in self.hooks:
            client.meta.events.register(event, hook)
        return self

    def __exit__(self, *_: object) -> None:
        for client, event, hook in self.hooks:
            client.meta.events.unregister(event, hook)


def test_a_poisoned_record_never_starves_the_others(system: Harness) -> None:
    names = seed(system, 40)
    poison = names[0]  # first in index order, in the first chunk of every run
    cleaner = Cleaner(system.settings, system.s3, system.table, system.clock, 5, page_size=5)
    reports: list[CleanReport] = []
    with Faults(system) as faults:
        faults.s3[poison] = "denied"
        for _ in range(4):  # each run may start only two chunks
            system.clock.advance(60)
            reports.append(cleaner.run(deadline=countdown(2)))
        assert sum(r.deleted for r in reports) == 39
        assert left(system) == ({poison}, {poison})
        # it failed once, with its reason, then waited out its claim, not first in line again
        assert [r.errors for r in reports if r.errors] == [[f"{poison}: AccessDenied"]]
        assert [r.failed for r in reports] == [1, 0, 0, 0]
        system.clock.advance(LEASE_SECONDS)
        again = cleaner.run()
        assert (again.deleted, again.failed) == (0, 1)  # retried once its claim lapsed
    system.clock.advance(LEASE_SECONDS + 1)
    assert cleaner.run().copies == [poison]  # and cleaned once the fault is gone
    assert left(system) == (set(), set())


FAULT_KINDS = st.sampled_from(["throttle", "5xx", "denied", "malformed"])


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    s3_faults=st.dictionaries(st.integers(0, 29), FAULT_KINDS, max_size=6),
    ddb_faults=st.dictionaries(st.integers(0, 29), FAULT_KINDS, max_size=6),
    chunk=st.integers(1, 12),
)
def test_random_per_key_faults_leave_only_the_faulty_keys(
    aws_credentials: None, s3_faults: dict[int, str], ddb_faults: dict[int, str], chunk: int
) -> None:
    with mock_aws():
        system = Harness.create()
        names = seed(system, 30)
        cleaner = Cleaner(system.settings, system.s3, system.table, system.clock, chunk, chunk)
        faulty = {names[i] for i in s3_faults} | {names[i] for i in ddb_faults}
        deleted: list[str] = []
        with Faults(system) as faults:
            faults.s3 = {names[i]: kind for i, kind in s3_faults.items()}
            faults.ddb = {names[i].removesuffix("@c"): kind for i, kind in ddb_faults.items()}
            while True:  # until a run makes no progress
                report = cleaner.run()
                deleted += report.copies
                assert report.failed == len(report.errors)
                system.clock.advance(LEASE_SECONDS + 1)
                if not report.deleted:
                    break
        records, copies = left(system)
        # while the faults persist, exactly the faulty keys remain, copy and record
        assert (records, copies) == (faulty, faulty)
        report = cleaner.run()  # the faults are gone
        deleted += report.copies
        assert report.failed == 0, report.errors
        assert left(system) == (set(), set())
        assert sorted(deleted) == sorted(names)  # each copy deleted and counted exactly once
        assert report.reclaimed == 0


# --- concurrent runs ------------------------------------------------------------------------------


def other_cleaner(system: Harness) -> tuple[Cleaner, Clients]:
    clients = Clients.create(region=REGION)
    table = CopyTable(clients.dynamodb, system.settings.table, system.settings.disowned_index)
    return Cleaner(system.settings, clients.s3, table, system.clock, 3, page_size=3), clients


def run_two_cleans(schedule: list[int]) -> tuple[list[str], list[CleanReport]]:
    system = Harness.create()
    names = seed(system, 5)
    # and a crashed run's claims, long lapsed
    crashed = seed(system, 2, prefix="crashed")
    system.table.claim(
        [r for r in system.table.disowned() if r.source_object.startswith("crashed")],
        until=iso_now(system.clock()),
    )
    system.clock.advance(1)
    actors = []
    for name in ("scheduled", "now"):
        cleaner, clients = other_cleaner(system)
        actors.append(Actor(name, cleaner.run, [clients.s3, clients.dynamodb]))
    trace = interleave(actors, schedule)
    reports: list[CleanReport] = []
    for actor in actors:
        assert actor.error is None, (actor.name, actor.error, trace)
        reports.append(actor.result)
    everything = sorted(names + crashed)
    counted = sorted(c for r in reports for c in r.copies)
    assert counted == everything, trace  # each copy counted by exactly one run
    assert sum(r.deleted for r in reports) == len(everything)
    assert [r.reclaimed for r in reports] == [0, 0], trace  # no undelete ran
    assert sum(r.failed for r in reports) == 0, [r.errors for r in reports]
    assert left(system) == (set(), set())
    return trace, reports


@pytest.mark.slow  # every boundary of both cleans: minutes; the random interleavings stay fast
@pytest.mark.usefixtures("aws_credentials")
def test_two_cleans_at_every_call_boundary_count_each_copy_once() -> None:
    with mock_aws():
        solo, _ = run_two_cleans([0] * 200)
    for first, other in ((0, 1), (1, 0)):
        for pause_at in range(solo.count("scheduled") + 1):
            with mock_aws():
                run_two_cleans([first] * pause_at + [other] * 200)


@settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(schedule=st.lists(st.integers(0, 1), min_size=1, max_size=40))
def test_two_cleans_random_interleavings_count_each_copy_once(
    aws_credentials: None, schedule: list[int]
) -> None:
    with mock_aws():
        run_two_cleans(schedule)


# --- scheduled runs never overlap -----------------------------------------------------------------


def test_a_scheduled_clean_skips_while_another_holds_the_lease(system: Harness) -> None:
    seed(system, 3)
    app = CleanerApp(system.settings, system.cleaner)
    now = system.clock()
    later = iso_now(now + timedelta(seconds=LEASE_SECONDS))
    assert system.table.take_lease(SCHEDULED_LEASE, "other-run", iso_now(now), later)
    skipped = app(SCHEDULED)
    assert (skipped["skipped"], skipped["deleted"]) == (SKIPPED, 0)
    assert len(left(system)[1]) == 3
    direct = app({"dry_run": False})  # clean --now runs beside it
    assert (direct["deleted"], direct["skipped"]) == (3, None)
    seed(system, 2, prefix="more")
    system.clock.advance(LEASE_SECONDS + 1)  # the other run's lease ran out (it died)
    assert app(SCHEDULED)["deleted"] == 2
    seed(system, 1, prefix="last")
    assert app(SCHEDULED)["deleted"] == 1  # a finished run released its lease


def test_scheduled_cleans_in_two_containers_never_overlap(system: Harness) -> None:
    seed(system, 6)
    apps, actors = [], []
    for name in ("a", "b"):
        cleaner, clients = other_cleaner(system)
        app = CleanerApp(system.settings, cleaner)
        apps.append(app)
        actors.append(Actor(name, partial(app, SCHEDULED), [clients.s3, clients.dynamodb]))
    interleave(actors, [0, 1, 0, 1, 0, 1])  # both start before either finishes
    results = [a.result for a in actors]
    assert sorted(r["skipped"] or "" for r in results) == ["", SKIPPED]
    assert sum(r["deleted"] for r in results) == 6
