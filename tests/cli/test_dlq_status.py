"""`dlq`, `dlq redrive` and status's health against moto: peek, reasons, redrive, delivery off."""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.conftest import Cli
from tests.e2e.events import object_created

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient


def dead_letter(cli: Cli, deployed: dict[str, Any], key: str) -> str:
    """A message in the DLQ for `key`, as one that failed five times would be."""
    body = json.dumps(object_created(deployed["source_bucket"], key))
    sent = cli.client("sqs").send_message(QueueUrl=deployed["dlq_url"], MessageBody=body)
    return str(sent["MessageId"])


def log_failure(cli: Cli, deployed: dict[str, Any], message_id: str, reason: str) -> None:
    """The line objbackup.core.batch logs for a failed message, in the replicator's log group."""
    logs = cli.client("logs")
    group = f"/aws/lambda/{deployed['replicator_function']}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    line = {"event": "failed", "message_id": message_id, "error": "ClientError", "reason": reason}
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(line)}],
    )


def depth(cli: Cli, url: str) -> int:
    attributes = cli.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def test_dlq_lists_key_event_and_reason_and_leaves_the_messages(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    failed = dead_letter(cli, deployed, "docs/a b.txt")
    dead_letter(cli, deployed, "docs/other.txt")
    cli.client("sqs").send_message(QueueUrl=deployed["dlq_url"], MessageBody="{not json")
    log_failure(cli, deployed, failed, "AccessDenied on GetObject")
    listed = cli.json("dlq")
    assert listed["count"] == 3
    by_key = {m["key"]: m for m in listed["messages"]}
    assert by_key["docs/a b.txt"]["event"] == "created"
    assert by_key["docs/a b.txt"]["reason"] == "ClientError: AccessDenied on GetObject"
    assert by_key["docs/other.txt"]["reason"] is None
    assert by_key[None]["undecodable"]
    # A peek: every message is still there, and visible at once.
    assert cli.json("status")["dlq_depth"] == 3
    text = cli.ok("dlq").stdout
    assert "docs/a b.txt" in text and "AccessDenied on GetObject" in text
    assert "3 messages" in text


def test_dlq_redrive_moves_every_message_back(cli: Cli, deployed: dict[str, Any]) -> None:
    for index in range(12):
        dead_letter(cli, deployed, f"k{index}")
    dry = cli.json("dlq", "redrive", "--dry-run")
    assert dry["dry_run"] is True and dry["moved"] == 12
    assert depth(cli, deployed["dlq_url"]) == 12
    moved = cli.json("dlq", "redrive")
    # moto has no StartMessageMoveTask: the fallback moves them one by one.
    assert moved["method"] == "receive-send-delete" and moved["moved"] == 12
    assert depth(cli, deployed["dlq_url"]) == 0
    assert depth(cli, deployed["queue_url"]) == 12
    assert "Moved 0 messages" in cli.ok("dlq", "redrive").stderr


def test_redrive_sends_before_it_deletes(
    cli: Cli, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the send and the delete leaves the message in both queues, never none."""
    from objbackup import dlq

    dead_letter(cli, deployed, "k")

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("crash")

    original = dlq._move_one

    def send_then_crash(sqs: SQSClient, message: Any, dlq_url: str, queue_url: str) -> None:
        monkeypatch.setattr(sqs, "delete_message", crash)
        original(sqs, message, dlq_url, queue_url)

    monkeypatch.setattr(dlq, "_move_one", send_then_crash)
    assert cli("dlq", "redrive").exit_code == 1
    assert depth(cli, deployed["queue_url"]) == 1
    assert depth(cli, deployed["dlq_url"]) == 1


def test_status_health_in_moto(cli: Cli, deployed: dict[str, Any]) -> None:
    assert deployed["eventbridge_delivery"] is True and deployed["eventbridge_fix"] is None
    assert deployed["backup_lag_seconds"] == 0  # an empty queue has no oldest message
    assert deployed["last_clean"] is None  # no cleaner line in CloudWatch Logs here
    # The sandbox's gap closer creates the stacks' alarms in moto's CloudWatch (not evaluated).
    alarms = {a["name"].split("-")[2]: a["state"] for a in deployed["alarms"]}
    assert set(alarms) == {
        "DeadLetterQueueAlarm",
        "BackupLagAlarm",
        "ReplicatorErrorsAlarm",
        "ReplicatorThrottlesAlarm",
        "CleanerErrorsAlarm",
        "CleanerStalledAlarm",
        "CleanerThrottlesAlarm",
    }
    assert all(state in {"OK", "ALARM", "INSUFFICIENT_DATA"} for state in alarms.values())
    dead_letter(cli, deployed, "k")
    cli.client("sqs").send_message(QueueUrl=deployed["queue_url"], MessageBody="{}")
    status = cli.json("status")
    assert status["backup_lag_seconds"] is None  # no CloudWatch datapoint: unknown, not 0
    text = cli.ok("status").stdout
    # The label column is as wide as its longest label (the alarms' names): match any padding.
    assert re.search(r"EventBridge delivery +│ on", text)
    assert re.search(r"backup lag +│ unknown", text)


def test_status_shows_the_newest_clean(cli: Cli, deployed: dict[str, Any]) -> None:
    logs = cli.client("logs")
    group = f"/aws/lambda/{deployed['cleaner_function']}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    lines = [
        {"event": "clean", "dry_run": False, "deleted": 2, "failed": 0},
        {"event": "clean", "dry_run": False, "deleted": 0, "failed": 1},
        {"event": "clean", "dry_run": True, "deleted": 0, "failed": 0},
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 3000 + i * 1000, "message": json.dumps(line)}
            for i, line in enumerate(lines)
        ],
    )
    clean = cli.json("status")["last_clean"]
    assert clean["outcome"] == "1 failed" and clean["failed"] == 1


def test_status_says_first_that_eventbridge_delivery_is_off(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    s3 = cli.client("s3")
    bucket = deployed["source_bucket"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    result = cli("status")
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: source bucket") and "EventBridge" in first
    assert "put-bucket-notification-configuration" in result.stderr
    assert "EventBridgeConfiguration" in result.stderr
    document = json.loads(cli("status", "--json").stdout)
    assert document["eventbridge_delivery"] is False
    assert cli("status", "--json").exit_code == 1


def test_verify_reports_eventbridge_delivery_off(cli: Cli, deployed: dict[str, Any]) -> None:
    assert cli.json("verify")["consistent"] is True
    cli.client("s3").put_bucket_notification_configuration(
        Bucket=deployed["source_bucket"], NotificationConfiguration={}
    )
    result = cli("verify", "--json")
    assert result.exit_code == 1
    finding = json.loads(result.stdout)["findings"][0]
    assert finding["kind"] == "eventbridge-delivery-off" and finding["severity"] == "error"
    repaired = json.loads(cli("verify", "--repair", "--json").stdout)["findings"][0]
    assert not repaired["repaired"] and "objbackup status" in repaired["action"]


def test_queue_urls_are_given_on_the_endpoint() -> None:
    from objbackup.deploy.status import reachable_queue_url

    url = "https://sqs.us-east-1.amazonaws.com/123456789012/e2e-replicator-queue"
    assert reachable_queue_url(url, "http://127.0.0.1:4566") == (
        "http://127.0.0.1:4566/123456789012/e2e-replicator-queue"
    )
    assert reachable_queue_url(url, None) == url
