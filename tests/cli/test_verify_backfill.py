"""`verify` and `backfill` in process: JSON shapes, exit codes, dry runs and error paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from objbackup.core.config import Settings
from tests.cli.conftest import Cli
from tests.harness import FakeClock, Harness
from tests.queue import drain

VERIFY_KEYS = {
    "consistent",
    "checked",
    "findings",
    "repaired",
    "remaining",
    "errors",
    "warnings",
    "errors_remaining",
    "repair",
    "dry_run",
}
FINDING_KEYS = {"kind", "severity", "object", "copy_name", "detail", "repaired", "action"}
BACKFILL_KEYS = {
    "prefix",
    "listed",
    "sent",
    "skipped",
    "unsupported",
    "excluded",
    "dry_run",
    "objects",
    "failed",
}


@pytest.fixture
def deployed(cli: Cli) -> dict[str, Any]:
    cli.ok("deploy", "--yes", "--grace", "0", "--retain", "2")
    status: dict[str, Any] = cli.json("status")
    return status


def _replicate_queued(cli: Cli, status: dict[str, Any]) -> list[str]:
    """Run what the queue holds through a replicator of the deployment (the Lambda's work)."""
    settings = Settings(
        source_bucket=status["source_bucket"],
        backup_bucket=status["backup_bucket"],
        table=status["table"],
        retain=status["retain"],
    )
    system = Harness(settings, cli.client("s3"), cli.client("dynamodb"), FakeClock())
    return drain(cli.client("sqs"), status["queue_url"], system)


def _queued(cli: Cli, status: dict[str, Any]) -> int:
    attributes = cli.client("sqs").get_queue_attributes(
        QueueUrl=status["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


# --- error paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["verify"], ["verify", "--repair"], ["backfill"]])
def test_not_deployed_is_one_line_and_exit_1(cli: Cli, command: list[str]) -> None:
    result = cli(*command)
    assert result.exit_code == 1
    assert "Error: no objbackup deployment named objbackup in region us-east-1" in result.stderr
    assert "Hint: run `objbackup deploy`" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["verify", "--dry-run"], "--dry-run goes with --repair"),
        (["verify", "--bogus"], "No such option"),
        (["backfill", "--prefix"], "requires an argument"),
        (["backfill", "extra"], "unexpected extra argument"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: list[str], complaint: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert complaint in result.stderr


def test_backfill_without_a_replicator_stack_says_so(cli: Cli, deployed: dict[str, Any]) -> None:
    cloudformation = cli.client("cloudformation")
    cloudformation.delete_stack(StackName="objbackup-replicator")
    cli.client("s3").put_object(Bucket=deployed["source_bucket"], Key="k", Body=b"1")
    result = cli("backfill")
    assert result.exit_code == 1
    assert "stack objbackup-replicator does not exist" in result.stderr
    # verify without --repair needs no queue: it still reports
    checked = cli("verify", "--json")
    assert checked.exit_code == 1 and json.loads(checked.stdout)["findings"][0]["kind"] == (
        "missing-copy"
    )


# --- main paths, in process -------------------------------------------------------------------


def test_empty_deployment_is_consistent(cli: Cli, deployed: dict[str, Any]) -> None:
    document = cli.json("verify")
    assert set(document) == VERIFY_KEYS
    assert document["consistent"] is True and document["findings"] == []
    assert document["checked"] == {"objects": 0, "copies": 0, "records": 0}
    human = cli.ok("verify")
    assert "consistent" in human.stderr and human.stdout == ""


def test_backfill_dry_run_then_backfill_then_verify(cli: Cli, deployed: dict[str, Any]) -> None:
    s3 = cli.client("s3")
    keys = ["old/a b.txt", "old/ü+ö.csv", "other.txt"]
    for key in keys:
        s3.put_object(Bucket=deployed["source_bucket"], Key=key, Body=key.encode())
    # Their events are lost, as for objects written before the deployment.
    cli.client("sqs").purge_queue(QueueUrl=deployed["queue_url"])

    missing = cli("verify", "--json")
    assert missing.exit_code == 1
    findings = json.loads(missing.stdout)["findings"]
    assert {f["object"] for f in findings} == set(keys)
    assert all(set(f) == FINDING_KEYS and f["kind"] == "missing-copy" for f in findings)
    assert "3 findings remain unrepaired" in missing.stderr

    dry = cli.json("backfill", "--prefix", "old/", "--dry-run")
    assert set(dry) == BACKFILL_KEYS
    assert dry["dry_run"] is True and dry["sent"] == 0 and dry["listed"] == 2
    assert dry["objects"] == ["old/a b.txt", "old/ü+ö.csv"]
    assert _queued(cli, deployed) == 0
    table = cli.ok("backfill", "--dry-run")
    assert "old/a b.txt" in table.stdout and "would be sent" in table.stderr

    sent = cli.json("backfill")
    assert (sent["listed"], sent["sent"], sent["skipped"]) == (3, 3, 0)
    assert len(_replicate_queued(cli, deployed)) == 3
    assert cli.json("verify")["consistent"] is True
    again = cli.ok("backfill")
    assert "3 already backed up, 0 sent" in again.stderr
    assert _queued(cli, deployed) == 0


def test_repair_dry_run_changes_nothing_and_repair_fixes(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    s3 = cli.client("s3")
    s3.put_object(Bucket=deployed["source_bucket"], Key="k", Body=b"1")
    cli.ok("backfill")
    _replicate_queued(cli, deployed)
    orphan = "k@20200101T000000Z-" + "0" * 32
    s3.put_object(Bucket=deployed["backup_bucket"], Key=orphan, Body=b"stray")

    dry = cli("verify", "--repair", "--dry-run")
    assert dry.exit_code == 1
    assert "orphan-copy" in dry.stdout and "would delete the copy" in dry.stdout
    assert "dry run: nothing changed" in dry.stderr
    s3.head_object(Bucket=deployed["backup_bucket"], Key=orphan)

    fixed = cli("verify", "--repair", "--json")
    assert fixed.exit_code == 0, fixed.stderr
    document = json.loads(fixed.stdout)
    assert document["consistent"] is False and document["repaired"] == 1
    assert document["remaining"] == 0
    assert document["findings"][0]["action"] == "deleted the copy"
    assert cli.json("verify")["consistent"] is True


def test_verify_honours_the_deployed_key_filter(cli: Cli) -> None:
    cli.ok("deploy", "--yes", "--exclude-prefix", "tmp/")
    status = cli.json("status")
    cli.client("s3").put_object(Bucket=status["source_bucket"], Key="tmp/x", Body=b"1")
    document = cli.json("verify")
    assert document["consistent"] is True and document["checked"]["objects"] == 0
    assert cli.json("backfill")["excluded"] == 1


def test_findings_with_a_busy_queue_warn_of_work_in_flight(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    # The write's event waits on the queue (nothing consumes it in process): work in flight.
    cli.client("s3").put_object(Bucket=deployed["source_bucket"], Key="k", Body=b"1")
    assert _queued(cli, deployed) == 1
    result = cli("verify")
    assert result.exit_code == 1
    assert "The replicator queue holds 1 message: some findings may be work in flight" in (
        result.stderr
    )
    _replicate_queued(cli, deployed)
    quiet = cli.ok("verify")
    assert "queue holds" not in quiet.stderr


def test_warnings_alone_exit_0_and_never_suggest_a_repair(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    s3 = cli.client("s3")
    s3.put_object(Bucket=deployed["source_bucket"], Key="cold", Body=b"1", StorageClass="GLACIER")
    # The replicator acknowledges its event as unsupported: no batch failure, no copy.
    assert len(_replicate_queued(cli, deployed)) == 1
    s3.put_object(Bucket=deployed["backup_bucket"], Key="not ours", Body=b"x")

    human = cli("verify")
    assert human.exit_code == 0, human.stderr
    assert "unsupported-object" in human.stdout and "foreign-object" in human.stdout
    assert "2 findings (2 warnings: no repair can or should fix them)" in human.stderr
    assert "Hint:" not in human.stderr and "--repair" not in human.stderr
    document = cli.json("verify")
    assert (document["errors"], document["warnings"], document["errors_remaining"]) == (0, 2, 0)
    assert {f["kind"]: f["severity"] for f in document["findings"]} == {
        "unsupported-object": "warning",
        "foreign-object": "warning",
    }
    repaired = cli.json("verify", "--repair")
    assert repaired["repaired"] == 0 and repaired["remaining"] == 2
    assert cli.json("backfill", "--dry-run")["unsupported"] == 1
    assert "1 unsupported" in cli.ok("backfill").stderr

    # An error besides: exit 1, and the hint is for it.
    s3.put_object(Bucket=deployed["source_bucket"], Key="plain", Body=b"1")
    cli.client("sqs").purge_queue(QueueUrl=deployed["queue_url"])
    mixed = cli("verify")
    assert mixed.exit_code == 1
    assert "1 finding remains unrepaired; 2 warnings besides" in mixed.stderr
    assert "Hint: run `objbackup verify --repair`" in mixed.stderr
