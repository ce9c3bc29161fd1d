"""SQS batches: handle each message on its own and report exactly the ones that failed.

With `ReportBatchItemFailures` on the event source mapping, Lambda deletes the messages that
succeeded and leaves the failed ones to the visibility timeout and, in the end, the dead-letter
queue, so one bad message never blocks or re-runs its neighbours.

Events of different keys run concurrently on a bounded thread pool (the work is waiting on AWS),
events of one key one after another in position order. A message fails if any of its events fails.

Lambda kills a handler at its timeout and then retries the whole batch, so with a deadline no
event starts once time runs short: its message is reported as a failure instead, and only the
messages not finished come back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from objbackup.core.aws import MAX_POOL_CONNECTIONS
from objbackup.core.deadline import Deadline, OutOfTime
from objbackup.core.errors import MalformedEvent
from objbackup.core.events import ObjectEvent, decode_sqs_body
from objbackup.core.logs import log_event

Handle = Callable[[ObjectEvent], object]
Lane = list[tuple[int, ObjectEvent]]

# One worker per key in flight. Each spends nearly all its time waiting on S3 and DynamoDB, so
# threads, not cores, set the pace; as many as the clients' connection pool holds, so none waits
# for a connection (a batch of 10, the most without a batching window, runs wholly at once).
KEY_WORKERS: int = MAX_POOL_CONNECTIONS


def process_sqs_batch(
    event: Mapping[str, Any],
    handle: Handle,
    source_bucket: str,
    deadline: Deadline | None = None,
    big: int | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run `handle` on every object event of an SQS batch; return Lambda's partial-batch answer.

    Up to `workers` keys are handled at once (`handle` must then be thread-safe), each key's
    events in position order. Keys with an object of `big` bytes or more start after the others
    (each group in arrival order), so a long copy that the deadline stops delays none of its
    neighbours. Once `deadline` has expired, no event starts: its message is reported as failed.
    """
    failed: dict[int, Exception] = {}
    ids: dict[int, str] = {}
    lanes: dict[str, Lane] = {}
    for index, record in enumerate(event.get("Records") or []):
        message_id = ids[index] = _message_id(record, index)
        body = record.get("body") if isinstance(record, Mapping) else None
        try:
            for object_event in decode_sqs_body(body, message_id, source_bucket):
                lanes.setdefault(object_event.key, []).append((index, object_event))
        except Exception as exc:  # reported with the others below
            failed[index] = exc
    # The decoding of a message fails as a whole: none of its events may run.
    ordered = [[(i, e) for i, e in lane if i not in failed] for lane in lanes.values()]
    for lane in ordered:
        lane.sort(key=lambda item: item[1].position)  # stable: duplicates keep arrival order
    if big is not None:
        ordered.sort(key=lambda lane: any((e.size or 0) >= big for _, e in lane))
    lock = threading.Lock()

    def run(lane: Lane) -> None:
        for index, object_event in lane:
            with lock:
                if index in failed:  # its redelivery repeats this event anyway
                    continue
            try:
                if deadline is not None and deadline.expired():
                    raise OutOfTime(
                        f"not started: {deadline.remaining():.1f} s left in the invocation"
                    )
                handle(object_event)
            except Exception as exc:  # one message's failure must never fail its neighbours
                with lock:
                    failed.setdefault(index, exc)

    ordered = [lane for lane in ordered if lane]
    if workers <= 1 or len(ordered) <= 1:
        for lane in ordered:
            run(lane)
    else:
        with ThreadPoolExecutor(min(workers, len(ordered)), "objbackup-key") as pool:
            for done in [pool.submit(run, lane) for lane in ordered]:
                done.result()
    for index in sorted(failed):
        _log_failure(ids[index], failed[index])
    return {"batchItemFailures": [{"itemIdentifier": ids[i]} for i in sorted(failed)]}


def _log_failure(message_id: str, exc: Exception) -> None:
    if isinstance(exc, OutOfTime):
        log_event(logging.WARNING, event="deferred", message_id=message_id, reason=str(exc))
        return
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
