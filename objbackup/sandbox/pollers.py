"""SQS event source mappings, run as Lambda runs them: pollers that receive batches, invoke the
function, delete what succeeded and leave failures to the visibility timeout (and, after
`maxReceiveCount` receives, to the dead-letter queue)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3

from objbackup.sandbox.executor import LambdaExecutor, spec_of
from objbackup.sandbox.periodic import Periodic

if TYPE_CHECKING:
    from types_boto3_sqs.type_defs import MessageTypeDef

LOG = logging.getLogger("objbackup.sandbox")
ACCOUNT = "123456789012"
# Lambda's pollers long-poll the queue (Using Lambda with Amazon SQS,
# https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), and a long poll "returns messages
# as soon as they become available" (Amazon SQS short and long polling,
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html):
# an idle mapping takes a message as it arrives, not after a sleep between empty receives.
# The sandbox's pollers do the waiting in process, on moto's queue (woken by each SendMessage),
# and then receive without waiting, not inside a long ReceiveMessage: moto fixes a receive's
# visibility timeout when the call starts, and a receive begun before the mapping was disabled
# would still take messages (each counting towards maxReceiveCount).
RECHECK_SECONDS = 1.0  # messages made visible by time (a visibility timeout ending) wake no one


class MappingPollers:
    """Keeps `per_mapping` poller threads running for every enabled SQS event source mapping."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        executor: LambdaExecutor,
        per_mapping: int = 4,
        discover_every: float = 0.5,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.executor = executor
        self.per_mapping = per_mapping
        self._threads: dict[str, list[threading.Thread]] = {}
        self._stops: dict[str, threading.Event] = {}
        self._waiting: set[int | None] = set()  # the pollers now waiting for a message
        self._watcher = Periodic(
            self._watch,
            discover_every,
            "esm-watcher",
            "event source mapping discovery failed",
            at_once=True,
        )
        self._sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",  # noqa: S106 - the sandbox's fixed fake credentials
        )

    def start(self) -> None:
        self._watcher.start()

    def stop(self) -> None:
        # One deadline for all: the threads are daemons, so a straggler cannot hold the exit.
        deadline = time.monotonic() + 5
        self._watcher.stop(timeout=5)  # first, so that it starts no mapping's pollers after
        for event in list(self._stops.values()):
            event.set()
        for thread in [t for ts in list(self._threads.values()) for t in ts]:
            if thread.is_alive():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _mappings(self) -> dict[str, Any]:
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[ACCOUNT][self.region]
        return {
            uuid: esm
            for uuid, esm in list(backend._event_source_mappings.items())
            if esm.enabled and str(esm.event_source_arn).startswith("arn:aws:sqs:")
        }

    def _watch(self) -> None:
        """Start the pollers of each new enabled mapping; stop those of one gone or disabled."""
        mappings = self._mappings()
        for uuid, esm in mappings.items():
            if uuid not in self._threads:
                self._start_mapping(uuid, esm)
        for uuid in list(self._threads):
            if uuid not in mappings:
                self._stops.pop(uuid).set()
                self._threads.pop(uuid)

    def _start_mapping(self, uuid: str, esm: Any) -> None:
        stop = threading.Event()
        self._stops[uuid] = stop
        maximum = (getattr(esm, "scaling_config", None) or {}).get("MaximumConcurrency")
        count = min(self.per_mapping, int(maximum)) if maximum else self.per_mapping
        threads = [
            threading.Thread(
                target=self._poll, args=(esm, stop), name=f"esm-{uuid[:8]}-{n}", daemon=True
            )
            for n in range(count)
        ]
        self._threads[uuid] = threads
        for thread in threads:
            thread.start()

    def _poll(self, esm: Any, stop: threading.Event) -> None:
        queue_arn = str(esm.event_source_arn)
        queue_url: str | None = None
        while not stop.is_set():
            try:
                if queue_url is None:
                    name = queue_arn.rsplit(":", 1)[-1]
                    queue_url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
                self._poll_once(esm, queue_url, queue_arn, stop)
            except self._sqs.exceptions.QueueDoesNotExist:
                # Torn down: the watcher stops this poller once the mapping is gone too.
                queue_url = None
                stop.wait(0.5)
            except Exception:
                if stop.is_set():
                    return
                LOG.exception("poller for %s failed; retrying", queue_arn)
                stop.wait(0.5)

    def _poll_once(self, esm: Any, queue_url: str, queue_arn: str, stop: threading.Event) -> bool:
        """Wait for a visible message as a long poll does, then receive one batch and run it;
        False when there was nothing to take."""
        if not self._wait_for_message(esm, queue_arn.rsplit(":", 1)[-1], stop):
            return False
        received = self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max(1, min(10, int(esm.batch_size or 10))),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages", [])
        if not messages:
            # Another poller took it, or (FIFO) its group is in flight: a breath before waiting
            # again, so a message no receive returns yet cannot spin this loop.
            stop.wait(0.05)
            return False
        from moto.awslambda.models import lambda_backends

        function = lambda_backends[ACCOUNT][self.region].get_function(esm.function_arn)
        event = {"Records": [_record(m, queue_arn, self.region) for m in messages]}
        outcome = self.executor.invoke(spec_of(function), event)
        failed = _failed_ids(esm, outcome.payload, outcome.failed, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )
        return True

    def _wait_for_message(self, esm: Any, queue_name: str, stop: threading.Event) -> bool:
        """Until the mapping's queue holds a visible message (True) or this poller is stopped
        (False); an existing but disabled mapping takes nothing."""
        from moto.sqs.models import sqs_backends

        me = threading.get_ident()
        self._waiting.add(me)
        try:
            while not stop.is_set():
                queue = sqs_backends[ACCOUNT][self.region].queues.get(queue_name)
                if queue is None or not esm.enabled:
                    stop.wait(0.2)  # torn down or disabled: the watcher stops this poller soon
                    continue
                if _wait_visible(queue, RECHECK_SECONDS) and not stop.is_set() and esm.enabled:
                    return True
            return False
        finally:
            self._waiting.discard(me)


def _wait_visible(queue: Any, timeout: float) -> bool:
    """Wait on moto's queue condition (SendMessage notifies it) for a visible message."""
    with queue._messages_lock:
        return bool(queue._messages_lock.wait_for(lambda: _visible(queue), timeout))


def _visible(queue: Any) -> bool:
    """Whether moto's queue holds a message a receive would return now (stops at the first)."""
    return any(message.visible and not message.delayed for message in queue._messages)


def _record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "sandbox"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _failed_ids(esm: Any, payload: Any, errored: bool, messages: list[MessageTypeDef]) -> set[str]:
    """Lambda's rules: an error fails the batch; with ReportBatchItemFailures only the named
    items fail, and an answer that cannot be read fails the batch too."""
    everything = {m["MessageId"] for m in messages}
    if errored:
        return everything
    if "ReportBatchItemFailures" not in (esm.function_response_types or []):
        return set()
    if payload is None or payload == {} or payload == "":
        return set()
    try:
        if isinstance(payload, str):
            payload = json.loads(payload)
        items = payload.get("batchItemFailures")
        if items is None:
            return set()
        failed = {str(item["itemIdentifier"]) for item in items}
    except (AttributeError, KeyError, TypeError, ValueError):
        return everything
    return everything if not failed <= everything else failed
