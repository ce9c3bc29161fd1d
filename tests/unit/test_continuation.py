"""A copy longer than the queue's 5 receives: each stop that made progress re-sends the event as a
new message (a fresh receive count) and acknowledges its own; a stop without progress, or a
continuation that cannot be sent, stays a batch item failure (redelivery, then the DLQ)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from objbackup.core.aws import Clients
from objbackup.core.config import (
    ENV_BACKUP_BUCKET,
    ENV_QUEUE_URL,
    ENV_SOURCE_BUCKET,
    ENV_TABLE,
    Settings,
)
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.runtime import ReplicatorApp
from tests.harness import REGION, Harness
from tests.unit.test_batch import failures, object_lines, sqs_record, to_eventbridge
from tests.unit.test_multipart import PART, run_invocation, uploads

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient

Json = dict[str, Any]
MAX_RECEIVES = 5  # cloudformation/replicator.yaml RedrivePolicy maxReceiveCount


@dataclass
class Queues:
    sqs: SQSClient
    url: str
    dead_letters: str

    def send(self, event: ObjectEvent) -> None:
        self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(to_eventbridge(event)))

    def receive(self, url: str | None = None) -> list[Json]:
        answer = self.sqs.receive_message(
            QueueUrl=url or self.url,
            MaxNumberOfMessages=10,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [dict(m) for m in answer.get("Messages", [])]


@pytest.fixture
def queues(moto_aws: None) -> Queues:
    """The replicator's queue and its dead-letter queue, redriven after 5 receives as deployed."""
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="replicator-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": MAX_RECEIVES}
    url = sqs.create_queue(
        QueueName="replicator-queue", Attributes={"RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    return Queues(sqs, url, dlq)


@pytest.fixture
def big(system: Harness, queues: Queues, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """Objects of 1000 bytes or more copied in parts of PART bytes; the queue URL configured."""
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    return system.with_settings(multipart_threshold=1000, part_bytes=PART, queue_url=queues.url)


def app_of(system: Harness, queues: Queues) -> ReplicatorApp:
    """The function as Lambda builds it (runtime wiring included), on the test's clients."""
    clients = Clients(s3=system.s3, dynamodb=system.dynamodb, sqs=queues.sqs)
    app = ReplicatorApp.create(system.settings, clients)
    app.replicator.copier.part_workers = 1  # so each invocation copies exactly one part
    return app


def poll(app: ReplicatorApp, system: Harness, queues: Queues, parts: int) -> list[int]:
    """The event source mapping: receive, invoke, delete what succeeded, release what failed.

    Returns each received message's receive count; ends once the queue is empty.
    """
    receives: list[int] = []
    for _ in range(200):
        messages = queues.receive()
        if not messages:
            return receives
        batch = {"Records": [sqs_record(m["Body"], m["MessageId"]) for m in messages]}
        answer = run_invocation(app, system.s3, batch, parts)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for message in messages:
            receives.append(int(message["Attributes"]["ApproximateReceiveCount"]))
            handle = message["ReceiptHandle"]
            if message["MessageId"] in failed:  # visible again at once, not after 30 minutes
                queues.sqs.change_message_visibility(
                    QueueUrl=queues.url, ReceiptHandle=handle, VisibilityTimeout=0
                )
            else:
                queues.sqs.delete_message(QueueUrl=queues.url, ReceiptHandle=handle)
    raise AssertionError("the queue never drained")


def test_a_copy_needing_more_invocations_than_receives_is_backed_up(
    big: Harness, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="objbackup")
    content = os.urandom(24 * PART)  # one part an invocation: 24 invocations
    event = big.put("huge", content)
    queues.send(event)
    receives = poll(app_of(big, queues), big, queues, parts=1)
    assert len(receives) == 24 > MAX_RECEIVES
    assert receives == [1] * len(receives), "a message came back: its receive count grew"
    assert queues.receive(queues.dead_letters) == []
    [record] = big.active("huge")
    assert record.copy_timestamp == event.position
    assert big.read_backup(record.copy_name) == content
    assert uploads(big) == []
    lines = [line for line in object_lines(caplog) if line["key"] == "huge"]
    assert [line["outcome"] for line in lines] == ["continued"] * (len(lines) - 1) + ["copied"]
    done = [line["parts_done"] for line in lines[:-1]]
    assert done == sorted(set(done)) and all(line["parts_total"] == 24 for line in lines[:-1])
    big.check_invariants({"huge"})


def test_without_the_queue_url_the_copy_is_redelivered_and_dead_lettered(
    big: Harness, queues: Queues
) -> None:
    """Today's behaviour without OBJBACKUP_QUEUE_URL: the gap the continuation closes."""
    plain = big.with_settings(queue_url=None)
    queues.send(plain.put("huge", os.urandom(100 * PART)))
    receives = poll(app_of(plain, queues), plain, queues, parts=1)
    assert receives == list(range(1, MAX_RECEIVES + 1))
    assert len(queues.receive(queues.dead_letters)) == 1
    assert plain.active("huge") == []


class TimeUpAt:
    """A Lambda context whose time runs out at the first call of `operation`."""

    def __init__(self, s3: S3Client, operation: str) -> None:
        self.up = False
        self._s3 = s3
        self._event = f"before-call.s3.{operation}"

    def _stop(self, **_: Any) -> None:
        self.up = True

    def get_remaining_time_in_millis(self) -> int:
        return 0 if self.up else 60_000

    @contextmanager
    def running(self) -> Iterator[TimeUpAt]:
        self._s3.meta.events.register(self._event, self._stop)
        try:
            yield self
        finally:
            self._s3.meta.events.unregister(self._event, self._stop)


def test_a_stop_without_progress_is_a_batch_failure(big: Harness, queues: Queues) -> None:
    app = app_of(big, queues)
    event = big.put("huge", os.urandom(40 * PART))
    first = {"Records": [sqs_record(json.dumps(to_eventbridge(event)), "m-1")]}
    assert run_invocation(app, big.s3, first, parts=1) == failures()  # progress: continued
    [continued] = queues.receive()
    again = {"Records": [sqs_record(continued["Body"], "m-2")]}
    # Out of time once the upload is found: no part starts, so nothing is re-sent.
    with TimeUpAt(big.s3, "ListParts").running() as context:
        assert app(again, context) == failures("m-2")
    assert queues.receive() == []
    assert len(uploads(big)) == 1  # kept for the redelivery


def test_a_continuation_that_cannot_be_sent_falls_back_to_a_batch_failure(
    big: Harness, queues: Queues, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="objbackup")
    gone = queues.sqs.create_queue(QueueName="deleted-queue")["QueueUrl"]
    queues.sqs.delete_queue(QueueUrl=gone)
    broken = big.with_settings(queue_url=gone)
    app = app_of(broken, queues)
    content = os.urandom(40 * PART)
    batch = {"Records": [sqs_record(json.dumps(to_eventbridge(broken.put("huge", content))), "m")]}
    assert run_invocation(app, big.s3, batch, parts=1) == failures("m")
    [line] = [fields for fields in _lines(caplog) if fields["event"] == "continuation-failed"]
    assert line["message_id"] == "m"
    assert run_invocation(app, big.s3, batch, parts=1000) == failures()  # redelivered: resumes
    [record] = broken.active("huge")
    assert broken.read_backup(record.copy_name) == content


def test_a_resurfaced_versions_copy_is_not_continued(big: Harness, queues: Queues) -> None:
    """Its copy starts over on every delivery (its ETag comes from a HEAD): re-sending it would
    only repeat work, so it stays a batch failure and keeps the receive count's bound."""
    bucket = big.settings.source_bucket
    big.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    big.replicator.handle(big.put("k", os.urandom(40 * PART)))
    big.clock.advance(1)
    current = big.put("k", os.urandom(40 * PART))
    big.replicator.handle(current)
    assert current.version_id is not None
    big.s3.delete_object(Bucket=bucket, Key="k", VersionId=current.version_id)
    deleted = big.event(Kind.DELETED, "k", version_id=current.version_id)
    batch = {"Records": [sqs_record(json.dumps(to_eventbridge(deleted)), "m-delete")]}
    assert run_invocation(app_of(big, queues), big.s3, batch, parts=1) == failures("m-delete")
    assert queues.receive() == []


def _lines(caplog: pytest.LogCaptureFixture) -> list[Json]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "objbackup"]


def test_the_queue_url_is_read_from_the_environment() -> None:
    required = {ENV_SOURCE_BUCKET: "src", ENV_BACKUP_BUCKET: "bak", ENV_TABLE: "copies"}
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/ob-replicator-Queue-1"
    settings = Settings.from_env(required | {ENV_QUEUE_URL: url})
    assert settings.queue_url == url
    assert Settings.from_env(settings.to_env()) == settings
    assert Settings.from_env(required | {ENV_QUEUE_URL: " "}).queue_url is None
