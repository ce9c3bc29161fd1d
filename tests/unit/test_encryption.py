"""KMS keys of a deployment: key ARN checks, resolving a bucket's default key, keeping deployed
keys, the replicator's parameters and what the plan says of the copies' encryption."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from objbackup.deploy.encryption import (
    P_BACKUP_KMS_KEY,
    P_SOURCE_KMS_KEYS,
    CopyEncryption,
    KmsKeyProblem,
    check_key_arn,
    require_copy_key,
    resolve_encryption,
    source_bucket_key,
)
from objbackup.deploy.errors import InvalidSetting
from objbackup.deploy.plan import (
    DeployOptions,
    DeploySettings,
    plan_deployment,
    resolve_settings,
    stack_parameters,
)
from objbackup.deploy.stacks import StackNames
from tests.harness import REGION
from tests.unit.test_deploy_plan import STORAGE_OUTPUTS, TEMPLATES, deployed

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient
    from types_boto3_s3 import S3Client
    from types_boto3_s3.literals import ServerSideEncryptionType
    from types_boto3_s3.type_defs import ServerSideEncryptionByDefaultTypeDef

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
CHINA = "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BACKUP = "arn:aws:kms:us-east-1:123456789012:key/bbbbbbbb-2222-4222-8222-000000000002"


@pytest.mark.parametrize("arn", [KEY, OTHER, CHINA])
def test_key_arns_are_accepted(arn: str) -> None:
    assert check_key_arn(arn) == arn


@pytest.mark.parametrize(
    "value",
    [
        "1234abcd-12ab-34cd-56ef-1234567890ab",  # a key id
        "alias/their-key",
        "arn:aws:kms:us-east-1:123456789012:alias/their-key",  # IAM cannot name a key by alias
        "arn:aws:kms:us-east-1:123456789012:key/*",
        f"{KEY},{BACKUP}",
        "",
    ],
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a KMS key ARN"):
        check_key_arn(value)


def test_left_out_keys_keep_the_deployed_ones_and_given_source_keys_replace_them() -> None:
    current = {P_SOURCE_KMS_KEYS: f"{KEY},{OTHER}", P_BACKUP_KMS_KEY: BACKUP}
    assert resolve_encryption(None, None, current) == CopyEncryption((KEY, OTHER), BACKUP)
    assert resolve_encryption((OTHER, OTHER), None, current) == CopyEncryption((OTHER,), BACKUP)
    assert resolve_encryption(None, KEY, current) == CopyEncryption((KEY, OTHER), KEY)
    assert resolve_encryption(None, None, None) == CopyEncryption()
    # A deployment from before the keys existed has neither parameter.
    assert resolve_encryption(None, None, {}) == CopyEncryption()


def test_the_buckets_default_key_is_added_and_is_the_copies_key_by_default() -> None:
    assert CopyEncryption().with_source_key(KEY) == CopyEncryption((KEY,), KEY)
    assert CopyEncryption((OTHER,), BACKUP).with_source_key(KEY) == CopyEncryption(
        (KEY, OTHER), BACKUP
    )
    assert CopyEncryption((KEY,), KEY).with_source_key(KEY) == CopyEncryption((KEY,), KEY)
    assert CopyEncryption((OTHER,), BACKUP).with_source_key(None) == CopyEncryption(
        (OTHER,), BACKUP
    )


def test_source_keys_need_a_key_for_the_copies() -> None:
    with pytest.raises(KmsKeyProblem, match="would be copied without a KMS key") as refused:
        require_copy_key(CopyEncryption((OTHER,)))
    assert refused.value.hint == "pass --backup-kms-key ARN: the key the copies are encrypted with"
    assert require_copy_key(CopyEncryption()) == CopyEncryption()
    assert require_copy_key(CopyEncryption((), BACKUP)) == CopyEncryption((), BACKUP)


def test_the_plan_says_how_copies_are_encrypted_and_renders_the_parameters() -> None:
    plain = resolve_settings(DeployOptions(), deployed())
    assert plain.encryption.describe().startswith("copies are encrypted with SSE-S3")
    replicator = stack_parameters("replicator", plain, STORAGE_OUTPUTS, "bundles/b.zip")
    assert P_SOURCE_KMS_KEYS not in replicator and P_BACKUP_KMS_KEY not in replicator

    options = DeployOptions(source_kms_keys=(OTHER, KEY), backup_kms_key=BACKUP)
    settings = resolve_settings(options, deployed())
    replicator = stack_parameters("replicator", settings, STORAGE_OUTPUTS, "bundles/b.zip")
    assert (replicator[P_SOURCE_KMS_KEYS], replicator[P_BACKUP_KMS_KEY]) == (
        f"{KEY},{OTHER}",
        BACKUP,
    )
    for role in ("storage", "cleaner"):
        parameters = stack_parameters(role, settings, STORAGE_OUTPUTS, "bundles/b.zip")
        assert P_BACKUP_KMS_KEY not in parameters
    assert settings.encryption.describe() == (
        f"copies are encrypted with SSE-KMS key {BACKUP}; "
        f"the replicator may decrypt with {KEY}, {OTHER}"
    )
    plan = plan_deployment(
        StackNames("ob"), REGION, settings, deployed(), {}, TEMPLATES, "bundles/b.zip", True
    )
    assert plan.to_json()["encryption"] == {
        "copies": "SSE-KMS",
        "backup_kms_key": BACKUP,
        "source_kms_keys": [KEY, OTHER],
    }
    assert f"{P_BACKUP_KMS_KEY}: (none) -> {BACKUP}" in plan.stack("replicator").reasons


def test_deployed_keys_are_kept_by_a_redeploy_that_leaves_them_out() -> None:
    current = deployed()
    replicator = current["replicator"]
    parameters = dict(replicator.parameters) | {P_SOURCE_KMS_KEYS: KEY, P_BACKUP_KMS_KEY: KEY}
    current["replicator"] = type(replicator)(
        "replicator", "ob-replicator", "id-replicator", "CREATE_COMPLETE", None, parameters, {}
    )
    assert resolve_settings(DeployOptions(), current).encryption == CopyEncryption((KEY,), KEY)


def test_a_bad_key_in_settings_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="is not a KMS key ARN"):
        DeploySettings("", 3, 10.0, "rate(1 minute)", encryption=CopyEncryption(("alias/x",)))


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[tuple[S3Client, KMSClient]]:
    with mock_aws():
        yield boto3.client("s3", region_name=REGION), boto3.client("kms", region_name=REGION)


def _encrypt(
    s3: S3Client, bucket: str, algorithm: ServerSideEncryptionType, key: str | None = None
) -> None:
    default: ServerSideEncryptionByDefaultTypeDef = {"SSEAlgorithm": algorithm}
    if key:
        default["KMSMasterKeyID"] = key
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
        },
    )


@pytest.mark.parametrize("named_by", ["KeyId", "alias", "Arn"])
def test_a_default_key_is_resolved_to_its_arn(
    aws: tuple[S3Client, KMSClient], named_by: str
) -> None:
    s3, kms = aws
    metadata = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/theirs", TargetKeyId=metadata["KeyId"])
    s3.create_bucket(Bucket="their-data")
    by_name = {"KeyId": metadata["KeyId"], "Arn": metadata["Arn"]}
    _encrypt(s3, "their-data", "aws:kms", by_name.get(named_by, "alias/theirs"))
    assert source_bucket_key(s3, kms, "their-data") == metadata["Arn"]


def test_aws_kms_without_a_key_means_the_aws_managed_s3_key(
    aws: tuple[S3Client, KMSClient],
) -> None:
    s3, kms = aws
    s3.create_bucket(Bucket="their-data")
    _encrypt(s3, "their-data", "aws:kms")
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    assert source_bucket_key(s3, kms, "their-data") == managed


def test_sse_s3_and_no_default_encryption_have_no_key(aws: tuple[S3Client, KMSClient]) -> None:
    s3, kms = aws
    s3.create_bucket(Bucket="plain-data")
    assert source_bucket_key(s3, kms, "plain-data") is None
    _encrypt(s3, "plain-data", "AES256")
    assert source_bucket_key(s3, kms, "plain-data") is None


def test_an_unknown_alias_is_refused_with_a_hint(aws: tuple[S3Client, KMSClient]) -> None:
    s3, kms = aws
    s3.create_bucket(Bucket="their-data")
    _encrypt(s3, "their-data", "aws:kms", "alias/gone")
    with pytest.raises(KmsKeyProblem, match="cannot resolve alias/gone") as refused:
        source_bucket_key(s3, kms, "their-data")
    assert refused.value.hint is not None and "kms:DescribeKey" in refused.value.hint
