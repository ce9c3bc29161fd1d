"""The functions' front doors: SQS batches with partial failures, direct invokes, and the Lambda
entry points themselves, all against moto in process."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import objbackup.lambda_bundle.cleaner as cleaner_entry
import objbackup.lambda_bundle.replicator as replicator_entry
from objbackup.core.batch import KEY_WORKERS, process_sqs_batch
from objbackup.core.config import ENV_TABLE
from objbackup.core.deadline import Deadline
from objbackup.core.errors import ConfigError, ForeignBucket, MalformedEvent
from objbackup.core.events import Kind, ObjectEvent, encode_classic, encode_eventbridge
from objbackup.core.logs import LOGGER
from objbackup.core.runtime import CleanerApp, ReplicatorApp
from tests.harness import Harness

EVENTS = Path(__file__).resolve().parent.parent / "events"
Json = dict[str, Any]


def load(name: str) -> Json:
    data: Json = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def to_eventbridge(event: ObjectEvent) -> Json:
    """`event` as S3 sends it to EventBridge: the encoder's fields over AWS's sample (whose
    `account`, `region`, `request-id`, `requester` and `source-ip-address` stay, unread)."""
    created = event.kind is Kind.CREATED
    if not created and event.deletion_type is None:
        event = replace(event, deletion_type="Permanently Deleted")
    message = load(
        "eventbridge_object_created.json" if created else "eventbridge_object_deleted.json"
    )
    encoded = encode_eventbridge(event)
    sample = {k: v for k, v in message["detail"].items() if k not in ("reason", "deletion-type")}
    return message | encoded | {"detail": sample | encoded["detail"]}


def sqs_record(body: str, message_id: str) -> Json:
    """One SQS record as Lambda's event source mapping passes it (the sample's first record)."""
    record: Json = copy.deepcopy(load("sqs_batch.json")["Records"][0])
    record["messageId"] = message_id
    record["body"] = body
    record["md5OfBody"] = hashlib.md5(body.encode("utf-8")).hexdigest()
    return record


def sqs_batch(*messages: tuple[str, ObjectEvent | Json | str]) -> Json:
    """A batch of (message id, content): an event, a JSON object, or a raw body."""
    records = []
    for message_id, content in messages:
        if isinstance(content, ObjectEvent):
            content = to_eventbridge(content)
        body = content if isinstance(content, str) else json.dumps(content)
        records.append(sqs_record(body, message_id))
    return {"Records": records}


def failures(*message_ids: str) -> Json:
    return {"batchItemFailures": [{"itemIdentifier": m} for m in message_ids]}


def log_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, Json]]:
    """Every line of the `objbackup` logger, parsed: each one must be a JSON object."""
    return [
        (record.levelno, json.loads(record.getMessage()))
        for record in caplog.records
        if record.name == LOGGER.name
    ]


def object_lines(caplog: pytest.LogCaptureFixture) -> list[Json]:
    return [fields for _, fields in log_lines(caplog) if fields["event"] == "object"]


def error_lines(caplog: pytest.LogCaptureFixture) -> list[Json]:
    return [fields for level, fields in log_lines(caplog) if level == logging.ERROR]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    return caplog


@pytest.fixture
def app(system: Harness) -> ReplicatorApp:
    return ReplicatorApp(system.settings, system.replicator)


def fail_copies_of(system: Harness, key: str) -> None:
    """Make every CopyObject of `key` fail as S3 does when it has an internal error."""

    def fail(params: Json, **_: Any) -> None:
        if params.get("CopySource", {}).get("Key") == key:
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "We encountered an internal error"}},
                "CopyObject",
            )

    system.s3.meta.events.register("provide-client-params.s3.CopyObject", fail)


# --- SQS batches ------------------------------------------------------------------------------

SAMPLE_CONTENTS = {
    "reports/q1 2026.csv": b"first object\n",
    "café/menu + 100%.txt": b"second object\n",
}


def test_sample_batch_fails_only_the_malformed_message(
    system: Harness, app: ReplicatorApp, logs: pytest.LogCaptureFixture
) -> None:
    batch = load("sqs_batch.json")
    first, second, broken = (r["messageId"] for r in batch["Records"])
    for record, (key, body) in zip(batch["Records"], SAMPLE_CONTENTS.items(), strict=False):
        etag = system.s3.put_object(Bucket="src", Key=key, Body=body)["ETag"]
        # The sample's etags are these bodies' MD5s: its events describe exactly these objects.
        assert json.loads(record["body"])["detail"]["object"]["etag"] == etag.strip('"')

    assert app(batch) == failures(broken)

    for key, body in SAMPLE_CONTENTS.items():
        [copy_record] = system.active(key)
        assert system.read_backup(copy_record.copy_name) == body
    lines = object_lines(logs)
    # the two keys run concurrently: their lines come in either order
    assert sorted((f["message_id"], f["key"], f["action"], f["outcome"]) for f in lines) == sorted(
        [
            (first, "reports/q1 2026.csv", "replicate", "copied"),
            (second, "café/menu + 100%.txt", "replicate", "copied"),
        ]
    )
    for fields in lines:
        assert fields["copy_name"] == system.active(fields["key"])[0].copy_name
        assert isinstance(fields["duration_ms"], int | float) and fields["duration_ms"] >= 0
    [rejected] = error_lines(logs)
    assert rejected["message_id"] == broken
    assert (rejected["event"], rejected["error"]) == ("rejected", "MalformedEvent")
    system.check_invariants(set(SAMPLE_CONTENTS))


def test_batch_reports_exactly_the_failed_messages(
    system: Harness, app: ReplicatorApp, logs: pytest.LogCaptureFixture
) -> None:
    system.replicator.handle(system.put("gone.txt", b"old"))
    good = system.put("good.txt", b"good")
    boom = system.put("boom.txt", b"boom")
    foreign = replace(system.put("foreign.txt"), bucket="someone-elses-bucket")
    unsupported = to_eventbridge(system.put("restored.txt")) | {"detail-type": "Object Restore"}
    delete = system.delete("gone.txt")
    fail_copies_of(system, "boom.txt")
    logs.clear()

    answer = app(
        sqs_batch(
            ("m-good", good),
            ("m-foreign", foreign),
            ("m-not-json", "Object Created: good.txt"),
            ("m-boom", boom),
            ("m-unsupported", unsupported),
            ("m-delete", delete),
            ("m-test-event", load("s3_test_event.json")),
        )
    )

    assert answer == failures("m-foreign", "m-not-json", "m-boom", "m-unsupported")
    assert system.read_backup(system.active("good.txt")[0].copy_name) == b"good"
    assert system.active("boom.txt") == []
    assert system.copies("foreign.txt") == [] and system.copies("restored.txt") == []
    assert {r.status for r in system.copies("gone.txt")} == {"disowned"}
    # one line per event handled, failed ones included (keys run concurrently: in any order)
    assert sorted((f["message_id"], f["action"], f["outcome"]) for f in object_lines(logs)) == [
        ("m-boom", "replicate", "error"),
        ("m-delete", "disown", "disowned"),
        ("m-good", "replicate", "copied"),
    ]
    # and one ERROR line per failed message, naming it
    assert [(f["message_id"], f["event"], f["error"]) for f in error_lines(logs)] == [
        ("m-foreign", "rejected", "ForeignBucket"),
        ("m-not-json", "rejected", "MalformedEvent"),
        ("m-boom", "failed", "ClientError"),
        ("m-unsupported", "rejected", "MalformedEvent"),
    ]


def classic(*events: ObjectEvent) -> Json:
    """One S3 notification (the classic format) carrying several records, put by PutObject."""
    sample = load("s3_notification_put.json")["Records"][0]
    encoded = encode_classic([replace(e, reason="ObjectCreated:Put") for e in events])
    return {"Records": [sample | r | {"s3": sample["s3"] | r["s3"]} for r in encoded["Records"]]}


def test_keys_of_a_batch_are_copied_concurrently(system: Harness, app: ReplicatorApp) -> None:
    keys = ["a", "b/c", "d e"]
    events = [(f"m-{n}", system.put(key, key.encode())) for n, key in enumerate(keys)]
    together = threading.Barrier(len(keys), timeout=10)

    def meet(**_: Any) -> None:  # each copy waits until the copies of the other keys are running
        together.wait()

    system.s3.meta.events.register("before-call.s3.CopyObject", meet)
    try:
        assert app(sqs_batch(*events)) == failures()
    finally:
        system.s3.meta.events.unregister("before-call.s3.CopyObject", meet)
    assert not together.broken
    system.check_invariants(set(keys))


def test_one_keys_events_run_one_at_a_time_in_position_order(system: Harness) -> None:
    first, second, third = (system.put("k", body) for body in (b"1", b"2", b"3"))
    other = system.put("other", b"x")
    running: list[str] = []
    order: list[str] = []
    lock = threading.Lock()

    def handle(event: ObjectEvent) -> None:
        with lock:
            assert event.key not in running, "two events of one key at once"
            running.append(event.key)
            order.append(event.event_id)
        time.sleep(0.01)  # a call in flight, so that overlapping handling would show
        with lock:
            running.remove(event.key)

    batch = sqs_batch(("m3", third), ("m1", first), ("o", other), ("m2", second), ("m1", first))
    answer = process_sqs_batch(batch, handle, "src", workers=KEY_WORKERS)
    assert answer == failures()
    assert [e for e in order if e != other.event_id] == [
        first.event_id,
        first.event_id,
        second.event_id,
        third.event_id,
    ]


def test_a_message_of_several_events_fails_if_one_of_them_fails(
    system: Harness, app: ReplicatorApp
) -> None:
    good, boom, alone = system.put("good", b"g"), system.put("boom", b"b"), system.put("alone")
    fail_copies_of(system, "boom")
    answer = app(sqs_batch(("m-both", classic(good, boom)), ("m-alone", alone)))
    assert answer == failures("m-both")
    assert len(system.active("alone")) == 1
    assert system.active("boom") == []


def test_no_event_starts_once_the_deadline_is_near_with_keys_in_parallel(system: Harness) -> None:
    out_of_time = threading.Event()
    deadline = Deadline(lambda: 0 if out_of_time.is_set() else 60, 1)
    pair = threading.Barrier(2, timeout=10)
    handled: list[str] = []

    def handle(event: ObjectEvent) -> None:
        handled.append(event.key)
        pair.wait()  # the two workers are both busy when time runs short
        out_of_time.set()

    batch = sqs_batch(*[(f"m{n}", system.put(f"k{n}")) for n in range(4)])
    answer = process_sqs_batch(batch, handle, "src", deadline, workers=2)
    assert sorted(handled) == ["k0", "k1"]
    assert answer == failures("m2", "m3")


def test_redelivered_messages_succeed_without_a_second_copy(
    system: Harness, app: ReplicatorApp, logs: pytest.LogCaptureFixture
) -> None:
    event = system.put("k", b"once")
    batch = sqs_batch(("m-1", event), ("m-1-again", event))
    assert app(batch) == failures()
    assert app(batch) == failures()
    assert [f["outcome"] for f in object_lines(logs)] == ["copied", "duplicate"] + ["duplicate"] * 2
    assert len(system.copies("k")) == 1
    system.check_invariants({"k"})


# --- direct invokes ---------------------------------------------------------------------------


def test_bare_eventbridge_event(
    system: Harness, app: ReplicatorApp, logs: pytest.LogCaptureFixture
) -> None:
    event = system.put("my photos/café + tea.jpg", b"tea")
    assert app(to_eventbridge(event)) == {"outcomes": ["copied"]}
    assert system.read_backup(system.active(event.key)[0].copy_name) == b"tea"
    [line] = object_lines(logs)
    assert (line["key"], line["outcome"], line["message_id"]) == (event.key, "copied", None)


def test_bare_classic_notification(system: Harness, app: ReplicatorApp) -> None:
    etag = system.s3.put_object(Bucket="src", Key="reports/100% done + café.csv", Body=b"x")["ETag"]
    notification = load("s3_notification_put.json")
    notification["Records"][0]["s3"]["object"].update(eTag=etag.strip('"'), size=1)
    assert app(notification) == {"outcomes": ["copied"]}
    assert len(system.active("reports/100% done + café.csv")) == 1


def test_bare_s3_test_event_does_nothing(system: Harness, app: ReplicatorApp) -> None:
    assert app(load("s3_test_event.json")) == {"outcomes": []}
    assert system.backup_keys() == set()


@pytest.mark.parametrize(
    "payload",
    [
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},
        {"hello": "world"},
        ["not", "an", "object"],
        "Object Created",
        None,
    ],
    ids=["no detail", "not an s3 event", "list", "string", "null"],
)
def test_bare_malformed_event_raises(
    app: ReplicatorApp, logs: pytest.LogCaptureFixture, payload: Any
) -> None:
    with pytest.raises(MalformedEvent) as caught:
        app(payload)
    assert type(caught.value) is MalformedEvent and caught.value.message_id is None
    [line] = [fields for _, fields in log_lines(logs)]
    assert (line["event"], line["error"]) == ("rejected", "MalformedEvent")


def test_bare_event_for_a_foreign_bucket_raises(system: Harness, app: ReplicatorApp) -> None:
    event = replace(system.put("k"), bucket="someone-elses-bucket")
    with pytest.raises(ForeignBucket):
        app(to_eventbridge(event))
    assert system.copies("k") == []


# --- the cleaner ------------------------------------------------------------------------------


@pytest.fixture
def cleaner_app(system: Harness) -> CleanerApp:
    return CleanerApp(system.settings, system.cleaner)


def disown(system: Harness, key: str) -> str:
    """Back `key` up, delete it, and return the name of its now disowned copy."""
    system.replicator.handle(system.put(key))
    system.replicator.handle(system.delete(key))
    [record] = system.copies(key)
    assert record.status == "disowned"
    return record.copy_name


def test_cleaner_dry_run_direct_invoke(system: Harness, cleaner_app: CleanerApp) -> None:
    name = disown(system, "k")
    system.clock.advance(1)
    report = cleaner_app(load("cleaner_direct_invoke.json"))
    assert report["dry_run"] is True
    assert (report["deleted"], report["failed"], report["copies"]) == (0, 0, [name])
    assert report["duration_ms"] >= 0
    assert system.backup_keys() == {name} and len(system.copies("k")) == 1


def test_cleaner_grace_override(system: Harness, cleaner_app: CleanerApp) -> None:
    name = disown(system, "k")
    system.clock.advance(5)
    assert cleaner_app({"grace_seconds": 60})["copies"] == []
    assert cleaner_app({})["copies"] == []  # the default grace, 10 s, is not over yet
    report = cleaner_app({"grace_seconds": 0})
    assert (report["dry_run"], report["deleted"], report["copies"]) == (False, 1, [name])
    assert system.backup_keys() == set() and system.copies("k") == []


def test_cleaner_on_its_schedule_uses_the_configured_grace(
    system: Harness, cleaner_app: CleanerApp
) -> None:
    name = disown(system, "k")
    scheduled = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111122223333",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:111122223333:rule/objbackup-cleaner-schedule"],
        "detail": {},
    }
    system.clock.advance(10)
    assert cleaner_app(scheduled)["deleted"] == 0
    system.clock.advance(1)
    assert cleaner_app(scheduled)["copies"] == [name]
    system.check_invariants({"k"})


@pytest.mark.parametrize(
    "options",
    [
        {"grace_seconds": "x"},
        {"grace_seconds": "10"},
        {"grace_seconds": True},
        {"grace_seconds": 1e12},  # overflowed `now - grace` in every clean
        {"dry_run": "yes"},
        {"dry_run": 1},
        {"dry_run": None},
    ],
)
def test_cleaner_rejects_invalid_options(
    system: Harness, cleaner_app: CleanerApp, options: Json
) -> None:
    name = disown(system, "k")
    system.clock.advance(60)
    with pytest.raises(MalformedEvent):
        cleaner_app(options)
    assert system.backup_keys() == {name}


@pytest.mark.parametrize("grace", [float("inf"), float("nan")], ids=["inf", "nan"])
def test_cleaner_rejects_non_finite_grace(cleaner_app: CleanerApp, grace: float) -> None:
    with pytest.raises(MalformedEvent):
        cleaner_app(json.loads(json.dumps({"grace_seconds": grace})))


# --- the real entry points --------------------------------------------------------------------


@pytest.fixture
def lambda_env(system: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The functions' environment as CloudFormation sets it, and cold containers."""
    for name, value in system.settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(replicator_entry._warm, "app", None)
    monkeypatch.setattr(cleaner_entry._warm, "app", None)
    # configure_lambda_logging() changes the shared `objbackup` logger; restore it afterwards.
    monkeypatch.setattr(LOGGER, "handlers", list(LOGGER.handlers))
    monkeypatch.setattr(LOGGER, "propagate", LOGGER.propagate)
    level = LOGGER.level
    yield system
    LOGGER.setLevel(level)


def printed_lines(capsys: pytest.CaptureFixture[str]) -> list[Json]:
    captured = capsys.readouterr()
    return [json.loads(line) for line in (captured.out + captured.err).splitlines()]


def test_replicator_entry_point(lambda_env: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    system = lambda_env
    batch = sqs_batch(
        ("m-1", system.put("a.txt", b"A")),
        ("m-2", system.put("b c+d.txt", b"B")),
        ("m-3", "{not json"),
    )
    assert replicator_entry.handler(batch, None) == failures("m-3")
    app = replicator_entry._warm.app
    assert isinstance(app, ReplicatorApp) and app.settings == system.settings
    assert system.read_backup(system.active("b c+d.txt")[0].copy_name) == b"B"
    # a warm container reuses its app
    assert replicator_entry.handler(batch, None) == failures("m-3")
    assert replicator_entry._warm.app is app
    lines = printed_lines(capsys)
    outcomes = [(f["message_id"], f["outcome"]) for f in lines if f["event"] == "object"]
    # The two keys run concurrently, so each invocation's lines come in either order.
    assert sorted(outcomes[:2]) == [("m-1", "copied"), ("m-2", "copied")]
    assert sorted(outcomes[2:]) == [("m-1", "duplicate"), ("m-2", "duplicate")]
    assert [f["message_id"] for f in lines if f["event"] == "rejected"] == ["m-3", "m-3"]
    system.check_invariants({"a.txt", "b c+d.txt"})


def test_cleaner_entry_point(lambda_env: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    system = lambda_env
    system.clock.now = datetime.now(UTC) - timedelta(minutes=1)  # the function uses the real clock
    name = disown(system, "k")

    report = cleaner_entry.handler(load("cleaner_direct_invoke.json"), None)
    assert (report["dry_run"], report["copies"]) == (True, [name])
    app = cleaner_entry._warm.app
    assert isinstance(app, CleanerApp) and app.settings == system.settings
    report = cleaner_entry.handler({}, None)
    assert (report["dry_run"], report["deleted"], report["copies"]) == (False, 1, [name])
    assert cleaner_entry._warm.app is app
    assert system.backup_keys() == set() and system.copies("k") == []
    assert [f["expired"] for f in printed_lines(capsys) if f["event"] == "clean"] == [1, 1]


def test_entry_point_without_its_settings_fails_and_stays_cold(
    lambda_env: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_TABLE)
    with pytest.raises(ConfigError, match=ENV_TABLE):
        replicator_entry.handler({"Records": []}, None)
    assert replicator_entry._warm.app is None
    with pytest.raises(ConfigError, match=ENV_TABLE):
        cleaner_entry.handler({}, None)
    assert cleaner_entry._warm.app is None
