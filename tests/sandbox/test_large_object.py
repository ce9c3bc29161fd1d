"""A big object in the sandbox, with a short function timeout and small parts: its multipart copy
runs over several invocations, each stopping in time and re-sending its event to the queue, and
resumes from the parts already copied; the other messages of its batch are copied once, the
deployed 5 receives suffice however many invocations it takes, and no incomplete upload is left."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from objbackup.core.config import ENV_PART_BYTES
from objbackup.sandbox.server import Sandbox
from tests.polling import wait_for
from tests.queue import queue_at_rest
from tests.sandbox.conftest import objbackup_cli

PART = 4 * 1024
PARTS = 2000  # enough calls to outlast one short invocation on any machine
THRESHOLD = 64 * 1024
TIMEOUT = 6  # seconds: a fifth of it is the margin the handler keeps


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    """A sandbox of its own: one poller (so the messages share a batch) and the functions' log."""
    log = tmp_path_factory.mktemp("large") / "functions.log"
    with log.open("w") as out, Sandbox(port=0, function_log=out, concurrency=1) as running:
        yield running, log


def _cli(sandbox: Sandbox, *args: str) -> str:
    return objbackup_cli(sandbox, "large", *args)


def _log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


@pytest.mark.timeout(300)
def test_big_object_resumes_across_invocations_and_costs_its_neighbours_nothing(
    sandbox: tuple[Sandbox, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, log = sandbox
    # moto wants 5 MiB parts, as S3 does; small parts make a short copy take many calls.
    # (The server runs in this process, so the patch reaches it.)
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    _cli(running, "deploy", "--yes", "--multipart-threshold", str(THRESHOLD))
    status = json.loads(_cli(running, "status", "--json"))
    session = boto3.Session(
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name=running.region
    )
    s3 = session.client("s3", endpoint_url=running.endpoint_url)
    sqs = session.client("sqs", endpoint_url=running.endpoint_url)
    functions = session.client("lambda", endpoint_url=running.endpoint_url)
    name = status["replicator_function"]
    environment = functions.get_function_configuration(FunctionName=name)["Environment"]
    functions.update_function_configuration(
        FunctionName=name,
        Timeout=TIMEOUT,
        Environment={"Variables": environment["Variables"] | {ENV_PART_BYTES: str(PART)}},
    )
    # AWS redelivers after the visibility timeout (30 min as deployed): shorten it for the test,
    # but never below the function's timeout (AWS asks for six times it), or a message would be
    # received again while its own invocation still runs. The deployed 5 receives stay: each stop
    # that made progress is re-sent as a new message.
    sqs.set_queue_attributes(
        QueueUrl=status["queue_url"], Attributes={"VisibilityTimeout": str(2 * TIMEOUT)}
    )
    [mapping] = functions.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    functions.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    source, backup = status["source_bucket"], status["backup_bucket"]
    big = os.urandom(PARTS * PART)
    small = {f"neighbour-{n}": f"small {n}".encode() for n in range(5)}
    s3.put_object(Bucket=source, Key="big", Body=big, ContentType="application/x-big")
    for key, body in small.items():
        s3.put_object(Bucket=source, Key=key, Body=body)
    wait_for(
        lambda: (
            sqs.get_queue_attributes(
                QueueUrl=status["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
            == "6"
        ),
        what="the six events in the queue",
    )
    functions.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    wait_for(lambda: queue_at_rest(sqs, status["queue_url"]), timeout=240, what="the queue at rest")

    lines = _log_lines(log)
    deferred = [line for line in lines if line.get("event") == "deferred"]
    handled = Counter(
        (line["key"], line["outcome"]) for line in lines if line.get("event") == "object"
    )
    assert all("big@" in line["reason"] for line in deferred), deferred
    continued = handled[("big", "continued")]
    assert continued > 0
    assert handled == Counter({(key, "copied"): 1 for key in [*small, "big"]}) + Counter(
        {("big", "continued"): continued, ("big", "deferred"): len(deferred)}
    ), "a neighbour was handled twice, or the big copy did not resume"
    dlq = sqs.get_queue_attributes(
        QueueUrl=status["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert dlq == "0"
    assert s3.list_multipart_uploads(Bucket=backup).get("Uploads", []) == []
    copies = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=backup)
        for o in page.get("Contents", [])
    }
    [big_copy] = [c for c in copies if c.startswith("big@")]
    assert s3.get_object(Bucket=backup, Key=big_copy)["Body"].read() == big
    head = s3.head_object(Bucket=backup, Key=big_copy)
    assert head["ContentType"] == "application/x-big" and head["ETag"].endswith(f'-{PARTS}"')
    for key, body in small.items():
        [copy] = [c for c in copies if c.startswith(f"{key}@")]
        assert s3.get_object(Bucket=backup, Key=copy)["Body"].read() == body
    _cli(running, "teardown", "--yes")
