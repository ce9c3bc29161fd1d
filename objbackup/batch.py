"""SQS batches: handle each message on its own and report exactly the ones that failed.

With `ReportBatchItemFailures` on the event source mapping, Lambda deletes the messages that
succeeded and leaves the failed ones to the visibility timeout and, in the end, the dead-letter
queue, so one bad message never blocks or re-runs its neighbours.

Lambda kills a handler at its timeout and then retries the whole batch, so with a deadline no
message starts once time runs short: those not finished are reported as failures instead, and
only they come back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from objbackup.deadline import Deadline, OutOfTime
from objbackup.errors import MalformedEvent
from objbackup.events import ObjectEvent, decode_sqs_body
from objbackup.logs import log_event

Handle = Callable[[ObjectEvent], object]


def process_sqs_batch(
    event: Mapping[str, Any],
    handle: Handle,
    source_bucket: str,
    deadline: Deadline | None = None,
    big: int | None = None,
) -> dict[str, Any]:
    """Run `handle` on every object event of an SQS batch; return Lambda's partial-batch answer.

    Messages about objects of `big` bytes or more run after the others (each group in arrival
    order), so a long copy that the deadline stops delays none of its neighbours. Once
    `deadline` has expired, the remaining messages are not started but reported as failed.
    """
    failed: dict[int, str] = {}
    messages: list[tuple[int, str, list[ObjectEvent] | Exception]] = []
    for index, record in enumerate(event.get("Records") or []):
        message_id = _message_id(record, index)
        body = record.get("body") if isinstance(record, Mapping) else None
        try:
            messages.append(
                (index, message_id, list(decode_sqs_body(body, message_id, source_bucket)))
            )
        except Exception as exc:  # reported in its turn below
            messages.append((index, message_id, exc))
    if big is not None:
        messages.sort(
            key=lambda m: (
                not isinstance(m[2], Exception) and any((e.size or 0) >= big for e in m[2])
            )
        )
    for index, message_id, events in messages:
        try:
            if isinstance(events, Exception):
                raise events
            if deadline is not None and deadline.expired():
                raise OutOfTime(f"not started: {deadline.remaining():.1f} s left in the invocation")
            for object_event in events:
                handle(object_event)
        except OutOfTime as exc:
            log_event(logging.WARNING, event="deferred", message_id=message_id, reason=str(exc))
            failed[index] = message_id
        except Exception as exc:  # one message's failure must never fail its neighbours
            _log_failure(message_id, exc)
            failed[index] = message_id
    return {"batchItemFailures": [{"itemIdentifier": failed[i]} for i in sorted(failed)]}


def _log_failure(message_id: str, exc: Exception) -> None:
    malformed = isinstance(exc, MalformedEvent)
    log_event(
        logging.ERROR,
        event="rejected" if malformed else "failed",
        message_id=message_id,
        error=type(exc).__name__,
        reason=exc.reason if isinstance(exc, MalformedEvent) else str(exc),
    )


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    # An empty Records list is answered as an empty batch: nothing to do, nothing failed.
    return isinstance(records, list) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records
    )


def _message_id(record: Any, index: int) -> str:
    if isinstance(record, Mapping) and isinstance(record.get("messageId"), str):
        return str(record["messageId"])
    # Without a message id Lambda cannot retry the record alone; name it by position for the log.
    return f"#{index}"
