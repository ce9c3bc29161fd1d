"""Whether backups are flowing: EventBridge delivery, backup lag, the last clean, alarm states.

Each is read from where AWS keeps it and is null ("unknown") when it cannot be found there:
status never guesses. EventBridge delivery off is the one that silently stops every backup.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from objbackup.deploy.adopt import eventbridge_on, read_configuration, with_eventbridge
from objbackup.deploy.connection import Connection
from objbackup.deploy.deployment import Deployment
from objbackup.dlq import json_line

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
# ApproximateAgeOfOldestMessage is a CloudWatch metric (1-minute periods), not a queue attribute:
# SQS tells the age of its oldest message only there.
LAG_WINDOW = timedelta(minutes=15)
_STREAMS_READ = 5
_LINES_READ = 200


def health(connection: Connection, deployment: Deployment, queue_empty: bool) -> dict[str, Any]:
    """The health keys of `status --json`."""
    delivery = eventbridge_delivery(connection, deployment.source_bucket)
    return {
        "eventbridge_delivery": delivery,
        "eventbridge_fix": (
            fix_command(connection, deployment.source_bucket) if delivery is False else None
        ),
        "backup_lag_seconds": 0 if queue_empty else backup_lag(connection, deployment.queue_url),
        "last_clean": last_clean(connection, deployment.cleaner_function),
        "alarms": alarm_states(connection, deployment),
    }


def eventbridge_delivery(connection: Connection, bucket: str | None) -> bool | None:
    """True when `bucket` sends its events to EventBridge; None when it cannot be read."""
    if bucket is None:
        return None
    try:
        return eventbridge_on(read_configuration(connection.client("s3"), bucket))
    except ClientError:
        return None


def fix_command(connection: Connection, bucket: str | None) -> str | None:
    """The AWS CLI command that turns delivery back on, keeping every other notification.

    PutBucketNotificationConfiguration replaces the whole configuration
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketNotificationConfiguration.html),
    so the command carries the current one with EventBridgeConfiguration added.
    """
    if bucket is None:
        return None
    try:
        configuration = read_configuration(connection.client("s3"), bucket)
    except ClientError:
        configuration = {}
    document = json.dumps(with_eventbridge(configuration, True), separators=(",", ":"))
    words = ["aws"]
    if connection.endpoint_url:
        words += ["--endpoint-url", connection.endpoint_url]
    words += [
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        bucket,
        "--notification-configuration",
        document,
    ]
    return shlex.join(words)


def backup_lag(connection: Connection, queue_url: str | None) -> float | None:
    """Seconds the queue's oldest message has waited (CloudWatch, newest minute); None if
    CloudWatch has no datapoint (a new queue, or an endpoint that does not publish it)."""
    if queue_url is None:
        return None
    now = datetime.now(UTC)
    try:
        points = connection.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}],
            StartTime=now - LAG_WINDOW,
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except ClientError:
        return None
    if not points:
        return None
    newest = max(points, key=lambda p: p["Timestamp"])
    return float(newest["Maximum"])


def last_clean(connection: Connection, cleaner_function: str | None) -> dict[str, Any] | None:
    """The newest `clean` line the cleaner logged: its time and outcome; None when not found.

    Reads the newest log streams' last lines (DescribeLogStreams ordered by LastEventTime,
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogStreams.html).
    """
    if cleaner_function is None:
        return None
    group = f"/aws/lambda/{cleaner_function}"
    logs = connection.client("logs")
    try:
        streams = logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", descending=True, limit=_STREAMS_READ
        ).get("logStreams", [])
        newest: dict[str, Any] | None = None
        for stream in streams:
            events = logs.get_log_events(
                logGroupName=group,
                logStreamName=stream["logStreamName"],
                startFromHead=False,
                limit=_LINES_READ,
            ).get("events", [])
            for event in events:
                line = json_line(str(event.get("message", "")))
                if line.get("event") != "clean" or line.get("dry_run"):
                    continue
                if newest is None or event["timestamp"] > newest["timestamp"]:
                    newest = {"timestamp": event["timestamp"], **line}
    except ClientError:
        return None
    if newest is None:
        return None
    failed = int(newest.get("failed") or 0)
    when = datetime.fromtimestamp(newest["timestamp"] / 1000, UTC)
    return {
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "outcome": f"{failed} failed" if failed else "ok",
        "deleted": newest.get("deleted"),
        "failed": failed,
    }


def alarm_states(connection: Connection, deployment: Deployment) -> list[dict[str, Any]] | None:
    """Each of the stacks' CloudWatch alarms and its state; None when they cannot be read."""
    names: list[str] = []
    try:
        cloudformation = connection.client("cloudformation")
        for stack in deployment.stacks.values():
            pages = cloudformation.get_paginator("list_stack_resources").paginate(
                StackName=stack.name
            )
            names += [
                str(r["PhysicalResourceId"])
                for page in pages
                for r in page.get("StackResourceSummaries", [])
                if r.get("ResourceType") == "AWS::CloudWatch::Alarm" and r.get("PhysicalResourceId")
            ]
        if not names:
            return []
        found = []
        cloudwatch = connection.client("cloudwatch")
        for start in range(0, len(names), 100):
            found += cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])[
                "MetricAlarms"
            ]
    except ClientError:
        return None
    return [
        {"name": a["AlarmName"], "state": a["StateValue"], "reason": a.get("StateReason")}
        for a in sorted(found, key=lambda a: str(a["AlarmName"]))
    ]
