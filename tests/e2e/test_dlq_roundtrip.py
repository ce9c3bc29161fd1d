"""End to end in the sandbox with the AWS CLI: an event that fails five times lands in
the dead-letter queue, `status` and `dlq` show it, the cause is removed, `dlq redrive` brings it
back, and the object is backed up.

The cause: the backup bucket is gone (deleted while empty, as a careless cleanup would), so every
copy fails with NoSuchBucket; creating the bucket again removes it. moto enforces no IAM or KMS,
so a denied permission, the commoner cause on AWS, cannot be played here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Tools
from tests.polling import wait_for

pytestmark = pytest.mark.e2e

KEY = "reports/dead letter.txt"


@pytest.fixture(scope="module")
def deployed(tools: Tools) -> dict[str, Any]:
    tools.objbackup("deploy", "--yes")
    status: dict[str, Any] = tools.objbackup_json("status")
    # AWS retries a failed message after the visibility timeout (30 min here): make it 1 s.
    tools.aws(
        "sqs",
        "set-queue-attributes",
        "--queue-url",
        status["queue_url"],
        "--attributes",
        "VisibilityTimeout=1",
    )
    return status


def test_a_failing_event_goes_to_the_dlq_and_comes_back(
    tools: Tools, deployed: dict[str, Any], tmp_path: Any
) -> None:
    backup = deployed["backup_bucket"]
    tools.aws("s3api", "delete-bucket", "--bucket", backup)
    body = tmp_path / "body.txt"
    body.write_text("must not be lost")
    tools.aws(
        "s3api", "put-object", "--bucket", deployed["source_bucket"], "--key", KEY,
        "--body", str(body),
    )  # fmt: skip
    # Five deliveries fail (maxReceiveCount 5), then SQS moves the message to the DLQ.
    wait_for(
        lambda: tools.queue_depth(deployed["dlq_url"]) == 1,
        timeout=120,
        what="the failing event in the dead-letter queue",
    )
    status = tools.objbackup("status").stdout
    assert "dead-letter depth  │ 1" in status
    # The queue URLs status prints are the sandbox's, and work with the AWS CLI there.
    assert deployed["dlq_url"].startswith(tools.endpoint_url + "/"), deployed["dlq_url"]
    assert deployed["queue_url"].startswith(tools.endpoint_url + "/"), deployed["queue_url"]
    tools.aws("sqs", "get-queue-attributes", "--queue-url", deployed["dlq_url"])
    listed = tools.objbackup_json("dlq")
    assert listed["count"] == 1
    (letter,) = listed["messages"]
    assert letter["key"] == KEY and letter["event"] == "created"
    assert letter["receive_count"] >= 1
    assert tools.active(KEY) == []
    # The sandbox ships the replicator's output to its log group, as Lambda does: `dlq` finds
    # the failure there, and the AWS CLI and `objbackup logs` read the same lines.
    assert "NoSuchBucket" in (letter["reason"] or ""), letter
    group = f"/aws/lambda/{deployed['replicator_function']}"
    found = tools.aws_json(
        "logs", "filter-log-events", "--log-group-name", group,
        "--filter-pattern", f'"{letter["message_id"]}"',
    )["events"]  # fmt: skip
    assert found and all(letter["message_id"] in e["message"] for e in found)
    assert all(e["logStreamName"].split("/")[3].startswith("[$LATEST]") for e in found)
    ours = [
        json.loads(line)
        for line in tools.objbackup("logs", "replicator", "--json").stdout.splitlines()
    ]
    assert {e["message"] for e in found} <= {line["message"] for line in ours}

    # The cause is removed; the redrive brings the event back and the object is backed up.
    tools.aws("s3api", "create-bucket", "--bucket", backup)
    dry = tools.objbackup_json("dlq", "redrive", "--dry-run")
    assert dry["moved"] == 1 and tools.objbackup_json("status")["dlq_depth"] == 1
    moved = tools.objbackup_json("dlq", "redrive")
    assert moved["moved"] == 1 or moved["method"] == "message-move-task"
    copies = wait_for(
        lambda: tools.table_active(KEY), timeout=60, what=f"a copy of {KEY} after the redrive"
    )
    assert len(copies) == 1 and tools.active(KEY) == copies
    assert tools.objbackup_json("status")["dlq_depth"] == 0
    assert tools.objbackup_json("dlq")["count"] == 0
