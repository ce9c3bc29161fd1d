"""Sending an event whose copy the deadline stopped back to the replicator's own queue.

Each receive of a message counts against the queue's maxReceiveCount (5), so redelivery alone
backs up only what fits 5 invocations. A copy that made progress is instead re-sent as a new
message (a fresh receive count) and its message acknowledged; one that made none stays a batch
item failure, so a copy that cannot advance still reaches the dead-letter queue. Progress is
monotonic and bounded (at most 10,000 parts), so the chain of continuations ends.

- SendMessage (sqs:SendMessage on the queue; body up to 256 KiB):
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
- The queue is SSE-SQS encrypted: no KMS key, so no KMS permission to send
  ("Encryption at rest in Amazon SQS", Amazon SQS Developer Guide).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from objbackup.core.events import ObjectEvent, encode_eventbridge

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient


class Continuation:
    """Re-sends events to the queue at `queue_url`, exactly as decode_sqs_body will read them."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, event: ObjectEvent) -> str:
        """Send `event` as a new message; its id. Errors propagate: the caller falls back."""
        body = json.dumps(encode_eventbridge(event), separators=(",", ":"))
        answer = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
        return str(answer["MessageId"])
