"""The AWS/SQS metrics SQS publishes and moto does not: each queue's ApproximateAgeOfOldestMessage
and ApproximateNumberOfMessagesVisible, put in CloudWatch by the sandbox as SQS would.

SQS reports them per queue (dimension QueueName), the age in seconds and only while the queue holds
a message ("Available CloudWatch metrics for Amazon SQS",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
SQS publishes every minute; the sandbox does more often, so that `status` (which reads the newest
datapoint, objbackup/deploy/health.py) sees a backlog within seconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_boto3_cloudwatch import CloudWatchClient
    from types_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDatumTypeDef

from objbackup.sandbox.cloudwatch import metric_batches
from objbackup.sandbox.periodic import Periodic

ACCOUNT = "123456789012"
PUBLISH_EVERY = 5.0


def queue_data(queues: list[Any], now_ms: int) -> list[MetricDatumTypeDef]:
    """The AWS/SQS MetricData for moto's `queues` at `now_ms`."""
    when = datetime.fromtimestamp(now_ms / 1000, UTC)
    data: list[MetricDatumTypeDef] = []
    for queue in queues:
        messages = list(queue._messages)
        dimensions: list[DimensionTypeDef] = [{"Name": "QueueName", "Value": str(queue.name)}]
        visible = sum(1 for m in messages if now_ms > m.visible_at and not now_ms < m.delayed_until)
        data.append(
            {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": dimensions,
                "Timestamp": when,
                "Value": float(visible),
                "Unit": "Count",
            }
        )
        sent = [m.sent_timestamp for m in messages if m.sent_timestamp is not None]
        if sent:
            data.append(
                {
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": dimensions,
                    "Timestamp": when,
                    "Value": max(0.0, (now_ms - min(sent)) / 1000),
                    "Unit": "Seconds",
                }
            )
    return data


class QueueMetrics:
    """Publishes every queue's AWS/SQS metrics of the region every `every` seconds."""

    def __init__(
        self, cloudwatch: CloudWatchClient, region: str, every: float = PUBLISH_EVERY
    ) -> None:
        self._cloudwatch = cloudwatch
        self.region = region
        self._periodic = Periodic(
            self.publish, every, "sqs-metrics", "publishing the queues' AWS/SQS metrics failed"
        )

    def start(self) -> QueueMetrics:
        self._periodic.start()
        return self

    def stop(self) -> None:
        self._periodic.stop()

    def publish(self) -> int:
        """Put the metrics of every queue now; returns how many datapoints were put."""
        from moto.sqs.models import sqs_backends

        queues = list(sqs_backends[ACCOUNT][self.region].queues.values())
        data = queue_data(queues, int(time.time() * 1000))
        for batch in metric_batches(data):
            self._cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=batch)
        return len(data)
