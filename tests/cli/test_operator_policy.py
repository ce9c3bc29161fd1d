"""`objbackup policy --operator` and docs/operator-policy.json: the least policy an operator needs.

The CLI runs every command as an IAM user holding exactly that policy, with moto's access control
on (tests/iam_access.py): each succeeds, every action of the policy's CLI part is asked for by
some command (or listed below with why moto does not ask), and removing a statement makes the
command that needs it fail. The CloudFormation part (what CloudFormation does with the
operator's credentials) is checked against the resource types' registry schemas, as moto's
CloudFormation creates resources without asking IAM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from typer.testing import CliRunner

from objbackup.cli.app import app
from objbackup.core.aws import Clients
from objbackup.core.config import Settings
from objbackup.core.runtime import CleanerApp, ReplicatorApp
from objbackup.deploy.connection import ServiceClients, session_client
from objbackup.deploy.operator_policy import CLI_ACTIONS, CLOUDFORMATION_ACTIONS, operator_policy
from objbackup.sandbox.executor import FunctionSpec, Invocation
from tests.cli.conftest import Cli
from tests.cli.test_roundtrip import drain_queue
from tests.harness import REGION
from tests.iam_access import ALLOW_ALL, enforce, user_keys
from tests.unit.test_templates import load, resources

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "operator-policy.json"
TEMPLATES = ("storage.yaml", "replicator.yaml", "cleaner.yaml")

# Actions of the CLI part AWS authorises but moto never asks for, and why.
NOT_ASKED_BY_MOTO = {
    # CopyObject (restore, undelete) reads its source and copies its tags: AWS authorises it by
    # s3:GetObject and s3:GetObjectTagging on the source, s3:PutObjectTagging on the target
    # (S3 API reference, CopyObject); the sandbox's rules (objbackup/sandbox/iam_rules.py) by
    # s3:PutObject on the target and s3:GetObject on the source only.
    "s3:GetObjectTagging": "CopyObject is authorised without its tagging permissions",
    "s3:PutObjectTagging": "CopyObject is authorised without its tagging permissions",
    # deploy deletes a change set AWS failed for having no changes (objbackup/deploy/stackops.py).
    "cloudformation:DeleteChangeSet": "moto's change sets never fail for having no changes",
    # Teardown aborts uploads in progress; the run leaves none to abort.
    "s3:AbortMultipartUpload": "no multipart upload is left in progress at teardown",
}


# --- the document -----------------------------------------------------------------------------


def test_the_command_prints_the_published_document() -> None:
    result = CliRunner().invoke(app, ["policy", "--operator"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == DOCUMENT.read_text()
    assert json.loads(result.stdout) == operator_policy("objbackup")


def test_the_document_names_the_deployment() -> None:
    result = CliRunner().invoke(app, ["--name", "prod", "policy", "--operator"])
    document = json.loads(result.stdout)
    [stacks] = [s for s in document["Statement"] if s["Sid"] == "Stacks"]
    assert "arn:aws:cloudformation:*:*:stack/prod-storage/*" in stacks["Resource"]
    text = result.stdout.replace("prod-objbackup", "").replace("changeSet/objbackup-", "")
    assert "objbackup" not in text  # the dashboard and change sets carry it in their own names


def test_without_operator_it_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["policy"])
    assert result.exit_code == 2 and "--operator" in result.stderr


def test_no_wildcard_action_and_star_only_where_aws_has_no_resource() -> None:
    for statement in operator_policy("objbackup")["Statement"]:
        assert all("*" not in action for action in statement["Action"]), statement
        if "*" in statement["Resource"]:
            # tag:GetResources has no resource type; a mapping is scoped by its function.
            assert statement["Sid"] in ("FindKeptBackups", "EventSourceMappings"), statement
            assert statement["Sid"] == "FindKeptBackups" or "Condition" in statement


def _schema_permissions(resource_type: str) -> set[str]:
    """What the type's CloudFormation registry schema says its handlers need (cfn-lint's copy)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    if "handlers" not in schema:  # cfn-lint 1.47 (the floor) ships schemas trimmed of them
        pytest.skip("this cfn-lint's schemas carry no handler permissions; newer ones do")
    handlers = schema["handlers"]
    return {
        p
        for h in ("create", "update", "delete")
        for p in handlers.get(h, {}).get("permissions", [])
    }


def test_the_cloudformation_part_covers_every_resource_type_with_documented_actions() -> None:
    declared = {
        str(resource["Type"]) for name in TEMPLATES for resource in load(name)["Resources"].values()
    }
    assert set(CLOUDFORMATION_ACTIONS) == declared
    for resource_type, actions in CLOUDFORMATION_ACTIONS.items():
        undocumented = set(actions) - _schema_permissions(resource_type)
        assert undocumented == set(), resource_type
    granted = {a for s in operator_policy("objbackup")["Statement"] for a in s["Action"]}
    needed = {
        a for group in (*CLOUDFORMATION_ACTIONS.values(), *CLI_ACTIONS.values()) for a in group
    }
    assert granted == needed | {"iam:PassRole"}
    # The functions' roles are passed to Lambda only, and only they are.
    assert "iam:PassRole" in _schema_permissions("AWS::Lambda::Function")
    assert resources(load("replicator.yaml"), "AWS::IAM::Role")


# --- running the CLI as the operator ------------------------------------------------------------


class Operator(ServiceClients):
    """The CLI under the operator's policy; the test's own clients act as an administrator."""

    def __init__(self, cli: Cli, admin: boto3.Session) -> None:
        self.cli = cli
        self.admin = admin

    def _client(self, service: str) -> BaseClient:
        return session_client(self.admin, service, region_name=REGION)

    def use_policy(self, document: dict[str, Any]) -> None:
        self.client("iam").put_user_policy(
            UserName="operator", PolicyName="operator", PolicyDocument=json.dumps(document)
        )


@pytest.fixture
def operator(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Operator:
    iam = boto3.client("iam", region_name=REGION)
    admin_keys = user_keys(iam, "test-admin", ALLOW_ALL)
    for name, value in user_keys(iam, "operator", operator_policy("objbackup")).items():
        monkeypatch.setenv(name, value)  # the CLI's credentials
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    admin = boto3.Session(
        aws_access_key_id=admin_keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=admin_keys["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )

    def invoke(spec: FunctionSpec, event: Any) -> Invocation:
        """The functions run with their own role's rights, not the operator's."""
        settings = Settings.from_env(spec.environment)
        clients = Clients.create(session=admin, region=REGION)
        if spec.handler == "replicator.handler":
            return Invocation(ReplicatorApp.create(settings, clients)(event))
        return Invocation(CleanerApp.create(settings, clients)(event))

    monkeypatch.setattr(cli.executor, "invoke", invoke)
    return Operator(cli, admin)


def test_every_command_runs_under_exactly_the_operator_policy(operator: Operator) -> None:
    cli = operator.cli
    granted: list[tuple[str, str, str]] = []
    with enforce(granted):
        cli.ok("deploy", "--yes", "--grace", "0", "--retain", "2")
        assert "No changes" in cli.ok("deploy", "--yes", "--grace", "0", "--retain", "2").stderr
        status = cli.json("status")
        s3, source = operator.client("s3"), status["source_bucket"]
        for body in (b"one", b"two"):
            s3.put_object(Bucket=source, Key="k.txt", Body=body)
            assert drain_queue(operator, status) == 1
        assert len(cli.json("list", "k.txt")["copies"]) == 2
        cli.ok("restore", "k.txt", "--to", "restored.txt", "--yes")
        s3.delete_object(Bucket=source, Key="k.txt")
        drain_queue(operator, status)
        assert cli.json("list", "--disowned")["disowned"]
        cli.ok("undelete", "k.txt")
        s3.put_object(Bucket=source, Key="restored.txt", Body=b"again")
        drain_queue(operator, status)
        assert cli.json("verify")["consistent"] is True
        s3.put_object(Bucket=source, Key="late.txt", Body=b"late")
        operator.client("sqs").purge_queue(QueueUrl=status["queue_url"])  # its event is lost
        assert cli.json("backfill")["sent"] == 1
        drain_queue(operator, status)
        cli.ok("clean", "--now")
        cli.ok("teardown", "--yes")
    asked = {action for who, action, _ in granted if who.endswith(":user/operator")}
    used_or_listed = asked | set(NOT_ASKED_BY_MOTO)
    cli_part = {action for group in CLI_ACTIONS.values() for action in group}
    assert cli_part - used_or_listed == set(), "in the policy, but no command needs it"
    assert set(NOT_ASKED_BY_MOTO) <= cli_part and not set(NOT_ASKED_BY_MOTO) & asked


def _without(sid: str) -> dict[str, Any]:
    document = operator_policy("objbackup")
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != sid]
    return document


# A command that needs each statement of the CLI part (a deployment with one replicated object
# and one whose event was lost). status reads the queues' depth, the alarms and the cleaner's
# log best-effort (it shows "unknown"), so it fails only without the stacks.
NEEDS = [
    ("Stacks", ["status"]),
    ("Buckets", ["verify"]),
    ("Objects", ["restore", "k.txt", "--to", "r.txt", "--yes"]),
    ("Table", ["list", "k.txt"]),
    ("Queues", ["backfill"]),
    ("Functions", ["clean", "--now"]),
    ("FindKeptBackups", ["teardown", "--yes"]),
]


def test_removing_a_statement_fails_the_command_that_needs_it(operator: Operator) -> None:
    cli = operator.cli
    cli.ok("deploy", "--yes", "--grace", "0")
    status = cli.json("status")
    s3 = operator.client("s3")
    s3.put_object(Bucket=status["source_bucket"], Key="k.txt", Body=b"1")
    drain_queue(operator, status)
    s3.put_object(Bucket=status["source_bucket"], Key="late.txt", Body=b"late")
    operator.client("sqs").purge_queue(QueueUrl=status["queue_url"])
    with enforce():
        for sid, command in NEEDS:
            operator.use_policy(_without(sid))
            result = cli(*command)
            assert result.exit_code == 1, (sid, command, result.stdout, result.stderr)
            assert "Error:" in result.stderr and "Traceback" not in result.stderr, result.stderr
            operator.use_policy(operator_policy("objbackup"))
        cli.ok("status")  # the whole policy works again
