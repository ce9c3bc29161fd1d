"""`objbackup deploy` against moto: confirmation, no-change runs, updates, adopted buckets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import Cli


def change_sets(cli: Cli) -> int:
    """Change sets CloudFormation was asked for, over the deployment's stacks."""
    cfn = cli.client("cloudformation")
    return sum(
        len(cfn.list_change_sets(StackName=s["StackId"])["Summaries"])
        for s in cfn.describe_stacks()["Stacks"]
    )


def environment(cli: Cli, function: str) -> dict[str, str]:
    config = cli.client("lambda").get_function_configuration(FunctionName=function)
    variables: dict[str, str] = config["Environment"]["Variables"]
    return variables


def test_deploy_asks_first_and_a_no_deploys_nothing(cli: Cli) -> None:
    result = cli("deploy", input="n\n")
    assert result.exit_code == 1
    assert "Deploy these changes?" in result.stderr
    assert "objbackup-storage" in result.stderr and "create" in result.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    assert cli.client("s3").list_buckets()["Buckets"] == []


def test_deploy_with_a_yes_answer(cli: Cli) -> None:
    cli.ok("deploy", input="y\n")
    assert cli.json("status")["stacks"]["cleaner"] == "CREATE_COMPLETE"


def test_second_deploy_changes_nothing(cli: Cli) -> None:
    cli.ok("deploy", "--yes")
    status = cli.json("status")
    artifacts = cli.client("s3").list_object_versions(Bucket=status["artifacts_bucket"])
    before = change_sets(cli)
    again = cli.ok("deploy")  # no --yes needed: there is nothing to confirm
    assert "No changes: deployment objbackup in us-east-1 is up to date." in again.stderr
    assert "Deploy these changes?" not in again.stderr
    assert "SourceBucketName" in again.stdout  # the outputs are printed all the same
    assert change_sets(cli) == before
    after = cli.client("s3").list_object_versions(Bucket=status["artifacts_bucket"])
    assert after["Versions"] == artifacts["Versions"]  # the bundle was not uploaded again
    assert cli.json("status") == status


def test_dry_run_creates_nothing(cli: Cli) -> None:
    result = cli.ok("deploy", "--dry-run")
    assert "objbackup-storage" in result.stderr and "create" in result.stderr
    assert "Dry run: nothing was deployed." in result.stderr
    assert "Deploy these changes?" not in result.stderr
    assert result.stdout == ""
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    assert cli.client("s3").list_buckets()["Buckets"] == []


def test_deploy_json_reports_the_plan_what_it_did_and_the_outputs(cli: Cli) -> None:
    created = cli.json("deploy", "--yes")
    assert (created["dry_run"], created["changes"], created["bundle"]["upload"]) == (
        False,
        True,
        True,
    )
    assert [(s["role"], s["action"]) for s in created["stacks"]] == [
        ("storage", "create"),
        ("replicator", "create"),
        ("cleaner", "create"),
    ]
    assert created["outcomes"] == {
        "storage": "created",
        "replicator": "created",
        "cleaner": "created",
    }
    assert created["bundle_uploaded"] is True
    assert created["settings"] == {
        "source_bucket": None,
        "retain": 3,
        "grace_seconds": 10.0,
        "schedule": "rate(1 minute)",
        "include_prefixes": [],
        "exclude_prefixes": [],
        "multipart_threshold": None,
        "concurrency": 25,
        "batch_size": 10,
        "batching_window": 1,
        "replicator_memory": 512,
        "storage_class": "STANDARD",
    }
    status = cli.json("status")
    assert created["outputs"]["storage"]["SourceBucketName"] == status["source_bucket"]

    unchanged = cli.json("deploy")
    assert (unchanged["changes"], unchanged["outcomes"]) == (False, None)
    assert unchanged["outputs"] == created["outputs"]

    # A dry run of a change names it and leaves the deployment as it was.
    planned = cli.json("deploy", "--grace", "30", "--dry-run")
    cleaner = next(s for s in planned["stacks"] if s["role"] == "cleaner")
    assert cleaner["action"] == "update" and "GraceSeconds: 10 -> 30" in cleaner["reasons"]
    assert (planned["dry_run"], planned["outcomes"], planned["outputs"]) == (True, None, None)
    assert cli.json("status") == status


@pytest.mark.slow  # several deploys
def test_update_changes_only_what_was_asked_and_reaches_the_functions(cli: Cli) -> None:
    cli.ok("deploy", "--yes")
    first = cli.json("status")
    assert environment(cli, first["cleaner_function"])["OBJBACKUP_GRACE_SECONDS"] == "10"
    updated = cli.ok("deploy", "--yes", "--grace", "30")
    assert "GraceSeconds: 10 -> 30" in updated.stderr
    assert "storage" in updated.stderr and "cleaner updated" in updated.stderr
    assert "storage unchanged" in updated.stderr
    status = cli.json("status")
    assert (status["grace_seconds"], status["retain"]) == (30.0, 3)
    for function in (status["replicator_function"], status["cleaner_function"]):
        assert environment(cli, function)["OBJBACKUP_GRACE_SECONDS"] == "30"
    # Options left out keep their deployed values.
    cli.ok("deploy", "--yes", "--retain", "5", "--schedule", "rate(5 minutes)")
    status = cli.json("status")
    assert (status["grace_seconds"], status["retain"], status["schedule"]) == (
        30.0,
        5,
        "rate(5 minutes)",
    )
    assert environment(cli, status["replicator_function"])["OBJBACKUP_RETAIN"] == "5"
    outputs = cli.client("cloudformation").describe_stacks(StackName="objbackup-cleaner")
    rule = next(o for o in outputs["Stacks"][0]["Outputs"] if o["OutputKey"] == "RuleName")
    described = cli.client("events").describe_rule(Name=rule["OutputValue"])
    assert described["ScheduleExpression"] == "rate(5 minutes)"
    assert status["source_bucket"] == first["source_bucket"]


def make_bucket(cli: Cli, name: str, eventbridge: bool) -> Any:
    s3 = cli.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="precious.txt", Body=b"mine")
    if eventbridge:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return s3


def test_adopted_source_bucket_is_used_kept_and_never_deleted(cli: Cli) -> None:
    s3 = make_bucket(cli, "my-data", eventbridge=False)
    result = cli.ok("deploy", "--yes", "--source-bucket", "my-data")
    assert "turn on EventBridge delivery of my-data" in result.stderr
    assert "EventBridge delivery of my-data turned on" in result.stderr
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket="my-data")
    status = cli.json("status")
    assert (status["source_bucket"], status["source_bucket_created"]) == ("my-data", False)
    assert status["adopted_source_bucket"] is True
    assert status["source_eventbridge_by_objbackup"] is True
    # Later deploys keep the adopted bucket without being told again.
    assert "No changes" in cli.ok("deploy", "--yes").stderr
    assert "No changes" in cli.ok("deploy", "--yes", "--source-bucket", "my-data").stderr
    gone = cli.ok("teardown", "--yes")
    text = " ".join(gone.stderr.split())
    assert "kept (adopted: objbackup never deletes it)" in text
    assert "EventBridge delivery │ my-data │ turned off (objbackup turned it on)" in text
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["my-data"]
    assert s3.get_object(Bucket="my-data", Key="precious.txt")["Body"].read() == b"mine"
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(
        Bucket="my-data"
    )


def test_adopted_bucket_with_eventbridge_is_left_as_it_was(cli: Cli) -> None:
    s3 = make_bucket(cli, "evented", eventbridge=True)
    result = cli.ok("deploy", "--yes", "--source-bucket", "evented")
    nobody = "Warning: alarms notify nobody: pass --alarm-email ADDRESS or --alarm-topic-arn ARN"
    assert "Warning" not in result.stderr.replace(nobody, "")
    assert "EventBridge delivery of evented is on already" in result.stderr
    assert cli.json("status")["source_eventbridge_by_objbackup"] is False
    gone = cli.ok("teardown", "--yes")
    assert "left on (it was on before objbackup)" in " ".join(gone.stderr.split())
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket="evented")


def test_missing_source_bucket_is_refused(cli: Cli) -> None:
    result = cli("deploy", "--yes", "--source-bucket", "no-such-bucket")
    assert result.exit_code == 1
    assert "Error: source bucket no-such-bucket does not exist" in result.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


@pytest.mark.parametrize("own", ["backup_bucket", "artifacts_bucket"])
def test_source_bucket_equal_to_one_of_ours_is_refused(cli: Cli, own: str) -> None:
    cli.ok("deploy", "--yes")
    status = cli.json("status")
    result = cli("deploy", "--yes", "--source-bucket", status[own])
    assert result.exit_code == 1
    kind = own.split("_")[0]
    assert f"is this deployment's {kind} bucket" in result.stderr
    assert cli.json("status") == status


def test_switching_the_source_bucket_is_refused(cli: Cli) -> None:
    cli.ok("deploy", "--yes")
    make_bucket(cli, "another-bucket", eventbridge=True)
    result = cli("deploy", "--yes", "--source-bucket", "another-bucket")
    assert result.exit_code == 1
    assert "it cannot switch to another-bucket" in result.stderr
    assert "objbackup teardown" in result.stderr
    # Naming the bucket it already has is fine.
    source = cli.json("status")["source_bucket"]
    assert "No changes" in cli.ok("deploy", "--yes", "--source-bucket", source).stderr


def test_another_name_is_another_deployment(cli: Cli) -> None:
    cli.ok("deploy", "--yes")
    cli.ok("--name", "second", "deploy", "--yes")
    first, second = cli.json("status"), cli.json("--name", "second", "status")
    assert first["backup_bucket"] != second["backup_bucket"]
    assert second["stack_names"]["storage"] == "second-storage"
    assert second["cleaner_function"] == "second-cleaner-cleaner"


def test_deploy_streams_stack_events(cli: Cli) -> None:
    result = cli.ok("deploy", "--yes")
    for stack in ("objbackup-storage", "objbackup-replicator", "objbackup-cleaner"):
        assert any(
            stack in line and "CREATE_COMPLETE" in line for line in result.stderr.splitlines()
        ), stack


def test_a_leftover_stack_under_review_is_replaced(cli: Cli) -> None:
    """A create change set that was never executed leaves a REVIEW_IN_PROGRESS stack."""
    from objbackup.deploy.stacks import template_body

    cfn = cli.client("cloudformation")
    cfn.create_change_set(
        StackName="objbackup-storage",
        ChangeSetName="abandoned",
        ChangeSetType="CREATE",
        TemplateBody=template_body("storage"),
        Capabilities=["CAPABILITY_IAM"],
    )
    assert cli.json("status")["stacks"]["storage"] == "REVIEW_IN_PROGRESS"
    result = cli.ok("deploy", "--yes")
    assert "replaces a REVIEW_IN_PROGRESS stack" in result.stderr
    assert cli.json("status")["stacks"] == dict.fromkeys(
        ("storage", "replicator", "cleaner"), "CREATE_COMPLETE"
    )


def test_commands_needing_outputs_explain_an_incomplete_deployment(cli: Cli) -> None:
    from objbackup.deploy.stacks import template_body

    cli.client("cloudformation").create_change_set(
        StackName="objbackup-storage",
        ChangeSetName="abandoned",
        ChangeSetType="CREATE",
        TemplateBody=template_body("storage"),
        Capabilities=["CAPABILITY_IAM"],
    )
    result = cli("list", "key")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: objbackup deployment objbackup in region us-east-1 is incomplete: stack "
        "objbackup-storage is REVIEW_IN_PROGRESS and has no output TableName",
        "Hint: run `objbackup deploy` to complete it, or `objbackup teardown` to remove it",
    ]
