"""A replicator queue in moto, draining it through the harness's replicator as Lambda would, and
seeing a deployed one at rest (the sandbox's tests and the benchmarks wait for that)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from objbackup.core.batch import process_sqs_batch
from tests.harness import Harness

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient


def create_queue(sqs: SQSClient, name: str = "replicator") -> str:
    url: str = sqs.create_queue(QueueName=name, Attributes={"SqsManagedSseEnabled": "true"})[
        "QueueUrl"
    ]
    return url


def drain(sqs: SQSClient, queue_url: str, system: Harness) -> list[str]:
    """Deliver every message on the queue to the replicator in batches; the bodies, in order."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return bodies
        batch = {
            "Records": [
                {"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"}
                for m in messages
            ]
        }
        answer = process_sqs_batch(batch, system.replicator.handle, system.settings.source_bucket)
        assert answer == {"batchItemFailures": []}, answer
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            bodies.append(m["Body"])


def queue_at_rest(sqs: SQSClient, url: str) -> bool:
    """No message waiting and none in flight: every delivery so far has been handled."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())
