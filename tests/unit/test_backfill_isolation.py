"""Backfill: one object whose event SQS will not take never stops the others."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from objbackup.backfill import Backfill
from objbackup.core.events import encode_key
from tests.harness import REGION, FakeClock, Harness
from tests.queue import create_queue, drain

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

POISON = "poison"
KEYS = ["a", "soh\x01v", "cr\rv", POISON, *(f"k{i:02}" for i in range(12))]


@pytest.fixture
def world(moto_aws: None) -> tuple[Harness, Any, str]:
    system = Harness.create(clock=FakeClock(datetime.now(UTC).replace(microsecond=0)))
    sqs = boto3.client("sqs", region_name=REGION)
    for key in KEYS:
        system.s3.put_object(Bucket=system.settings.source_bucket, Key=key, Body=b"x")
    return system, sqs, create_queue(sqs)


def _names(body: str, key: str) -> bool:
    return f'"key":"{encode_key(key)}"' in body


class RefusingOneEntry:
    """A real SQS client whose SendMessageBatch answers `Failed` for the poison object's entry,
    as SQS does per entry (InternalError: not the sender's fault, so it is retried)."""

    def __init__(self, sqs: SQSClient) -> None:
        self.sqs = sqs
        self.batches = 0

    def send_message_batch(
        self, QueueUrl: str, Entries: list[SendMessageBatchRequestEntryTypeDef]
    ) -> Any:
        self.batches += 1
        poisoned = [e for e in Entries if _names(e["MessageBody"], POISON)]
        rest = [e for e in Entries if e not in poisoned]
        answer: dict[str, Any] = {"Successful": [], "Failed": []}
        if rest:
            answer = dict(self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=rest))
            answer.setdefault("Failed", [])
        answer["Failed"] += [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try later"}
            for e in poisoned
        ]
        return answer


def test_an_entry_sqs_keeps_failing_is_reported_and_the_rest_is_sent(
    world: tuple[Harness, Any, str],
) -> None:
    system, sqs, queue = world
    refusing = RefusingOneEntry(sqs)
    # Only SendMessageBatch is wrapped: the fake stands in for the client.
    report = Backfill(system.s3, cast("SQSClient", refusing), system.table, "src", queue).run()
    assert report.sent == len(KEYS) - 1
    assert report.failed == [(POISON, "InternalError: try later")]
    assert report.to_json()["failed"] == [{"object": POISON, "reason": "InternalError: try later"}]
    drain(sqs, queue, system)
    system.check_invariants(set(KEYS) - {POISON})
    assert system.copies(POISON) == []
    # A rerun sends only what is still missing.
    again = Backfill(system.s3, sqs, system.table, "src", queue).run()
    assert (again.sent, again.skipped, again.failed) == (1, len(KEYS) - 1, [])


def test_a_batch_refused_as_a_whole_is_sent_entry_by_entry(
    world: tuple[Harness, Any, str],
) -> None:
    system, sqs, queue = world

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        if POISON in str(params.get("body", "")):  # the only message that names it
            raise ClientError({"Error": {"Code": "InvalidMessageContents", "Message": "no"}}, "X")

    sqs.meta.events.register("before-call.sqs.SendMessageBatch", refuse)
    report = Backfill(system.s3, sqs, system.table, "src", queue).run()
    assert report.sent == len(KEYS) - 1
    assert report.failed == [(POISON, "InvalidMessageContents")]
    drain(sqs, queue, system)
    system.check_invariants(set(KEYS) - {POISON})
