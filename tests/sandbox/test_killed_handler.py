"""A replicator process killed in the middle of its batches (SIGKILL, not an exception): the
messages come back after the visibility timeout and the system converges with no orphan copy and
no dangling record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from objbackup.sandbox.server import Sandbox
from tests.polling import wait_for
from tests.sandbox.conftest import SandboxClients as Client

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient

KEYS = [f"killed/{n:02d} file.txt" for n in range(12)]


def _cli(sandbox: Sandbox, *args: str) -> str:
    env = {**os.environ, **sandbox.environment(), "OBJBACKUP_NAME": "killed"}
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "objbackup.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _at_rest(sqs: SQSClient, url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


@pytest.mark.timeout(300)
def test_killed_handler_converges(sandbox: Sandbox, client: Client) -> None:
    _cli(sandbox, "deploy", "--yes")
    status = json.loads(_cli(sandbox, "status", "--json"))
    s3, sqs, dynamodb = client("s3"), client("sqs"), client("dynamodb")
    # AWS redelivers after the visibility timeout (30 min as deployed): shorten it for the test
    sqs.set_queue_attributes(QueueUrl=status["queue_url"], Attributes={"VisibilityTimeout": "2"})
    source, backup = status["source_bucket"], status["backup_bucket"]
    last: dict[str, bytes] = {}
    for round_ in range(4):
        for key in KEYS:
            last[key] = f"{key} round {round_}".encode()
            s3.put_object(Bucket=source, Key=key, Body=last[key])
    killed = 0
    for _ in range(3):  # kill the instances while they work through the backlog
        wait_for(
            lambda: sandbox.executor.kill_busy(status["replicator_function"]),
            timeout=30,
            what="a running replicator instance to kill",
        )
        killed += 1
    assert killed == 3

    wait_for(lambda: _at_rest(sqs, status["queue_url"]), timeout=120, what="the queue at rest")
    dlq = sqs.get_queue_attributes(
        QueueUrl=status["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert dlq == "0"
    names: set[str] = set()
    for key in KEYS:
        items = dynamodb.query(
            TableName=status["table"],
            KeyConditionExpression="source_object = :k",
            ExpressionAttributeValues={":k": {"S": key}},
            ConsistentRead=True,
            ScanIndexForward=False,
        )["Items"]
        active = [i for i in items if i["status"]["S"] == "active"]
        assert 1 <= len(active) <= 3, (key, len(active))
        newest = s3.get_object(Bucket=backup, Key=active[0]["copy_name"]["S"])["Body"].read()
        assert newest == last[key]
        names |= {i["copy_name"]["S"] for i in items}
    listed = s3.get_paginator("list_objects_v2").paginate(Bucket=backup)
    in_bucket = {o["Key"] for page in listed for o in page.get("Contents", [])}
    assert in_bucket == names, "orphan copies or records without copies"
    _cli(sandbox, "teardown", "--yes")
