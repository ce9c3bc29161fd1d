"""The dead-letter queue: what is in it (key, event, failure reason) and moving it back.

Listing peeks: messages are received with a short visibility timeout and made visible again at
once, never deleted. Redrive uses SQS's message move task where the endpoint offers it, else
receive -> send to the queue -> delete from the DLQ, in that order, so a crash between the send
and the delete duplicates a message (the replicator is idempotent) and never loses one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.errors import MalformedEvent
from objbackup.core.events import decode_sqs_body

if TYPE_CHECKING:
    from types_boto3_logs import CloudWatchLogsClient
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.type_defs import MessageTypeDef

# Long enough that one listing pass does not receive the same message twice; each message is
# made visible again (ChangeMessageVisibility 0) as soon as it has been read.
PEEK_VISIBILITY = 30
MAX_LISTED = 1000
# How far back the replicator's log group is searched for a message's failure.
REASON_LOOKBACK_SECONDS = 14 * 24 * 3600
_FAILURE_EVENTS = ("failed", "rejected", "deferred")
# SQS short polling samples a subset of servers and may answer empty while messages remain
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html):
# a pass ends after this many empty answers in a row.
_EMPTY_ANSWERS = 3


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter queue, decoded where its body is an S3 event."""

    message_id: str
    body: str
    receive_count: int | None
    sent_at: str | None
    key: str | None = None
    event: str | None = None
    event_time: str | None = None
    reason: str | None = None
    undecodable: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "key": self.key,
            "event": self.event,
            "event_time": self.event_time,
            "reason": self.reason,
            "receive_count": self.receive_count,
            "sent_at": self.sent_at,
            "undecodable": self.undecodable,
        }


@dataclass
class RedriveReport:
    """What `dlq redrive` moved (or, on a dry run, would move) and how."""

    method: str
    dry_run: bool
    moved: int = 0
    task_handle: str | None = None
    fallback_reason: str | None = None
    message_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "dry_run": self.dry_run,
            "moved": self.moved,
            "task_handle": self.task_handle,
            "fallback_reason": self.fallback_reason,
            "message_ids": self.message_ids,
        }


def _received(sqs: SQSClient, url: str, visibility: int) -> Iterator[list[MessageTypeDef]]:
    """Batches of received messages until the queue answers empty several times in a row."""
    empty = 0
    while empty < _EMPTY_ANSWERS:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            empty += 1
            continue
        empty = 0
        yield messages


def _decoded(message: MessageTypeDef, reason: str | None) -> DeadLetter:
    attributes = message.get("Attributes", {})
    count = attributes.get("ApproximateReceiveCount")
    sent = attributes.get("SentTimestamp")
    base: dict[str, Any] = {
        "message_id": message["MessageId"],
        "body": message.get("Body", ""),
        "receive_count": int(count) if count is not None else None,
        "sent_at": _iso(int(sent) / 1000) if sent is not None else None,
        "reason": reason,
    }
    try:
        events = decode_sqs_body(message.get("Body"), message["MessageId"])
    except MalformedEvent as exc:
        return DeadLetter(**base, undecodable=exc.reason)
    if not events:
        return DeadLetter(**base, undecodable="no object event (an s3:TestEvent)")
    first = events[0]
    return DeadLetter(
        **base, key=first.key, event=str(first.kind), event_time=_iso(first.time.timestamp())
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def peek(
    sqs: SQSClient,
    dlq_url: str,
    reason_of: Callable[[str], str | None] = lambda _id: None,
    limit: int = MAX_LISTED,
) -> list[DeadLetter]:
    """The DLQ's messages (at most `limit`), left in the queue and made visible again.

    Each message stays hidden while the pass reads on (so none is listed twice), then all are
    made visible at once; a crash in between only delays them by PEEK_VISIBILITY seconds.
    """
    seen: dict[str, DeadLetter] = {}
    handles: list[str] = []
    try:
        for batch in _received(sqs, dlq_url, PEEK_VISIBILITY):
            for message in batch:
                handles.append(message["ReceiptHandle"])
                if message["MessageId"] not in seen:
                    seen[message["MessageId"]] = _decoded(message, reason_of(message["MessageId"]))
            if len(seen) >= limit:
                break
    finally:
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(handles[start : start + 10])
                ],
            )
    return list(seen.values())[:limit]


def failure_reason(
    logs: CloudWatchLogsClient, log_group: str | None, message_id: str
) -> str | None:
    """The last failure the replicator logged for `message_id`, or None when none is found.

    Matches the quoted message id (a filter pattern term with non-alphanumeric characters is
    quoted: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html)
    and reads the JSON lines objbackup.core.batch writes for a failed message.
    """
    if log_group is None:
        return None
    start = int((time.time() - REASON_LOOKBACK_SECONDS) * 1000)
    reason = None
    try:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=log_group,
            filterPattern=f'"{message_id}"',
            startTime=start,
            PaginationConfig={"MaxItems": 200},
        )
        for page in pages:
            for event in page.get("events", []):
                line = json_line(event.get("message", ""))
                if line.get("message_id") == message_id and line.get("event") in _FAILURE_EVENTS:
                    error = line.get("error")
                    text = str(line.get("reason") or "")
                    reason = f"{error}: {text}" if error else text or str(line["event"])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return reason


def json_line(message: str) -> dict[str, Any]:
    """The JSON object of a log line (Lambda may prefix a line with a timestamp and level)."""
    start = message.find("{")
    if start < 0:
        return {}
    try:
        found = json.loads(message[start:])
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def queue_arn(sqs: SQSClient, url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def redrive(
    sqs: SQSClient,
    dlq_url: str,
    queue_url: str,
    dry_run: bool = False,
    mover: SQSClient | None = None,
) -> RedriveReport:
    """Move the DLQ's messages back to the queue: a message move task, else one by one.

    `mover` (default `sqs`) starts the task; give one without retries, so that an endpoint
    without the API (which answers 5xx) is found out at once.
    """
    if dry_run:
        listed = peek(sqs, dlq_url)
        return RedriveReport(
            "dry-run", True, len(listed), message_ids=[m.message_id for m in listed]
        )
    fallback = None
    try:
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
        handle = (mover or sqs).start_message_move_task(
            SourceArn=queue_arn(sqs, dlq_url), DestinationArn=queue_arn(sqs, queue_url)
        )["TaskHandle"]
    except ClientError as exc:
        # An endpoint without the API (moto server answers 500), or an identity without its
        # permission: move the messages ourselves, which needs only receive, send and delete.
        fallback = f"{error_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}"
    except NotImplementedError as exc:  # moto in process
        fallback = str(exc)
    else:
        return RedriveReport("message-move-task", False, task_handle=str(handle))
    report = RedriveReport("receive-send-delete", False, fallback_reason=fallback.strip(": "))
    for batch in _received(sqs, dlq_url, PEEK_VISIBILITY):
        for message in batch:
            _move_one(sqs, message, dlq_url, queue_url)
            report.moved += 1
            report.message_ids.append(message["MessageId"])
    return report


def _move_one(sqs: SQSClient, message: MessageTypeDef, dlq_url: str, queue_url: str) -> None:
    """Send, then delete: a crash in between leaves a duplicate, never a loss."""
    sent: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        sent["MessageAttributes"] = message["MessageAttributes"]
    sqs.send_message(**sent)
    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
