"""End to end: `objbackup deploy --source-bucket` adopts a bucket made with the AWS CLI,
whose owner already sends its events to a queue, with `--include-prefix` / `--exclude-prefix`;
only the filtered keys are backed up, and teardown leaves the bucket, its objects and the owner's
notification as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Tools
from tests.polling import wait_for

pytestmark = pytest.mark.e2e
BUCKET = "their-data"


def _notifications(tools: Tools) -> dict[str, Any]:
    found: dict[str, Any] = tools.aws_json(
        "s3api", "get-bucket-notification-configuration", "--bucket", BUCKET
    )
    return found


def test_adopt_a_bucket_with_a_filter_then_tear_down(tools: Tools, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("theirs\n")
    tools.aws("s3api", "create-bucket", "--bucket", BUCKET)
    tools.aws("s3", "cp", str(body), f"s3://{BUCKET}/existing.txt")
    queue = tools.aws_json("sqs", "create-queue", "--queue-name", "their-queue")["QueueUrl"]
    queue_arn = tools.aws_json(
        "sqs", "get-queue-attributes", "--queue-url", queue, "--attribute-names", "QueueArn"
    )["Attributes"]["QueueArn"]
    theirs = json.dumps(
        {
            "QueueConfigurations": [
                {"Id": "theirs", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        }
    )
    tools.aws(
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        BUCKET,
        "--notification-configuration",
        theirs,
    )

    adopt = (
        "--source-bucket",
        BUCKET,
        "--include-prefix",
        "keep/",
        "--exclude-prefix",
        "keep/tmp/",
    )
    # A dry run says what adopting does to the bucket and touches nothing.
    before = _notifications(tools)
    planned = tools.objbackup_json("deploy", "--dry-run", *adopt)
    assert planned["eventbridge"]["action"] == "turn on"
    assert planned["eventbridge"]["kept"]["QueueConfigurations"] == 1
    assert _notifications(tools) == before
    stacks = tools.aws_json("cloudformation", "list-stacks")["StackSummaries"]
    assert tools.own([s["StackName"] for s in stacks]) == []

    tools.objbackup("deploy", "--yes", *adopt)
    status = tools.objbackup_json("status")
    assert status["source_bucket"] == BUCKET and status["adopted_source_bucket"] is True
    assert (status["include_prefixes"], status["exclude_prefixes"]) == (["keep/"], ["keep/tmp/"])
    merged = _notifications(tools)
    assert "EventBridgeConfiguration" in merged
    assert [q["Id"] for q in merged["QueueConfigurations"]] == ["theirs"]

    # The skipped keys go first: once the kept one is backed up and the queue has settled, every
    # event delivered before it has been handled too.
    for key in ("keep/tmp/scratch.txt", "other/elsewhere.txt", "keep/report.txt"):
        tools.aws("s3", "cp", str(body), f"s3://{BUCKET}/{key}")
    wait_for(
        lambda: len(tools.table_copies("keep/report.txt")) == 1, what="keep/report.txt backed up"
    )
    wait_for(lambda: tools.queue_settled(status["queue_url"]), what="the queue to settle")
    assert tools.copies("keep/tmp/scratch.txt") == []
    assert tools.copies("other/elsewhere.txt") == []
    assert tools.copies("existing.txt") == []  # written before the deploy: no event, no copy
    (copy,) = tools.copies("keep/report.txt")
    assert tools.bucket_keys(status["backup_bucket"]) == [copy["copy_name"]]
    assert status["dlq_depth"] == 0 and tools.objbackup_json("status")["dlq_depth"] == 0

    gone = tools.objbackup("teardown", "--yes")
    assert "adopted" in gone.stderr
    assert tools.bucket_keys(BUCKET) == [
        "existing.txt",
        "keep/report.txt",
        "keep/tmp/scratch.txt",
        "other/elsewhere.txt",
    ]
    buckets = [b["Name"] for b in tools.aws_json("s3api", "list-buckets").get("Buckets", [])]
    assert BUCKET in buckets and tools.own(buckets) == []
    assert status["backup_bucket"] not in buckets
    after = _notifications(tools)
    assert "EventBridgeConfiguration" not in after  # objbackup turned it on, so it turned it off
    assert [q["Id"] for q in after["QueueConfigurations"]] == ["theirs"]
    # The owner's queue kept receiving its own notifications all along.
    received = tools.aws_json(
        "sqs", "receive-message", "--queue-url", queue, "--max-number-of-messages", "10"
    )
    assert received.get("Messages")
