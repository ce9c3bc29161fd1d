"""SQS batches: handle each message on its own and report exactly the ones that failed.

With `ReportBatchItemFailures` on the event source mapping, Lambda deletes the messages that
succeeded and leaves the failed ones to the visibility timeout and, in the end, the dead-letter
queue, so one bad message never blocks or re-runs its neighbours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from objbackup.errors import MalformedEvent
from objbackup.events import ObjectEvent, decode_sqs_body
from objbackup.logs import log_event

Handle = Callable[[ObjectEvent], object]


def process_sqs_batch(
    event: Mapping[str, Any], handle: Handle, source_bucket: str
) -> dict[str, Any]:
    """Run `handle` on every object event of an SQS batch; return Lambda's partial-batch answer."""
    failures: list[dict[str, str]] = []
    for index, record in enumerate(event.get("Records") or []):
        message_id = _message_id(record, index)
        try:
            body = record.get("body") if isinstance(record, Mapping) else None
            for object_event in decode_sqs_body(body, message_id, source_bucket):
                handle(object_event)
        except Exception as exc:  # one message's failure must never fail its neighbours
            malformed = isinstance(exc, MalformedEvent)
            log_event(
                logging.ERROR,
                event="rejected" if malformed else "failed",
                message_id=message_id,
                error=type(exc).__name__,
                reason=exc.reason if isinstance(exc, MalformedEvent) else str(exc),
            )
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


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
