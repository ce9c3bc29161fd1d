"""`deploy --source-bucket` adopting a bucket and `--include-prefix` / `--exclude-prefix`, against
moto in process: error paths, the rule a filter deploys, and what teardown leaves alone."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.events.models import EventPattern

from objbackup.core.events import encode_key
from tests.cli.conftest import Cli

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


def make_bucket(cli: Cli, name: str, queue: bool = False) -> Any:
    s3 = cli.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="precious.txt", Body=b"mine")
    if queue:
        sqs = cli.client("sqs")
        url = sqs.create_queue(QueueName="their-queue")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        s3.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"Id": "theirs", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
    return s3


def notifications(s3: S3Client, bucket: str) -> dict[str, Any]:
    config = dict(s3.get_bucket_notification_configuration(Bucket=bucket))
    config.pop("ResponseMetadata")
    return config


def rule_pattern(cli: Cli) -> dict[str, Any]:
    name = cli.client("cloudformation").describe_stacks(StackName="objbackup-replicator")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in name["Stacks"][0]["Outputs"]}
    pattern: dict[str, Any] = json.loads(
        cli.client("events").describe_rule(Name=outputs["RuleName"])["EventPattern"]
    )
    return pattern


def passes(pattern: dict[str, Any], bucket: str, key: str) -> bool:
    event = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": encode_key(key)}},
    }
    return EventPattern(json.dumps(pattern), pattern).matches_event(event)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--include-prefix", ""], "must not be empty"),
        (["--exclude-prefix", "a,b"], "contains a comma"),
        (["--all-keys", "--include-prefix", "a/"], "--all-keys backs up every key"),
        (
            ["--include-prefix", "a/b/", "--exclude-prefix", "a/"],
            "nothing would be backed up",
        ),
    ],
)
def test_bad_filters_are_usage_errors(cli: Cli, args: list[str], error: str) -> None:
    result = cli("deploy", "--yes", *args)
    assert result.exit_code == 2, result.stderr
    assert error in result.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_a_bucket_in_another_region_is_refused(cli: Cli) -> None:
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    result = cli("deploy", "--yes", "--source-bucket", "far-away")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: source bucket far-away is in region eu-west-1, not us-east-1",
        "Hint: deploy with --region eu-west-1: S3 sends a bucket's events to EventBridge in the "
        "bucket's own region",
    ]
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_adopting_merges_keeps_and_reports(cli: Cli) -> None:
    s3 = make_bucket(cli, "their-data", queue=True)
    s3.put_bucket_versioning(Bucket="their-data", VersioningConfiguration={"Status": "Enabled"})
    plan = cli("deploy", "--source-bucket", "their-data", input="n\n")
    assert plan.exit_code == 1
    text = " ".join(plan.stderr.split())
    assert "adopted bucket their-data (us-east-1): versioning Enabled" in text
    assert "turn on EventBridge delivery of their-data (keeping 1 queue)" in text
    # Nothing is changed before the confirmation.
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(
        Bucket="their-data"
    )
    cli.ok("deploy", "--yes", "--source-bucket", "their-data")
    config = s3.get_bucket_notification_configuration(Bucket="their-data")
    assert config["EventBridgeConfiguration"] == {}
    assert [q["Id"] for q in config["QueueConfigurations"]] == ["theirs"]
    assert s3.get_bucket_versioning(Bucket="their-data")["Status"] == "Enabled"
    # The rule and the replicator's role name the adopted bucket exactly.
    pattern = rule_pattern(cli)
    assert pattern["detail"]["bucket"]["name"] == ["their-data"]
    assert "No changes" in cli.ok("deploy", "--yes").stderr

    gone = cli.ok("teardown", "--yes")
    assert "EventBridge delivery │ their-data │ turned off" in " ".join(gone.stderr.split())
    assert s3.get_object(Bucket="their-data", Key="precious.txt")["Body"].read() == b"mine"
    after = s3.get_bucket_notification_configuration(Bucket="their-data")
    assert "EventBridgeConfiguration" not in after
    assert [q["Id"] for q in after["QueueConfigurations"]] == ["theirs"]


def test_dry_run_of_an_adoption_shows_the_merge_and_changes_nothing(cli: Cli) -> None:
    s3 = make_bucket(cli, "their-data", queue=True)
    before = notifications(s3, "their-data")
    result = cli.ok(
        "deploy",
        "--source-bucket",
        "their-data",
        "--include-prefix",
        "keep/",
        "--dry-run",
        "--json",
    )
    assert "Deploy these changes?" not in result.stderr
    assert "Dry run: nothing was deployed." in result.stderr
    plan = json.loads(result.stdout)
    assert (plan["dry_run"], plan["changes"], plan["outcomes"]) == (True, True, None)
    assert plan["settings"]["source_bucket"] == "their-data"
    assert plan["settings"]["include_prefixes"] == ["keep/"]
    assert plan["source"] == {
        "bucket": "their-data",
        "region": "us-east-1",
        "versioning": "never enabled",
        "encryption": plan["source"]["encryption"],
    }
    assert plan["eventbridge"] == {
        "bucket": "their-data",
        "action": "turn on",
        "kept": plan["eventbridge"]["kept"],
    }
    assert plan["eventbridge"]["kept"]["QueueConfigurations"] == 1
    # Nothing was touched: not the bucket's notifications, not CloudFormation, no new bucket.
    assert notifications(s3, "their-data") == before
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["their-data"]


def test_teardown_leaves_delivery_on_while_another_rule_uses_it(cli: Cli) -> None:
    s3 = make_bucket(cli, "shared-data")
    cli.ok("deploy", "--yes", "--source-bucket", "shared-data")
    cli.client("events").put_rule(
        Name="audit-trail",
        EventPattern=json.dumps(
            {"source": ["aws.s3"], "detail": {"bucket": {"name": ["shared-data"]}}}
        ),
    )
    gone = cli.ok("teardown", "--yes")
    assert "left on (rule audit-trail also uses it)" in " ".join(gone.stderr.split())
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(
        Bucket="shared-data"
    )
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["shared-data"]


def test_teardown_never_empties_an_adopted_bucket(cli: Cli) -> None:
    s3 = make_bucket(cli, "kept-data")
    s3.put_bucket_versioning(Bucket="kept-data", VersioningConfiguration={"Status": "Enabled"})
    cli.ok("deploy", "--yes", "--source-bucket", "kept-data")
    for body in (b"1", b"2"):
        s3.put_object(Bucket="kept-data", Key="doc", Body=body)
    s3.delete_object(Bucket="kept-data", Key="precious.txt")  # a delete marker
    before = s3.list_object_versions(Bucket="kept-data")
    plan = cli("teardown", input="n\n")
    assert "kept (adopted: objbackup never deletes it)" in " ".join(plan.stderr.split())
    assert "Destroy deployment objbackup and 1 object version?" in plan.stderr  # the bundle
    cli.ok("teardown", "--yes")
    after = s3.list_object_versions(Bucket="kept-data")
    assert after["Versions"] == before["Versions"]
    assert after["DeleteMarkers"] == before["DeleteMarkers"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept-data"]


@pytest.mark.slow  # several deploys
def test_filters_reach_the_rule_the_function_and_status(cli: Cli) -> None:
    cli.ok("deploy", "--yes", "--include-prefix", "keep/", "--exclude-prefix", "keep/tmp/")
    status = cli.json("status")
    assert (status["include_prefixes"], status["exclude_prefixes"]) == (["keep/"], ["keep/tmp/"])
    assert status["adopted_source_bucket"] is False
    assert "keep/tmp/" in cli.ok("status").stdout
    wider = "keys starting with keep (wider than the filter: the replicator drops the rest)"
    assert status["rule_keys"] == wider
    assert "rule lets by" in cli.ok("status").stdout
    source = status["source_bucket"]
    pattern = rule_pattern(cli)
    assert passes(pattern, source, "keep/a.txt") and not passes(pattern, source, "other/a")
    env = cli.client("lambda").get_function_configuration(
        FunctionName=status["replicator_function"]
    )["Environment"]["Variables"]
    assert (env["OBJBACKUP_INCLUDE_PREFIXES"], env["OBJBACKUP_EXCLUDE_PREFIXES"]) == (
        "keep/",
        "keep/tmp/",
    )
    # Left out, the filter stays; given again, nothing changes.
    assert "No changes" in cli.ok("deploy", "--yes").stderr
    again = ("--include-prefix", "keep/", "--exclude-prefix", "keep/tmp/")
    assert "No changes" in cli.ok("deploy", "--yes", *again).stderr

    # Changing only the filter updates the rule through a change set.
    cfn = cli.client("cloudformation")
    replicator = cfn.describe_stacks(StackName="objbackup-replicator")["Stacks"][0]["StackId"]
    sets = len(cfn.list_change_sets(StackName=replicator)["Summaries"])
    # An exclude goes into the rule only if no event encoding changes it: "logs", not "logs/".
    changed = cli.ok("deploy", "--yes", "--exclude-prefix", "logs")
    assert "IncludePrefixes: keep/ -> " in changed.stderr
    assert "replicator updated" in changed.stderr and "storage unchanged" in changed.stderr
    assert len(cfn.list_change_sets(StackName=replicator)["Summaries"]) == sets + 1
    pattern = rule_pattern(cli)
    assert passes(pattern, source, "other/a") and not passes(pattern, source, "logs/a")
    assert cli.json("status")["include_prefixes"] == []

    cli.ok("deploy", "--yes", "--all-keys")
    status = cli.json("status")
    assert (status["include_prefixes"], status["exclude_prefixes"]) == ([], [])
    pattern = rule_pattern(cli)
    assert "object" not in pattern["detail"] and passes(pattern, source, "logs/a")
