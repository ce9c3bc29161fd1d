"""SQS as the sandbox needs it: event source mappings left to the sandbox's pollers, and the
calls that moto 5.2 makes cost O(backlog) (or O(backlog²)) brought back to what they touch.

With ~10,000 messages in one queue moto spends its time re-reading the whole backlog: every
SendMessage counts every message three times (two clock reads each) to build the attribute dict
it reads one flag from, every ReceiveMessage lists all visible messages to take ten and computes
every queue attribute per message it returns, and every DeleteMessage builds two lists per
message to find one receipt handle (and, slow as it is, races a concurrent SendMessage: it
rebuilds the message list without a lock, so an append made meanwhile is lost). The answers stay
moto's.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from objbackup.sandbox.patches.registry import Patch


def close_sqs_event_source_gap() -> None:
    """moto runs an SQS event source mapping inside SendMessage itself, one message at a time,
    and ignores ReportBatchItemFailures. Detach it: the sandbox's own pollers do the work."""
    from moto.sqs.models import Queue

    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda self: {}, lambda self, value: None
    )


def close_sqs_receive_cost_gap() -> None:
    """moto checks each received message's retention by computing every attribute of its queue,
    message counts included: a receive costs O(backlog²). Read the retention period directly;
    the answer is the same, and a backlog no longer slows the sandbox to a crawl."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
)
# Depth of SendMessage calls on this thread: moto reads only ContentBasedDeduplication there.
_sending = threading.local()
# Every receipt handle moto has handed out, to the message it belongs to.
_by_handle: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_by_handle_lock = threading.Lock()


def message_counts(queue: Any) -> dict[str, int]:
    """A queue's three approximate counts in one pass over its messages, with one clock reading."""
    from moto.core.utils import unix_time_millis

    now = unix_time_millis()
    visible = delayed = not_visible = 0
    for message in list(queue._messages):
        is_visible = now > message.visible_at
        is_delayed = now < message.delayed_until
        delayed += is_delayed
        not_visible += not is_visible
        visible += is_visible and not is_delayed
    return {
        "ApproximateNumberOfMessages": visible,
        "ApproximateNumberOfMessagesDelayed": delayed,
        "ApproximateNumberOfMessagesNotVisible": not_visible,
    }


@contextmanager
def _sending_message() -> Iterator[None]:
    depth = getattr(_sending, "depth", 0)
    _sending.depth = depth + 1
    try:
        yield
    finally:
        _sending.depth = depth


def close_sqs_attributes_cost_gap() -> None:
    """A queue's attributes count its messages in one pass, not three at two clock reads a
    message; SendMessage, which reads one flag from them, does not count at all; and
    GetQueueAttributes builds them once, not up to three times per name asked."""
    from moto.core.utils import camelcase_to_underscores
    from moto.sqs.models import Queue, SQSBackend

    def attributes(self: Any) -> dict[str, Any]:
        # moto's Queue.attributes, with the counts from one pass (none while sending)
        sending = getattr(_sending, "depth", 0) > 0
        counts = dict.fromkeys(_COUNTS, 0) if sending else message_counts(self)
        result: dict[str, Any] = {}
        for name in self.BASE_ATTRIBUTES:
            if name in counts:
                result[name] = counts[name]
            else:
                result[name] = getattr(self, camelcase_to_underscores(name))
        if self.fifo_queue:
            for name in self.FIFO_ATTRIBUTES:
                result[name] = getattr(self, camelcase_to_underscores(name))
        if self.kms_master_key_id:
            for name in self.KMS_ATTRIBUTES:
                result[name] = getattr(self, camelcase_to_underscores(name))
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        for name, value in result.items():
            if isinstance(value, bool):
                result[name] = str(value).lower()
        return result

    original_send = SQSBackend.send_message

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _sending_message():
            return original_send(self, *args, **kwargs)

    original_get = SQSBackend.get_queue_attributes

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        # moto validates the names, then with "All" returns the dict built once; pick from it
        everything = original_get(self, queue_name, [*attribute_names, "All"])
        if "All" in attribute_names:
            return everything
        return {
            name: everything[name]
            for name in attribute_names
            if name in everything and everything[name] is not None
        }

    Queue.attributes = property(attributes)  # type: ignore[assignment, method-assign]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


class _VisibleMessages:
    """Queue.messages as a lazy view: a receive stops after its batch, not after the backlog."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        from moto.core.utils import unix_time_millis

        now = unix_time_millis()
        for message in list(self._queue._messages):
            if now > message.visible_at and not now < message.delayed_until:
                yield message

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return next(iter(self), None) is not None


def close_sqs_receive_backlog_gap() -> None:
    """ReceiveMessage walks the visible messages lazily, so taking ten from a backlog of 10,000
    costs ten (plus the in-flight ones ahead of them), not 10,000 with two clock reads each."""
    from moto.sqs.models import Queue

    Queue.messages = property(_VisibleMessages)  # type: ignore[assignment, method-assign]


def close_sqs_delete_cost_gap() -> None:
    """DeleteMessage finds the message by its receipt handle in an index instead of building two
    lists per message of the queue, and replaces the message list under the queue's lock, so a
    SendMessage appending meanwhile is not lost. Anything the index does not know (a handle never
    given, already deleted, or of another queue) goes to moto's own code, which answers it."""
    from moto.sqs.models import Message, Queue

    original_mark = Message.mark_received
    original_delete = Queue.delete_message

    def mark_received(self: Any, visibility_timeout: int | None = None) -> None:
        original_mark(self, visibility_timeout)
        with _by_handle_lock:
            _by_handle[str(self.receipt_handle)] = self

    def delete_message(self: Any, receipt_handle: str) -> None:
        message = _by_handle.get(receipt_handle)
        if message is None or receipt_handle in self.deleted_messages:
            return original_delete(self, receipt_handle)
        with self._messages_lock:
            messages = self._messages
            try:
                at = messages.index(message)  # identity first: C speed, no lists built
            except ValueError:
                return original_delete(self, receipt_handle)
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            self._messages = messages[:at] + messages[at + 1 :]
        return None

    Message.mark_received = mark_received  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]


PATCHES = (
    Patch(
        "sqs",
        "event-source-mapping",
        "Lambda polls an SQS mapping in batches and honours ReportBatchItemFailures; moto runs it "
        "inside SendMessage, one message at a time: detached, the sandbox's pollers do it",
        (
            "tests/sandbox/test_sandbox_gaps.py::test_event_source_mapping_batches_reports_item_failures_and_dead_letters",
        ),
        close_sqs_event_source_gap,
    ),
    Patch(
        "sqs",
        "receive-retention-cost",
        "moto checks each received message's retention by computing every queue attribute: "
        "O(backlog²) a receive",
        (
            "tests/unit/test_gap_costs.py::test_sqs_receive_does_not_compute_queue_attributes_per_message",
        ),
        close_sqs_receive_cost_gap,
    ),
    Patch(
        "sqs",
        "attributes-cost",
        "moto counts a queue's messages three times at two clock reads each, on every SendMessage "
        "and up to three times per GetQueueAttributes name",
        (
            "tests/unit/test_backlog_costs.py::test_send_does_not_count_the_backlog",
            "tests/unit/test_backlog_costs.py::test_counting_takes_one_clock_reading_per_call_not_two_per_message",
        ),
        close_sqs_attributes_cost_gap,
    ),
    Patch(
        "sqs",
        "receive-backlog",
        "moto lists every visible message of the queue to receive ten",
        ("tests/unit/test_backlog_costs.py::test_a_receive_reads_its_batch_not_the_backlog",),
        close_sqs_receive_backlog_gap,
    ),
    Patch(
        "sqs",
        "delete-cost",
        "moto's DeleteMessage builds two lists per message to find one handle, and replaces the "
        "message list without the queue's lock (a concurrent send is lost)",
        (
            "tests/unit/test_backlog_costs.py::test_a_delete_finds_its_message_without_walking_the_backlog",
            "tests/unit/test_backlog_costs.py::test_a_delete_replaces_the_message_list_under_the_queue_lock",
        ),
        close_sqs_delete_cost_gap,
    ),
)
