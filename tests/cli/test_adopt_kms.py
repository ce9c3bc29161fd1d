"""`deploy --source-bucket` of a bucket with SSE-KMS default encryption, against moto in process:
the plan says how copies are encrypted, the role may decrypt with exactly the bucket's key, and
copies are written with the backup key. moto enforces no KMS permission: the role is read back."""

from __future__ import annotations

import json
from typing import Any

from objbackup.core.config import Settings
from tests.cli.conftest import Cli
from tests.harness import FakeClock, Harness
from tests.queue import drain

OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/cccccccc-3333-4333-8333-000000000003"


def kms_bucket(cli: Cli, name: str, key_ref: str | None = None) -> str:
    """A bucket whose default encryption is SSE-KMS with a new key, named by `key_ref`
    ("id", "alias" or "arn"); the key's ARN."""
    kms = cli.client("kms")
    key = kms.create_key(Description="their key")["KeyMetadata"]
    kms.create_alias(AliasName="alias/their-key", TargetKeyId=key["KeyId"])
    named = {"id": key["KeyId"], "alias": "alias/their-key", "arn": key["Arn"]}
    s3 = cli.client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": named[key_ref or "alias"],
                    }
                }
            ]
        },
    )
    return str(key["Arn"])


def kms_statements(cli: Cli) -> dict[str, dict[str, Any]]:
    """The replicator role's KMS statements by Sid, as deployed."""
    iam = cli.client("iam")
    function = cli.client("lambda").get_function_configuration(
        FunctionName="objbackup-replicator-replicator"
    )
    role = function["Role"].rsplit("/", 1)[-1]
    found: dict[str, dict[str, Any]] = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        # boto3 decodes the document into a dict; the stubs type it as the wire's string.
        document: Any = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        # moto keeps an `AWS::NoValue` list item as null; CloudFormation drops it.
        for statement in filter(None, document["Statement"]):
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if any(a.startswith("kms:") for a in actions):
                found[statement["Sid"]] = statement
    return found


def test_adopting_a_kms_bucket_grants_its_key_and_encrypts_copies_with_it(cli: Cli) -> None:
    key = kms_bucket(cli, "their-secrets")  # default encryption names the key by its alias
    plan = cli.ok("deploy", "--source-bucket", "their-secrets", "--dry-run", "--json")
    assert f"copies are encrypted with SSE-KMS key {key}" in " ".join(plan.stderr.split())
    assert json.loads(plan.stdout)["encryption"] == {
        "copies": "SSE-KMS",
        "backup_kms_key": key,
        "source_kms_keys": [key],
    }

    cli.ok("deploy", "--yes", "--source-bucket", "their-secrets")
    statements = kms_statements(cli)
    assert statements["DecryptSourceObjects"]["Action"] in ("kms:Decrypt", ["kms:Decrypt"])
    assert statements["DecryptSourceObjects"]["Resource"] == [key]
    assert statements["EncryptCopies"]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statements["EncryptCopies"]["Resource"] == key
    status = cli.json("status")
    assert status["backup_kms_key"] == key
    assert key in cli.ok("status").stdout
    assert "No changes" in cli.ok("deploy", "--yes").stderr  # the keys are kept

    # The function's environment carries the key to the copier: a copy made with the deployed
    # settings is SSE-KMS under it.
    env = cli.client("lambda").get_function_configuration(
        FunctionName=status["replicator_function"]
    )["Environment"]["Variables"]
    settings = Settings.from_env(env)
    assert settings.backup_kms_key == key
    s3 = cli.client("s3")
    s3.put_object(Bucket="their-secrets", Key="ledger.csv", Body=b"1,2,3")
    system = Harness(settings, s3, cli.client("dynamodb"), FakeClock())
    drain(cli.client("sqs"), status["queue_url"], system)
    [record] = system.copies("ledger.csv")
    head = s3.head_object(Bucket=status["backup_bucket"], Key=record.copy_name)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)


def test_other_source_keys_and_a_backup_key_replace_the_defaults(cli: Cli) -> None:
    key = kms_bucket(cli, "their-secrets", "id")
    backup = cli.client("kms").create_key(Description="backup")["KeyMetadata"]["Arn"]
    cli.ok(
        "deploy",
        "--yes",
        "--source-bucket",
        "their-secrets",
        "--source-kms-key",
        OTHER_KEY,
        "--backup-kms-key",
        backup,
    )
    statements = kms_statements(cli)
    assert sorted(statements["DecryptSourceObjects"]["Resource"]) == sorted([key, OTHER_KEY])
    assert statements["EncryptCopies"]["Resource"] == backup
    assert cli.json("status")["backup_kms_key"] == backup
    # Left out, both stay.
    assert "No changes" in cli.ok("deploy", "--yes").stderr


def test_a_plain_deployment_has_no_kms_statement(cli: Cli) -> None:
    plan = cli.json("deploy", "--yes")
    assert plan["encryption"] == {"copies": "SSE-S3", "backup_kms_key": None, "source_kms_keys": []}
    assert kms_statements(cli) == {}
    assert cli.json("status")["backup_kms_key"] is None


def test_a_key_that_is_not_a_key_arn_is_a_usage_error(cli: Cli) -> None:
    for option in ("--source-kms-key", "--backup-kms-key"):
        result = cli("deploy", "--yes", option, "alias/their-key")
        assert result.exit_code == 2, result.stderr
        assert "is not a KMS key ARN" in result.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_source_keys_without_a_key_for_the_copies_are_refused(cli: Cli) -> None:
    result = cli("deploy", "--yes", "--source-kms-key", OTHER_KEY)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: objects encrypted with {OTHER_KEY} would be copied without a KMS key",
        "Hint: pass --backup-kms-key ARN: the key the copies are encrypted with",
    ]
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_an_unresolvable_default_key_is_refused(cli: Cli) -> None:
    s3 = cli.client("s3")
    s3.create_bucket(Bucket="their-secrets")
    s3.put_bucket_encryption(
        Bucket="their-secrets",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": "alias/gone",
                    }
                }
            ]
        },
    )
    result = cli("deploy", "--yes", "--source-bucket", "their-secrets")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "Error: cannot resolve alias/gone, the default encryption key of their-secrets, "
        "to a key ARN: "
    )
    assert lines[1].startswith("Hint: let this identity call kms:DescribeKey")
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
