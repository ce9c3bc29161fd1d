"""A replicator process killed in the middle of its batches (SIGKILL, not an exception): the
messages come back after the visibility timeout and the system converges with no orphan copy and
no dangling record."""

from __future__ import annotations

import json

import pytest

from objbackup.core.table import CopyTable
from objbackup.sandbox.server import Sandbox
from tests.polling import wait_for
from tests.queue import queue_at_rest
from tests.sandbox.conftest import SandboxClients as Client
from tests.sandbox.conftest import objbackup_cli

KEYS = [f"killed/{n:02d} file.txt" for n in range(12)]


def _cli(sandbox: Sandbox, *args: str) -> str:
    return objbackup_cli(sandbox, "killed", *args)


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

    wait_for(lambda: queue_at_rest(sqs, status["queue_url"]), timeout=120, what="the queue at rest")
    dlq = sqs.get_queue_attributes(
        QueueUrl=status["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert dlq == "0"
    names: set[str] = set()
    table = CopyTable(dynamodb, status["table"])
    for key in KEYS:
        records = table.copies(key)  # newest first, consistent reads
        active = [r for r in records if r.status == "active"]
        assert 1 <= len(active) <= 3, (key, len(active))
        newest = s3.get_object(Bucket=backup, Key=active[0].copy_name)["Body"].read()
        assert newest == last[key]
        names |= {r.copy_name for r in records}
    listed = s3.get_paginator("list_objects_v2").paginate(Bucket=backup)
    in_bucket = {o["Key"] for page in listed for o in page.get("Contents", [])}
    assert in_bucket == names, "orphan copies or records without copies"
    _cli(sandbox, "teardown", "--yes")
