"""What Lambda and CloudWatch Logs do with a function's output, done by the sandbox: each line
reaches the function's log group, and embedded-metric-format (EMF) lines become metrics.

moto runs no function, so nothing of this happens there by itself. The sandbox process (never the
worker that runs the function) makes the calls, over HTTP with the sandbox's own credentials, as
the services would: the function's role needs no permission for it. Lines are queued and sent in
batches by one background thread, so an invocation never waits for CloudWatch.

Log groups and streams are named as Lambda names them: `/aws/lambda/<function name>`, one stream
per instance (execution environment), `YYYY/MM/DD/[$LATEST]<instance id>` (AWS Lambda operator
guide, "How CloudWatch structures logs",
https://docs.aws.amazon.com/lambda/latest/operatorguide/log-structure.html).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from objbackup.sandbox.periodic import Periodic

if TYPE_CHECKING:
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import MetricDatumTypeDef
    from types_boto3_logs import CloudWatchLogsClient

LOG = logging.getLogger("objbackup.sandbox")
FLUSH_EVERY = 0.2

# PutLogEvents: at most 10,000 events and 1,048,576 bytes (each message's UTF-8 size plus 26)
# per call, in chronological order
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html).
_MAX_EVENTS = 10_000
_MAX_BYTES = 1_048_576
_EVENT_OVERHEAD = 26
# PutMetricData takes a bounded list of MetricDatum per call; 20 is below every documented limit
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
_MAX_DATA = 20
# EMF: at most 30 dimensions per set and 100 values per metric (the specification below).
_MAX_DIMENSIONS = 30
_MAX_VALUES = 100


def log_group(function_name: str) -> str:
    """The log group Lambda writes a function's output to."""
    return f"/aws/lambda/{function_name}"


def log_stream(started: datetime | None = None) -> str:
    """A new instance's log stream: its start date, the version, and an id of its own."""
    day = (started or datetime.now(UTC)).strftime("%Y/%m/%d")
    return f"{day}/[$LATEST]{uuid.uuid4().hex}"


def emf_metrics(message: str) -> list[dict[str, Any]]:
    """The PutMetricData `MetricData` a log line carries under the embedded metric format; none
    for a line that is not an EMF document or is not a valid one.

    Amazon CloudWatch user guide, "Specification: Embedded metric format"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
    the message is one JSON object whose `_aws` member holds `Timestamp` (epoch milliseconds) and
    `CloudWatchMetrics`, a list of directives `{Namespace, Dimensions: [[name, ...], ...],
    Metrics: [{Name, Unit?, StorageResolution?}]}`; each name refers to a root member (a dimension's
    value a string, a metric's value a number or a list of up to 100 numbers). Each dimension set
    gives one metric per name; an invalid document yields no metric at all.
    """
    text = message.strip()
    if not (text.startswith("{") and '"_aws"' in text):
        return []
    try:
        document = json.loads(text)
        return _extracted(document)
    except (ValueError, TypeError, KeyError):
        return []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _extracted(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise TypeError("not an object")
    meta = document["_aws"]
    stamp = meta["Timestamp"]
    if not _number(stamp):
        raise TypeError("Timestamp is not a number")
    when = datetime.fromtimestamp(stamp / 1000, UTC)
    found: list[dict[str, Any]] = []
    for directive in meta["CloudWatchMetrics"]:
        namespace = directive["Namespace"]
        if not isinstance(namespace, str) or not namespace:
            raise TypeError("bad Namespace")
        sets = directive["Dimensions"]
        if not isinstance(sets, list):
            raise TypeError("bad Dimensions")
        for names in sets:
            if not isinstance(names, list) or len(names) > _MAX_DIMENSIONS:
                raise TypeError("bad dimension set")
            if not all(isinstance(document[name], str) for name in names):
                raise TypeError("a dimension's value is not a string")
        for metric in directive["Metrics"]:
            name = metric["Name"]
            value = document[name]
            datum: dict[str, Any] = {"MetricName": name, "Timestamp": when}
            if isinstance(value, list):
                if not value or len(value) > _MAX_VALUES or not all(map(_number, value)):
                    raise TypeError("bad values")
                datum["Values"] = [float(v) for v in value]
            elif _number(value):
                datum["Value"] = float(value)
            else:
                raise TypeError("a metric's value is not a number")
            if metric.get("Unit"):
                datum["Unit"] = metric["Unit"]
            if metric.get("StorageResolution") is not None:
                datum["StorageResolution"] = int(metric["StorageResolution"])
            for names in sets or [[]]:
                dimensions = [{"Name": n, "Value": document[n]} for n in names]
                found.append({"Namespace": namespace, **datum, "Dimensions": dimensions})
    return found


class CloudWatchShipper:
    """Sends function output to CloudWatch Logs and its EMF metrics to CloudWatch, in batches.

    `put` only queues; a background thread flushes every FLUSH_EVERY seconds, and `flush` sends
    what is queued now (tests, shutdown). Thread-safe.
    """

    def __init__(
        self,
        logs: CloudWatchLogsClient,
        cloudwatch: CloudWatchClient,
        flush_every: float = FLUSH_EVERY,
    ) -> None:
        self._logs = logs
        self.cloudwatch = cloudwatch
        self._pending: list[tuple[str, str, int, str]] = []
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._streams: set[tuple[str, str]] = set()
        self._periodic = Periodic(
            self.flush,
            flush_every,
            "cloudwatch-shipper",
            "shipping function logs to CloudWatch failed",
        )
        self.shipped = 0
        self.metrics = 0

    @classmethod
    def for_endpoint(cls, endpoint_url: str, region: str) -> CloudWatchShipper:
        """A shipper that calls the sandbox at `endpoint_url` with the sandbox's credentials."""
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": "sandbox",
            "aws_secret_access_key": "sandbox",
        }
        return cls(boto3.client("logs", **options), boto3.client("cloudwatch", **options))

    def start(self) -> CloudWatchShipper:
        self._periodic.start()
        return self

    def stop(self) -> None:
        """Stop the thread, then send what is still queued."""
        self._periodic.stop()
        self.flush()

    def put(self, group: str, stream: str, timestamp_ms: int, message: str) -> None:
        """Queue one log event (an empty message is dropped: CloudWatch refuses it)."""
        if message:
            with self._lock:
                self._pending.append((group, stream, timestamp_ms, message))

    def flush(self) -> None:
        """Send every queued event now, and the metrics of its EMF lines."""
        with self._sending:
            with self._lock:
                pending, self._pending = self._pending, []
            if not pending:
                return
            by_stream: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
            for group, stream, stamp, message in pending:
                by_stream[(group, stream)].append((stamp, message))
            metrics: list[dict[str, Any]] = []
            for (group, stream), events in by_stream.items():
                events.sort(key=lambda e: e[0])  # stable: lines of one millisecond keep order
                if self._send(group, stream, events):
                    for _stamp, message in events:
                        metrics += emf_metrics(message)
            self._put_metrics(metrics)

    def _send(self, group: str, stream: str, events: list[tuple[int, str]]) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._ensure(group, stream)
            for chunk in _chunks(events):
                self._logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": t, "message": m} for t, m in chunk],
                )
                self.shipped += len(chunk)
        except ClientError as exc:
            # The group was deleted under a running instance (a teardown): its lines are lost,
            # as Lambda's are when the log group is gone and cannot be created.
            self._streams.discard((group, stream))
            LOG.debug("dropped %d lines for %s %s: %s", len(events), group, stream, exc)
            return False
        return True

    def _ensure(self, group: str, stream: str) -> None:
        """Create the instance's stream (and its group, as Lambda does when it is missing)."""
        if (group, stream) in self._streams:
            return
        logs = self._logs
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceNotFoundException:
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        self._streams.add((group, stream))

    def _put_metrics(self, metrics: list[dict[str, Any]]) -> None:
        from botocore.exceptions import ClientError

        by_namespace: dict[str, list[MetricDatumTypeDef]] = defaultdict(list)
        for metric in metrics:
            namespace = metric.pop("Namespace")
            # emf_metrics built the rest as PutMetricData's MetricDatum
            by_namespace[namespace].append(cast("MetricDatumTypeDef", metric))
        for namespace, data in by_namespace.items():
            for batch in metric_batches(data):
                try:
                    self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=batch)
                    self.metrics += len(batch)
                except ClientError:
                    LOG.exception("PutMetricData for %s failed", namespace)


def metric_batches(data: list[MetricDatumTypeDef]) -> Iterator[list[MetricDatumTypeDef]]:
    """`data` cut into the MetricData lists of successive PutMetricData calls."""
    for start in range(0, len(data), _MAX_DATA):
        yield data[start : start + _MAX_DATA]


def _chunks(events: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """`events` cut into PutLogEvents batches (a message over the size limit is cut short)."""
    chunks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0
    for stamp, message in events:
        encoded = message.encode("utf-8")
        if len(encoded) + _EVENT_OVERHEAD > _MAX_BYTES:
            message = encoded[: _MAX_BYTES - _EVENT_OVERHEAD].decode("utf-8", "ignore")
            encoded = message.encode("utf-8")
        cost = len(encoded) + _EVENT_OVERHEAD
        if current and (len(current) >= _MAX_EVENTS or size + cost > _MAX_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append((stamp, message))
        size += cost
    if current:
        chunks.append(current)
    return chunks
