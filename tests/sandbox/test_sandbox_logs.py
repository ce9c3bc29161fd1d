"""In the sandbox, as on Lambda, a function's output reaches its log group (one stream per
instance, with Lambda's START, END and REPORT lines) and its embedded-metric-format lines become
CloudWatch metrics."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from objbackup.sandbox.server import Sandbox
from tests.polling import wait_for
from tests.sandbox.conftest import SandboxClients as Client
from tests.sandbox.conftest import create_function, function_role, objbackup_cli

TALKER = """
import json, time

def handler(event, context):
    print("plain line from", context.function_name)
    print(json.dumps({
        "event": "talked",
        "Deployment": "logs-test",
        "Talked": event["n"],
        "Sizes": [1, 2, 3],
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": "objbackup-test",
                "Dimensions": [["Deployment"]],
                "Metrics": [
                    {"Name": "Talked", "Unit": "Count"},
                    {"Name": "Sizes", "Unit": "Bytes"},
                ],
            }],
        },
    }))
    time.sleep(event.get("sleep", 0))
    return "ok"
"""
STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def _create(client: Client, name: str, timeout: int = 10) -> None:
    create_function(client, name, TALKER, function_role(client), timeout)


def _messages(client: Client, group: str) -> list[dict[str, Any]]:
    logs = client("logs")
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
        return [dict(e) for page in pages for e in page["events"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def test_a_functions_output_reaches_its_log_group_and_its_emf_lines_its_metrics(
    client: Client,
) -> None:
    _create(client, "talker")
    answer = client("lambda").invoke(FunctionName="talker", Payload=json.dumps({"n": 7}))
    assert json.loads(answer["Payload"].read()) == "ok"

    def complete() -> list[dict[str, Any]] | None:
        events = _messages(client, "/aws/lambda/talker")
        return events if any(e["message"].startswith("REPORT ") for e in events) else None

    events = wait_for(complete, 30, "the invocation's REPORT line in /aws/lambda/talker")
    lines = [e["message"] for e in events]
    start = next(i for i, m in enumerate(lines) if m.startswith("START RequestId: "))
    plain = lines.index("plain line from talker")
    emf = next(i for i, m in enumerate(lines) if '"_aws"' in m)
    end = next(i for i, m in enumerate(lines) if m.startswith("END RequestId: "))
    report = next(i for i, m in enumerate(lines) if m.startswith("REPORT RequestId: "))
    assert start < plain < emf < end < report, lines
    request_id = lines[start].split()[2]
    assert lines[start] == f"START RequestId: {request_id} Version: $LATEST"
    assert lines[end] == f"END RequestId: {request_id}"
    assert re.match(
        rf"REPORT RequestId: {request_id}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms\t$",
        lines[report],
    ), lines[report]
    assert {e["logStreamName"] for e in events} == {events[0]["logStreamName"]}
    assert STREAM.match(events[0]["logStreamName"]), events[0]["logStreamName"]

    cloudwatch = client("cloudwatch")
    listed = wait_for(
        lambda: cloudwatch.list_metrics(Namespace="objbackup-test")["Metrics"],
        30,
        "the EMF metrics in ListMetrics",
    )
    assert {m["MetricName"] for m in listed} == {"Talked", "Sizes"}
    assert all(m["Dimensions"] == [{"Name": "Deployment", "Value": "logs-test"}] for m in listed)
    now = datetime.now(UTC)
    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": name.lower(),
                "MetricStat": {
                    "Metric": {
                        "Namespace": "objbackup-test",
                        "MetricName": name,
                        "Dimensions": [{"Name": "Deployment", "Value": "logs-test"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
            for name in ("Talked", "Sizes")
        ],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
    )["MetricDataResults"]
    sums = {r["Id"]: sum(r["Values"]) for r in data}
    assert sums == {"talked": 7.0, "sizes": 6.0}


def test_a_timed_out_invocation_logs_lambdas_timeout_lines(client: Client) -> None:
    _create(client, "overrun", timeout=1)
    answer = client("lambda").invoke(
        FunctionName="overrun", Payload=json.dumps({"n": 1, "sleep": 30})
    )
    assert answer.get("FunctionError")

    def reported() -> list[str] | None:
        lines = [e["message"] for e in _messages(client, "/aws/lambda/overrun")]
        return lines if any(m.startswith("REPORT ") for m in lines) else None

    lines = wait_for(reported, 30, "the timed-out invocation's REPORT line")
    assert any(m.endswith("Task timed out after 1.00 seconds") for m in lines), lines
    assert "plain line from overrun" in lines
    assert lines[-1].startswith("REPORT RequestId: ")
    assert lines[-1].endswith("Status: timeout"), lines[-1]
    assert lines[-2].startswith("END RequestId: ")


def _cli(sandbox: Sandbox, *args: str) -> str:
    return objbackup_cli(sandbox, "logs", *args, COLUMNS="200")


@pytest.mark.timeout(300)
def test_status_in_the_sandbox_shows_backup_lag_and_the_last_clean(
    sandbox: Sandbox, client: Client
) -> None:
    """On AWS, SQS publishes the queue's age and the cleaner's report line reaches its log group:
    status reads both. The sandbox does the same, so neither is "unknown" there."""
    _cli(sandbox, "deploy", "--yes", "--grace", "0")
    status = json.loads(_cli(sandbox, "status", "--json"))
    assert status["last_clean"] is None
    # Hold the queue's messages: stop the replicator's event source mapping and its pollers.
    mapping = client("lambda").list_event_source_mappings(
        FunctionName=status["replicator_function"]
    )["EventSourceMappings"][0]["UUID"]
    client("lambda").update_event_source_mapping(UUID=mapping, Enabled=False)
    wait_for(lambda: mapping not in sandbox.pollers._threads, 30, "the mapping's pollers to stop")
    client("sqs").send_message(QueueUrl=status["queue_url"], MessageBody="{}")

    def lagging() -> dict[str, Any] | None:
        found: dict[str, Any] = json.loads(_cli(sandbox, "status", "--json"))
        return found if found["backup_lag_seconds"] is not None else None

    assert wait_for(lagging, 60, "a backup lag in status")["backup_lag_seconds"] >= 0

    _cli(sandbox, "clean", "--now")

    def cleaned() -> dict[str, Any] | None:
        found: dict[str, Any] = json.loads(_cli(sandbox, "status", "--json"))
        return found if found["last_clean"] is not None else None

    clean = wait_for(cleaned, 60, "the last clean in status")["last_clean"]
    assert clean["outcome"] == "ok" and clean["failed"] == 0
    text = _cli(sandbox, "status")
    assert re.search(r"backup lag +│ [\d.]+ s", text), text
    assert re.search(r"last clean +│ \d{4}-\d\d-\d\dT[\d:]+Z \(ok\)", text), text
    # The same line through `objbackup logs`, its EMF document parsed.
    lines = [json.loads(line) for line in _cli(sandbox, "logs", "cleaner", "--json").splitlines()]
    reports = [line for line in lines if line["emf"] and '"clean"' in line["message"]]
    assert reports and reports[-1]["emf"]["CleanSucceeded"] == 1
    assert any(line["message"].startswith("REPORT RequestId: ") for line in lines)
    # Teardown deletes the log groups with the stacks; no late line of a stopped instance brings
    # one back (the shipper creates a group only for a new instance's stream).
    _cli(sandbox, "teardown", "--yes")
    sandbox.shipper.flush()
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/logs-")
    assert groups["logGroups"] == []
