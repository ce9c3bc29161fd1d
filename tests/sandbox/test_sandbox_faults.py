"""The sandbox's fault mode: a share of the functions' AWS calls fail, and the SDK retries."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from objbackup.sandbox.server import Sandbox
from tests.sandbox.conftest import SandboxClients, create_function, function_role

BUSY = """
import os, boto3
from botocore.config import Config

def handler(event, context):
    # as objbackup's own clients: standard retries, enough attempts to ride out a 20% fault rate
    s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 12}))
    for n in range(40):
        s3.put_object(Bucket=os.environ["OUT"], Key=f"k{n}", Body=b"x")
    return {"written": 40}
"""


def test_injected_faults_are_retried_and_logged(tmp_path: Path) -> None:
    log = tmp_path / "faults.jsonl"
    with Sandbox(port=0, fault_rate=0.2, fault_log=str(log)) as sandbox:
        session = boto3.Session(
            aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name="us-east-1"
        )

        client = SandboxClients(session, sandbox.endpoint_url)

        s3 = session.client("s3", endpoint_url=sandbox.endpoint_url)
        s3.create_bucket(Bucket="faulty-out")
        create_function(
            client,
            "busy",
            BUSY,
            function_role(client),
            60,
            Environment={"Variables": {"OUT": "faulty-out"}},
        )
        answer = session.client("lambda", endpoint_url=sandbox.endpoint_url).invoke(
            FunctionName="busy", Payload=b"{}"
        )
        assert "FunctionError" not in answer, answer["Payload"].read()
        assert s3.list_objects_v2(Bucket="faulty-out")["KeyCount"] == 40
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    faults = [f for f in logged if f["kind"] != "retry"]
    assert len(faults) >= 3, "a 20% fault rate over 40+ calls injects faults"
    retries = [f for f in logged if f["kind"] == "retry"]
    assert len(retries) == len(faults), "every injected fault is retried once by the SDK"
    assert {f["kind"] for f in faults} <= {"throttle", "server-error", "connection"}
    assert all(f["service"] == "s3" and f["op"] == "PutObject" for f in faults)
