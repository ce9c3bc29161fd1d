"""The KMS keys of a deployment: which the replicator may decrypt with, which its copies use.

Copying an SSE-KMS object needs kms:Decrypt on the source object's key; writing a copy with a
KMS key needs kms:GenerateDataKey on that key, and a multipart copy kms:Decrypt on it as well
(AWS knowledge center "s3-large-file-encryption-kms-key": GenerateDataKey for
CreateMultipartUpload, Decrypt for UploadPart and UploadPartCopy). An IAM statement names a KMS
key only by its key ARN, never by a key id, an alias or an alias ARN (AWS KMS developer guide,
"Specifying KMS keys in IAM policy statements"), while a bucket's default encryption may name its
key by any of these (S3 API, ServerSideEncryptionByDefault.KMSMasterKeyID): deploy resolves the
bucket's key to its key ARN with kms:DescribeKey, and refuses when it cannot.

An S3 Bucket Key changes the encryption context (the bucket ARN instead of the object ARN), which
matters only to policies with kms:EncryptionContext conditions; the replicator's role has none,
so the Bucket Key setting of either bucket changes nothing here (S3 user guide, "Configuring your
bucket to use an S3 Bucket Key").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.deploy.errors import DeployError

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient
    from types_boto3_s3 import S3Client

# Replicator stack parameters: comma-separated source key ARNs; the copies' key ARN ("" = none).
P_SOURCE_KMS_KEYS = "SourceKmsKeyArns"
P_BACKUP_KMS_KEY = "BackupKmsKeyArn"
# The pattern of a KMS key ARN (S3 API reference, SSEKMSEncryption.KMSKeyArn).
_KEY_ARN = re.compile(r"arn:aws[a-zA-Z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+")
# SSE algorithms whose objects are encrypted with a KMS key.
_KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
# The key S3 uses for aws:kms when a bucket's default encryption names none.
AWS_MANAGED_S3_KEY = "alias/aws/s3"


class KmsKeyProblem(DeployError):
    """A KMS key deploy needs cannot be resolved to a key ARN, or no key is given for copies."""


def check_key_arn(value: str) -> str:
    """`value` if it is a KMS key ARN (not a key id, alias or alias ARN: IAM needs the ARN)."""
    if not _KEY_ARN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a KMS key ARN "
            "(arn:aws:kms:<region>:<account>:key/<key id>; not a key id, alias or alias ARN)"
        )
    return value


@dataclass(frozen=True)
class CopyEncryption:
    """The KMS keys of a deployment: `source_keys` may be decrypted; copies use `backup_key`."""

    source_keys: tuple[str, ...] = ()
    backup_key: str | None = None

    def check(self) -> CopyEncryption:
        for key in (*self.source_keys, *([self.backup_key] if self.backup_key else [])):
            check_key_arn(key)
        return self

    def with_source_key(self, key: str | None) -> CopyEncryption:
        """Add the adopted bucket's default key; it is also the copies' key unless one is set."""
        if key is None:
            return self
        keys = self.source_keys if key in self.source_keys else (*self.source_keys, key)
        return CopyEncryption(tuple(sorted(keys)), self.backup_key or key)

    def stack_parameters(self) -> dict[str, str]:
        """The replicator's parameters; one left out takes the template's default, "" (none)."""
        parameters = {P_SOURCE_KMS_KEYS: ",".join(self.source_keys)} if self.source_keys else {}
        return parameters | ({P_BACKUP_KMS_KEY: self.backup_key} if self.backup_key else {})

    @classmethod
    def from_parameters(cls, sources: str | None, backup: str | None) -> CopyEncryption:
        return cls(_split(sources), backup or None)

    def describe(self) -> str:
        copies = (
            f"copies are encrypted with SSE-KMS key {self.backup_key}"
            if self.backup_key
            else "copies are encrypted with SSE-S3 (the backup bucket's default)"
        )
        if not self.source_keys:
            return copies
        return f"{copies}; the replicator may decrypt with {', '.join(self.source_keys)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "copies": "SSE-KMS" if self.backup_key else "SSE-S3",
            "backup_kms_key": self.backup_key,
            "source_kms_keys": list(self.source_keys),
        }


def resolve_encryption(
    source_keys: tuple[str, ...] | None,
    backup_key: str | None,
    deployed: Mapping[str, str] | None,
) -> CopyEncryption:
    """The keys of `deploy` options; what is left out keeps its deployed value."""
    current = CopyEncryption.from_parameters(
        (deployed or {}).get(P_SOURCE_KMS_KEYS), (deployed or {}).get(P_BACKUP_KMS_KEY)
    )
    sources = current.source_keys if source_keys is None else tuple(sorted(set(source_keys)))
    return CopyEncryption(sources, backup_key or current.backup_key)


def default_kms_key(s3: S3Client, bucket: str) -> str | None:
    """The key id, alias or ARN of `bucket`'s default SSE-KMS encryption; None without one."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise KmsKeyProblem(
            f"cannot read the default encryption of {bucket}: {error_code(exc)}",
            "let this identity call s3:GetEncryptionConfiguration on the bucket",
        ) from None
    for rule in rules:
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") in _KMS_ALGORITHMS:
            return str(default.get("KMSMasterKeyID") or AWS_MANAGED_S3_KEY)
    return None


def key_arn(kms: KMSClient, key: str, bucket: str) -> str:
    """The key ARN of a key id, alias or ARN, through kms:DescribeKey (an ARN is returned as is)."""
    if _KEY_ARN.fullmatch(key):
        return key
    try:
        return str(kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"])
    except ClientError as exc:
        raise KmsKeyProblem(
            f"cannot resolve {key}, the default encryption key of {bucket}, to a key ARN: "
            f"{error_code(exc)}",
            "let this identity call kms:DescribeKey on the key, or set the bucket's default "
            "encryption to the key's ARN",
        ) from None


def source_bucket_key(s3: S3Client, kms: KMSClient, bucket: str) -> str | None:
    """The key ARN of an adopted bucket's default SSE-KMS encryption, or None."""
    key = default_kms_key(s3, bucket)
    return None if key is None else key_arn(kms, key, bucket)


def require_copy_key(encryption: CopyEncryption) -> CopyEncryption:
    """Refuse source keys without a key for the copies: they would lose the KMS protection."""
    if encryption.source_keys and not encryption.backup_key:
        raise KmsKeyProblem(
            "objects encrypted with "
            f"{', '.join(encryption.source_keys)} would be copied without a KMS key",
            "pass --backup-kms-key ARN: the key the copies are encrypted with",
        )
    return encryption


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(sorted({part.strip() for part in (value or "").split(",") if part.strip()}))
