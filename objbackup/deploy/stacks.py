"""The three stacks of a deployment: their names, templates, parameter and output keys.

The keys are the templates' contract (cloudformation/*.yaml); tests pin them to the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

from objbackup.deploy.validate import check_name

Role = Literal["storage", "replicator", "cleaner"]
# Creation order; deletion goes the other way.
ROLES: tuple[Role, ...] = ("storage", "replicator", "cleaner")

DEFAULT_NAME = "objbackup"

# Parameters
P_SOURCE_BUCKET = "SourceBucketName"
P_BACKUP_BUCKET = "BackupBucketName"
P_ARTIFACTS_BUCKET = "ArtifactsBucketName"
P_BUNDLE_KEY = "BundleKey"
P_TABLE = "TableName"
P_RETAIN = "Retain"
P_GRACE = "GraceSeconds"
P_SCHEDULE = "Schedule"
P_SOURCE_EVENTBRIDGE = "SourceEventBridgeByObjbackup"
P_MULTIPART_THRESHOLD = "MultipartThreshold"
P_STORAGE_CLASS = "StorageClass"

# Storage outputs
O_SOURCE_BUCKET = "SourceBucketName"
O_SOURCE_CREATED = "SourceBucketCreated"
O_SOURCE_EVENTBRIDGE = "SourceEventBridgeByObjbackup"
O_BACKUP_BUCKET = "BackupBucketName"
O_ARTIFACTS_BUCKET = "ArtifactsBucketName"
O_TABLE = "TableName"
O_TABLE_ARN = "TableArn"
O_DISOWNED_INDEX = "DisownedIndexName"
# Replicator outputs
O_QUEUE_URL = "QueueUrl"
O_DLQ_URL = "DeadLetterQueueUrl"
O_ALARM = "AlarmName"
O_RULE = "RuleName"
# Replicator and cleaner outputs
O_FUNCTION = "FunctionName"
O_SCHEDULE = "Schedule"

# What the replicator and cleaner stacks take from the storage stack.
NEEDED_STORAGE_OUTPUTS = (O_SOURCE_BUCKET, O_BACKUP_BUCKET, O_ARTIFACTS_BUCKET, O_TABLE)

# Logical ids in storage.yaml
SOURCE_BUCKET_ID = "SourceBucket"
BACKUP_BUCKET_ID = "BackupBucket"
BACKUP_BUCKET_POLICY_ID = "BackupBucketPolicy"
ARTIFACTS_BUCKET_ID = "ArtifactsBucket"
TABLE_ID = "Table"
# What `teardown --keep-backups` keeps.
KEPT_BY_KEEP_BACKUPS = (BACKUP_BUCKET_ID, BACKUP_BUCKET_POLICY_ID, TABLE_ID)


@dataclass(frozen=True)
class StackNames:
    """`<name>-storage`, `<name>-replicator`, `<name>-cleaner`."""

    name: str = DEFAULT_NAME

    def __post_init__(self) -> None:
        check_name(self.name)

    def of(self, role: Role) -> str:
        return f"{self.name}-{role}"

    def all(self) -> dict[Role, str]:
        return {role: self.of(role) for role in ROLES}


def template_body(role: Role) -> str:
    """The packaged template of a stack (it travels inside the wheel)."""
    return (
        resources.files("objbackup.cloudformation")
        .joinpath(f"{role}.yaml")
        .read_text(encoding="utf-8")
    )
