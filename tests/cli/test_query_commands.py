"""`status`, `list` and `clean --now` against moto: JSON shapes, tables, and failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer

from objbackup.cli.commands import clean as clean_command
from objbackup.cli.context import GlobalOptions
from objbackup.deploy.errors import FunctionFailed
from objbackup.deploy.invoke import CleanerReport
from tests.cli.conftest import Cli
from tests.unit.test_listing import COPY_KEYS

STATUS_KEYS = {
    "name",
    "region",
    "stacks",
    "source_bucket",
    "backup_bucket",
    "table",
    "queue_url",
    "dlq_url",
    "queue_depth",
    "dlq_depth",
    "replicator_function",
    "cleaner_function",
    "retain",
    "grace_seconds",
    "schedule",
}


def put_record(cli: Cli, deployment: dict[str, Any], key: str, stamp: str, **extra: str) -> str:
    """A copy and its record, as the replicator would have left them."""
    name = f"{key}@{stamp}"
    cli.client("s3").put_object(Bucket=deployment["backup_bucket"], Key=name, Body=b"x")
    item = {
        "source_object": {"S": key},
        "copy_timestamp": {"S": stamp},
        "copy_name": {"S": name},
        "status": {"S": "active"},
        "size": {"N": "1"},
        "etag": {"S": "abc"},
    }
    item.update({k: {"S": v} for k, v in extra.items()})
    cli.client("dynamodb").put_item(TableName=deployment["table"], Item=item)
    return name


def put_disowned(cli: Cli, deployment: dict[str, Any], key: str, disowned_at: str) -> str:
    """A copy and its record, disowned at `disowned_at`."""
    return put_record(
        cli, deployment, key, "2026-11-25T12:00:00Z~01", status="disowned", disowned_at=disowned_at
    )


def test_status_json_has_the_contract_keys(cli: Cli, deployed: dict[str, Any]) -> None:
    assert set(deployed) >= STATUS_KEYS
    assert deployed["name"] == "objbackup" and deployed["region"] == "us-east-1"
    assert set(deployed["stacks"]) == {"storage", "replicator", "cleaner"}
    assert isinstance(deployed["queue_depth"], int) and isinstance(deployed["dlq_depth"], int)
    assert isinstance(deployed["retain"], int) and isinstance(deployed["grace_seconds"], float)
    # moto's CloudFormation skips AWS::CloudWatch::Alarm; the sandbox's patches create it.
    assert deployed["alarm_name"].startswith("objbackup-replicator-DeadLetterQueueAlarm")


def test_status_table_and_dead_letter_depth(cli: Cli, deployed: dict[str, Any]) -> None:
    cli.client("sqs").send_message(QueueUrl=deployed["dlq_url"], MessageBody="{not json")
    assert cli.json("status")["dlq_depth"] == 1
    text = cli.ok("status").stdout
    for value in (
        "objbackup-storage",
        "CREATE_COMPLETE",
        deployed["source_bucket"] + " (created)",
        deployed["backup_bucket"],
        deployed["table"],
        deployed["cleaner_function"],
        "rate(1 minute)",
    ):
        assert value in text
    assert "dead-letter depth  │ 1" in text


def test_list_object_json_shape_and_order(cli: Cli, deployed: dict[str, Any]) -> None:
    older = put_record(cli, deployed, "a b+c.txt", "2026-11-25T12:00:00Z~01")
    newer = put_record(cli, deployed, "a b+c.txt", "2026-11-25T12:00:05Z~02")
    document = cli.json("list", "a b+c.txt")
    assert set(document) == {"object", "copies"} and document["object"] == "a b+c.txt"
    assert [c["copy_name"] for c in document["copies"]] == [newer, older]
    for copy in document["copies"]:
        assert set(copy) >= COPY_KEYS
        assert copy["disowned_at"] is None and copy["size"] == 1 and copy["etag"] == "abc"
    text = cli.ok("list", "a b+c.txt").stdout
    assert text.index(newer) < text.index(older)
    assert cli.json("list", "nothing-here") == {"object": "nothing-here", "copies": []}
    assert "No copies of nothing-here." in cli.ok("list", "nothing-here").stderr


def test_list_disowned_json_shape_order_and_age(cli: Cli, deployed: dict[str, Any]) -> None:
    recent = put_disowned(cli, deployed, "x", "2999-01-01T00:00:00Z")
    old = put_disowned(cli, deployed, "y", "2020-01-01T00:00:00Z")
    put_record(cli, deployed, "z", "2026-11-25T12:00:00Z~01")  # active: never listed here
    document = cli.json("list", "--disowned")
    assert set(document) == {"disowned"}
    assert [c["copy_name"] for c in document["disowned"]] == [old, recent]
    assert all(set(c) >= COPY_KEYS and c["status"] == "disowned" for c in document["disowned"])
    aged = cli.json("list", "--disowned", "--older-than", "60")
    assert [c["copy_name"] for c in aged["disowned"]] == [old]
    assert "Disowned copies" in cli.ok("list", "--disowned").stdout


def test_list_reports_an_aws_error_with_its_code(cli: Cli, deployed: dict[str, Any]) -> None:
    cli.client("dynamodb").delete_table(TableName=deployed["table"])
    result = cli("list", "key")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: AWS error ResourceNotFoundException in Query:")


def test_clean_now_json_and_table(cli: Cli, deployed: dict[str, Any]) -> None:
    name = put_disowned(cli, deployed, "gone", "2020-01-01T00:00:00Z")
    dry = cli.json("clean", "--now", "--dry-run")
    assert set(dry) >= {"dry_run", "deleted", "failed", "copies"}
    assert (dry["dry_run"], dry["deleted"], dry["failed"], dry["copies"]) == (True, 0, 0, [name])
    text = cli.ok("clean", "--now", "--dry-run")
    assert "Would delete 1 copy" in text.stderr and name in text.stdout
    assert cli.json("list", "gone")["copies"] != []
    done = cli.ok("clean", "--now")
    assert "Deleted 1 copy" in done.stderr
    assert cli.json("list", "gone")["copies"] == []
    assert cli.json("clean", "--now")["deleted"] == 0
    invocations = [event for function, event in cli.executor.invocations if "cleaner" in function]
    assert invocations == [{"dry_run": flag} for flag in (True, True, False, False)]


def test_clean_now_function_error_is_an_operational_failure(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    cli.client("dynamodb").delete_table(TableName=deployed["table"])  # the cleaner will raise
    result = cli("clean", "--now", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["exit_code"] == 1  # the error, as JSON, for scripts
    assert result.stderr.startswith(
        f"Error: function {deployed['cleaner_function']} failed: ResourceNotFoundException"
    )
    assert f"/aws/lambda/{deployed['cleaner_function']}" in result.stderr
    assert "Hint: see its log lines: `objbackup logs --since 15m`" in result.stderr


def test_clean_now_without_a_cleaner_stack(cli: Cli, deployed: dict[str, Any]) -> None:
    cli.client("cloudformation").delete_stack(StackName="objbackup-cleaner")
    result = cli("clean", "--now")
    assert result.exit_code == 1
    assert "is incomplete: stack objbackup-cleaner does not exist" in result.stderr


def test_clean_report_with_failures_exits_1(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, bool]] = []

    def invoke(function: str, dry_run: bool) -> CleanerReport:
        calls.append((function, dry_run))
        return CleanerReport(False, 1, 2, ["a@1"], "2026-11-25T12:00:00Z", ["b@1: AccessDenied"])

    with pytest.raises(typer.Exit) as exit_info:
        clean_command.run(GlobalOptions(), dry_run=False, as_json=True, invoke=invoke)
    assert exit_info.value.exit_code == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["failed"] == 2
    assert "2 copies could not be deleted" in err
    assert calls == [(deployed["cleaner_function"], False)]


def test_clean_forwards_function_failures(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    def invoke(function: str, dry_run: bool) -> CleanerReport:
        raise FunctionFailed(function, "Runtime.ExitError", "the instance died")

    with pytest.raises(FunctionFailed, match="the instance died"):
        clean_command.run(GlobalOptions(), dry_run=True, as_json=False, invoke=invoke)
