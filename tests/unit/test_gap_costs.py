"""The sandbox's two cost closers keep moto's answers and drop its full scans; each test fails if
its patch stops being applied (moto would call the method the test forbids)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.dynamodb.models.table import Table
from moto.sqs.models import SQSBackend

from tests.harness import Harness


def test_sqs_receive_does_not_compute_queue_attributes_per_message(
    system: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="cost", Attributes={"MessageRetentionPeriod": "60"})[
        "QueueUrl"
    ]
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("every attribute of the queue computed for one message")

    monkeypatch.setattr(SQSBackend, "get_queue_attributes", forbidden)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["0", "1", "2", "3", "4"]


def test_a_key_query_reads_only_its_key(system: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("a", "b", "c"):
        system.replicator.handle(system.put(key, key.encode()))
    seen: list[int] = []
    original = Table.all_items

    def counting(self: Any) -> Any:
        items = original(self)
        seen.append(len(items))
        return items

    monkeypatch.setattr(Table, "all_items", counting)
    # the patch wraps all_items once; apply it again (not through the registry) around the counter
    from objbackup.sandbox.patches import dynamodb

    monkeypatch.setattr(Table, "query", Table.query)
    dynamodb.close_dynamodb_query_cost_gap()
    [record] = system.table.copies("b")
    assert record.source_object == "b"
    assert seen in ([], [1]), f"a Query on one key read {seen} items"
