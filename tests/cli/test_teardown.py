"""`objbackup teardown` against moto: confirmation, every version, keep-backups, partial stacks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import Cli


def deploy(cli: Cli) -> dict[str, Any]:
    cli.ok("deploy", "--yes")
    status: dict[str, Any] = cli.json("status")
    return status


def test_teardown_says_what_goes_and_a_no_keeps_everything(cli: Cli) -> None:
    status = deploy(cli)
    s3 = cli.client("s3")
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=status["source_bucket"], Key=key, Body=b"x")
    result = cli("teardown", input="n\n")
    assert result.exit_code == 1
    assert "Destroy deployment objbackup and 4 object versions?" in result.stderr
    text = " ".join(result.stderr.split())
    assert f"source bucket │ {status['source_bucket']} │ emptied (3 object versions)" in text
    assert f"artifacts bucket │ {status['artifacts_bucket']} │ emptied (1 object" in text
    assert f"table │ {status['table']} │ deleted with every record" in text
    for stack in ("objbackup-storage", "objbackup-replicator", "objbackup-cleaner"):
        assert f"stack │ {stack} │ deleted" in text
    assert cli.json("status")["stacks"] == status["stacks"]
    assert s3.list_objects_v2(Bucket=status["source_bucket"])["KeyCount"] == 3


def test_teardown_dry_run_says_what_goes_and_deletes_nothing(cli: Cli) -> None:
    status = deploy(cli)
    s3 = cli.client("s3")
    s3.put_object(Bucket=status["source_bucket"], Key="a", Body=b"x")
    result = cli.ok("teardown", "--dry-run")
    text = " ".join(result.stderr.split())
    assert f"source bucket │ {status['source_bucket']} │ emptied (1 object version)" in text
    assert "Dry run: nothing was deleted." in text
    assert "Destroy deployment" not in text
    assert cli.json("status")["stacks"] == status["stacks"]
    assert s3.list_objects_v2(Bucket=status["source_bucket"])["KeyCount"] == 1


@pytest.mark.slow  # a deployment full of versions, torn down
def test_teardown_empties_every_version_and_delete_marker(cli: Cli) -> None:
    status = deploy(cli)
    s3, source = cli.client("s3"), status["source_bucket"]
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2", b"3"):
        s3.put_object(Bucket=source, Key="doc", Body=body)
    s3.delete_object(Bucket=source, Key="doc")  # a delete marker
    # More than one DeleteObjects call's worth in the backup bucket.
    for number in range(1005):
        s3.put_object(Bucket=status["backup_bucket"], Key=f"copy-{number:04}", Body=b"")
    result = cli.ok("teardown", "--yes")
    assert "emptying" in result.stderr
    assert s3.list_buckets()["Buckets"] == []
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    assert cli.client("dynamodb").list_tables()["TableNames"] == []


def test_keep_backups_keeps_the_backup_bucket_and_the_table(cli: Cli) -> None:
    status = deploy(cli)
    s3, dynamodb = cli.client("s3"), cli.client("dynamodb")
    s3.put_object(Bucket=status["source_bucket"], Key="doc", Body=b"x")
    s3.put_object(Bucket=status["backup_bucket"], Key="doc@copy", Body=b"x")
    dynamodb.put_item(
        TableName=status["table"],
        Item={
            "source_object": {"S": "doc"},
            "copy_timestamp": {"S": "2026-11-25T12:00:00Z"},
            "copy_name": {"S": "doc@copy"},
            "status": {"S": "active"},
        },
    )
    plan = cli("teardown", "--keep-backups", input="n\n")
    text = " ".join(plan.stderr.split())
    assert f"backup bucket │ {status['backup_bucket']} │ kept (--keep-backups)" in text
    assert f"table │ {status['table']} │ kept (--keep-backups)" in text
    assert "Destroy deployment objbackup and 2 object versions?" in plan.stderr

    result = cli.ok("teardown", "--yes", "--keep-backups")
    assert f"Kept: {status['backup_bucket']}, {status['table']}." in result.stderr
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [status["backup_bucket"]]
    assert s3.get_object(Bucket=status["backup_bucket"], Key="doc@copy")["Body"].read() == b"x"
    assert dynamodb.list_tables()["TableNames"] == [status["table"]]
    assert (
        len(
            dynamodb.query(
                TableName=status["table"],
                KeyConditionExpression="source_object = :k",
                ExpressionAttributeValues={":k": {"S": "doc"}},
            )["Items"]
        )
        == 1
    )
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    assert cli("status").exit_code == 1


def test_teardown_of_a_partial_deployment(cli: Cli) -> None:
    deploy(cli)
    cfn = cli.client("cloudformation")
    cfn.delete_stack(StackName="objbackup-cleaner")
    status = cli.json("status")
    assert status["stacks"]["cleaner"] is None and status["cleaner_function"] is None
    assert "not deployed" in cli.ok("status").stdout
    result = cli.ok("teardown", "--yes")
    assert "(2 stacks deleted)" in result.stderr
    assert cfn.describe_stacks()["Stacks"] == []
    assert cli.client("s3").list_buckets()["Buckets"] == []


def deploy_retaining_template(cli: Cli) -> Any:
    """Deploy with the storage template proposed to the lead: backups retained by the stack."""
    from objbackup.deploy.connection import Connection
    from objbackup.deploy.deployer import Deployer
    from objbackup.deploy.plan import DeployOptions
    from objbackup.deploy.policies import with_policy
    from objbackup.deploy.stacks import KEPT_BY_KEEP_BACKUPS, ROLES, template_body

    templates = {role: template_body(role) for role in ROLES}
    templates["storage"] = with_policy(templates["storage"], KEPT_BY_KEEP_BACKUPS)
    connection = Connection(region="us-east-1")
    deployer = Deployer(connection, templates=templates)
    deployer.deploy(deployer.plan(DeployOptions()))
    return connection


def test_teardown_deletes_what_a_retaining_template_leaves_behind(cli: Cli) -> None:
    from objbackup.deploy.teardown import Teardown

    connection = deploy_retaining_template(cli)
    status = cli.json("status")
    cli.client("s3").put_object(Bucket=status["backup_bucket"], Key="copy", Body=b"x")
    plan = Teardown(connection).plan(keep_backups=False)
    assert plan.retained_by_template == {"BackupBucket", "BackupBucketPolicy", "Table"}
    cli.ok("teardown", "--yes")
    assert cli.client("s3").list_buckets()["Buckets"] == []
    assert cli.client("dynamodb").list_tables()["TableNames"] == []


def test_keep_backups_with_a_retaining_template_needs_no_stack_update(cli: Cli) -> None:
    deploy_retaining_template(cli)
    status = cli.json("status")
    cfn = cli.client("cloudformation")
    storage = cfn.describe_stacks(StackName="objbackup-storage")["Stacks"][0]["StackId"]
    change_sets = len(cfn.list_change_sets(StackName=storage)["Summaries"])
    cli.ok("teardown", "--yes", "--keep-backups")
    assert len(cfn.list_change_sets(StackName=storage)["Summaries"]) == change_sets
    assert [b["Name"] for b in cli.client("s3").list_buckets()["Buckets"]] == [
        status["backup_bucket"]
    ]
    assert cli.client("dynamodb").list_tables()["TableNames"] == [status["table"]]
