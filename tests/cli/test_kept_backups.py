"""Kept backups against moto: `teardown --keep-backups`, then a deploy under the same name
reattaches them (or, with --fresh-backups, leaves them alone), and a teardown without
--keep-backups deletes them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from objbackup.cli.commands import deploy as deploy_command
from tests.cli.conftest import Cli
from tests.cli.test_roundtrip import drain_queue

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import TagTypeDef

KEY = "docs/report.txt"
GONE = "docs/deleted.txt"


def deploy_and_back_up(cli: Cli) -> dict[str, Any]:
    """Deploy, write KEY twice and let the replicator copy it (in process)."""
    cli.ok("deploy", "--yes")
    status: dict[str, Any] = cli.json("status")
    for body in (b"first", b"second"):
        cli.client("s3").put_object(Bucket=status["source_bucket"], Key=KEY, Body=body)
        assert drain_queue(cli, status) == 1
    assert len(cli.json("list", KEY)["copies"]) == 2
    return status


def keep(cli: Cli) -> dict[str, Any]:
    """Deploy, back up, and tear down keeping the backups."""
    status = deploy_and_back_up(cli)
    cli.ok("teardown", "--keep-backups", "--yes")
    return status


def bucket_names(cli: Cli) -> set[str]:
    return {b["Name"] for b in cli.client("s3").list_buckets()["Buckets"]}


def tables(cli: Cli) -> list[str]:
    names: list[str] = cli.client("dynamodb").list_tables()["TableNames"]
    return names


@pytest.mark.slow  # deploys, tears down, deploys again
def test_a_deploy_after_keep_backups_reattaches_the_old_copies(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = deploy_and_back_up(cli)
    s3 = cli.client("s3")
    s3.put_object(Bucket=old["source_bucket"], Key=GONE, Body=b"deleted before the teardown")
    assert drain_queue(cli, old) == 1
    s3.delete_object(Bucket=old["source_bucket"], Key=GONE)
    assert drain_queue(cli, old) == 1
    assert cli.json("list", GONE)["copies"][0]["status"] == "disowned"
    cli.ok("teardown", "--keep-backups", "--yes")
    plan = cli.json("deploy", "--dry-run")
    assert plan["kept_backups"]["action"] == "reattach" and plan["kept_backups"]["others"] == []
    assert (plan["kept_backups"]["bucket"], plan["kept_backups"]["table"]) == (
        old["backup_bucket"],
        old["table"],
    )
    assert plan["kept_backups"]["objects"] == 3 and plan["kept_backups"]["kept_at"]
    unasked = cli("deploy")  # nobody at a terminal: no question, no deploy
    assert unasked.exit_code == 1
    assert (
        "\nError: deploy would reattach the kept backups of objbackup and cannot ask here\n"
        in unasked.stderr
    )
    assert "Hint: pass --yes to reattach them, or --fresh-backups" in unasked.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    monkeypatch.setattr(deploy_command, "stdin_is_terminal", lambda: True)
    asked = cli("deploy", input="n\n")
    assert asked.exit_code == 1
    text = " ".join(asked.stderr.split())
    assert f"found kept backups of objbackup from {plan['kept_backups']['kept_at']}" in text
    assert f"bucket {old['backup_bucket']} (3 objects) and table {old['table']}" in text
    assert "they will be reattached" in text
    assert "Deploy these changes and reattach the kept backups?" in text

    cli.ok("deploy", "--yes")
    status = cli.json("status")
    assert (status["backup_bucket"], status["table"]) == (old["backup_bucket"], old["table"])
    assert status["source_bucket"] != old["source_bucket"]  # a created source bucket went
    copies = cli.json("list", KEY)["copies"]
    assert len(copies) == 2
    cli.ok("restore", KEY, "--copy", copies[1]["copy_timestamp"])
    source = cli.client("s3").get_object(Bucket=status["source_bucket"], Key=KEY)
    assert source["Body"].read() == b"first"
    assert drain_queue(cli, status) == 1  # the restore is backed up into the old bucket
    assert len(cli.json("list", KEY)["copies"]) == 3
    assert cli.json("undelete", GONE)["restored"] is True
    undeleted = cli.client("s3").get_object(Bucket=status["source_bucket"], Key=GONE)
    assert undeleted["Body"].read() == b"deleted before the teardown"
    drain_queue(cli, status)

    # Still tagged: the cycle works again, and a later plan leaves the attachment alone.
    assert cli.json("deploy", "--dry-run")["changes"] is False
    cli.ok("teardown", "--keep-backups", "--yes")
    assert bucket_names(cli) == {old["backup_bucket"]} and tables(cli) == [old["table"]]
    cli.ok("deploy", "--yes")
    assert len(cli.json("list", KEY)["copies"]) == 3
    assert cli.json("status")["backup_bucket"] == old["backup_bucket"]


@pytest.mark.slow  # deploys, tears down, deploys again
def test_fresh_backups_creates_new_ones_and_leaves_the_kept_alone(cli: Cli) -> None:
    old = keep(cli)
    dry = cli.ok("deploy", "--fresh-backups", "--dry-run")
    assert "left alone (--fresh-backups); new ones are created" in " ".join(dry.stderr.split())
    deployed = cli.json("deploy", "--fresh-backups", "--yes")
    assert deployed["kept_backups"]["action"] == "leave"
    status = cli.json("status")
    assert status["backup_bucket"] != old["backup_bucket"] and status["table"] != old["table"]
    assert cli.json("list", KEY)["copies"] == []
    assert old["backup_bucket"] in bucket_names(cli) and old["table"] in tables(cli)

    # A teardown without --keep-backups deletes the kept ones as well, after saying so.
    plan = cli.ok("teardown", "--dry-run")
    text = " ".join(plan.stderr.split())
    assert f"kept backup bucket │ {old['backup_bucket']} │ emptied (2 object versions)" in text
    assert f"kept table │ {old['table']} │ deleted with every record" in text
    asked = cli("teardown", input="n\n").stderr
    assert "Destroy deployment objbackup, its kept backups and 3 object versions?" in asked
    result = cli.ok("teardown", "--yes")
    assert f"Deleted kept backups: {old['backup_bucket']}, {old['table']}." in result.stderr
    assert bucket_names(cli) == set() and tables(cli) == []


@pytest.mark.slow  # deploys and tears down twice
def test_teardown_without_a_deployment_deletes_the_kept_backups(cli: Cli) -> None:
    old = keep(cli)
    asked = cli("teardown", input="n\n")
    assert asked.exit_code == 1
    text = " ".join(asked.stderr.split())
    assert f"kept backup bucket │ {old['backup_bucket']} │ emptied (2 object versions)" in text
    assert "Destroy the kept backups of objbackup and 2 object versions?" in text
    assert bucket_names(cli) == {old["backup_bucket"]}
    cli.ok("teardown", "--yes")
    assert bucket_names(cli) == set() and tables(cli) == []
    # Nothing is left: teardown says so as before.
    gone = cli("teardown", "--yes")
    assert gone.exit_code == 1 and "no objbackup deployment named objbackup" in gone.stderr


def test_a_kept_table_of_another_shape_is_refused(cli: Cli) -> None:
    tag: list[TagTypeDef] = [{"Key": "objbackup:backups-of", "Value": "objbackup-storage"}]
    cli.client("s3").create_bucket(Bucket="kept-elsewhere")
    cli.client("s3").put_bucket_tagging(Bucket="kept-elsewhere", Tagging={"TagSet": tag})
    cli.client("dynamodb").create_table(
        TableName="not-copies",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=tag,
    )
    refused = cli("deploy", "--yes")
    assert refused.exit_code == 1
    assert "Error: kept table not-copies cannot be reattached: its key is not" in refused.stderr
    assert "Hint: deploy with --fresh-backups" in refused.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    cli.ok("deploy", "--yes", "--fresh-backups")
    assert cli.json("status")["table"] != "not-copies"


def test_a_lone_kept_bucket_is_left_alone_with_a_warning(cli: Cli) -> None:
    tag: list[TagTypeDef] = [{"Key": "objbackup:backups-of", "Value": "objbackup-storage"}]
    cli.client("s3").create_bucket(Bucket="kept-alone")
    cli.client("s3").put_bucket_tagging(Bucket="kept-alone", Tagging={"TagSet": tag})
    plan = cli.json("deploy", "--dry-run")
    assert plan["kept_backups"] is None
    assert plan["warnings"] == [
        "alarms notify nobody: pass --alarm-email ADDRESS or --alarm-topic-arn ARN",
        "kept backups of objbackup that make no bucket-and-table pair are left alone: "
        "backup bucket kept-alone (`objbackup teardown` deletes them)",
    ]
    cli.ok("deploy", "--yes")
    assert cli.json("status")["backup_bucket"] != "kept-alone"
    cli.ok("teardown", "--yes")
    assert bucket_names(cli) == set()


def deploy_untagged(cli: Cli) -> dict[str, Any]:
    """Deploy with the storage template as it was before the tags (and keep the tests' moto
    gap closers honest about updates that add them)."""
    from objbackup.deploy.connection import Connection
    from objbackup.deploy.deployer import Deployer
    from objbackup.deploy.kept import find_kept
    from objbackup.deploy.plan import DeployOptions
    from objbackup.deploy.stacks import ROLES, template_body

    templates = {role: template_body(role) for role in ROLES}
    tags = (
        "      Tags:\n        - Key: objbackup:backups-of\n          Value: !Ref AWS::StackName\n"
    )
    assert templates["storage"].count(tags) == 2
    templates["storage"] = templates["storage"].replace(tags, "")
    deployer = Deployer(Connection(region="us-east-1"), templates=templates)
    deployer.deploy(deployer.plan(DeployOptions()))
    assert find_kept(deployer.connection, "objbackup-storage") == []  # untagged
    status: dict[str, Any] = cli.json("status")
    return status


def test_keep_backups_tags_backups_made_before_the_tags_existed(cli: Cli) -> None:
    old = deploy_untagged(cli)
    cli.ok("teardown", "--keep-backups", "--yes")
    found = cli.json("deploy", "--dry-run")["kept_backups"]
    assert (found["bucket"], found["table"]) == (old["backup_bucket"], old["table"])


def test_an_upgraded_deployment_keeps_its_backups_and_tags_them(cli: Cli) -> None:
    old = deploy_untagged(cli)
    upgraded = cli.json("deploy", "--yes")
    assert upgraded["outcomes"]["storage"] == "updated"
    status = cli.json("status")
    assert (status["backup_bucket"], status["table"]) == (old["backup_bucket"], old["table"])
    tag_set = cli.client("s3").get_bucket_tagging(Bucket=old["backup_bucket"])["TagSet"]
    assert tag_set == [{"Key": "objbackup:backups-of", "Value": "objbackup-storage"}]
