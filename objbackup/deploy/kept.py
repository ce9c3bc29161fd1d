"""Kept backups: the backup bucket and table `teardown --keep-backups` leaves behind, found again
by tag so that a later deploy under the same name reattaches them and a teardown deletes them.

CloudFormation names the bucket and the table itself, so a name cannot find them once the stack
is gone. The storage template tags both with `objbackup:backups-of = <name>-storage` at creation,
teardown --keep-backups adds `objbackup:kept-at`, and one paged Resource Groups Tagging API
GetResources call with that tag filter finds them ("GetResources", Resource Groups Tagging API
Reference: tagged resources in the specified Region, filtered by tag and resource type).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.config import DEFAULT_DISOWNED_INDEX
from objbackup.deploy.connection import Connection
from objbackup.deploy.deployment import StackInfo
from objbackup.deploy.errors import DeployError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

TAG_BACKUPS_OF = "objbackup:backups-of"
TAG_KEPT_AT = "objbackup:kept-at"
# Storage parameters (cloudformation/storage.yaml): empty creates, a name reattaches.
P_KEPT_BACKUP_BUCKET = "KeptBackupBucketName"
P_KEPT_TABLE = "KeptTableName"
# The deploy plan counts a kept bucket's objects with one ListObjectsV2 call at most.
OBJECT_COUNT_LIMIT = 1000

_KEY_SCHEMA = [
    {"AttributeName": "source_object", "KeyType": "HASH"},
    {"AttributeName": "copy_timestamp", "KeyType": "RANGE"},
]
_INDEX_KEY_SCHEMA = [
    {"AttributeName": "status", "KeyType": "HASH"},
    {"AttributeName": "disowned_at", "KeyType": "RANGE"},
]

Kind = Literal["bucket", "table"]


class KeptBackupsProblem(DeployError):
    """Kept backups were found but cannot be reattached as they are."""


@dataclass(frozen=True)
class KeptResource:
    """A backup bucket or table tagged as backups of a deployment, and not part of its stack."""

    kind: Kind
    name: str
    arn: str
    kept_at: str | None  # ISO 8601 UTC, set by teardown --keep-backups

    @property
    def label(self) -> str:
        when = f", kept {self.kept_at}" if self.kept_at else ""
        return f"{'backup bucket' if self.kind == 'bucket' else 'table'} {self.name}{when}"


@dataclass(frozen=True)
class Attachment:
    """The kept bucket and table a storage stack uses instead of creating its own."""

    bucket: str
    table: str


@dataclass(frozen=True)
class KeptReport:
    """What deploy found kept under its name, and whether it reattaches it."""

    name: str  # the deployment's
    bucket: str
    table: str
    kept_at: str | None
    objects: int
    more_objects: bool
    action: Literal["reattach", "leave"]
    # Other kept resources of the same name, left alone (deploy never deletes anything).
    others: tuple[str, ...] = ()

    @property
    def describe(self) -> str:
        when = f" from {self.kept_at}" if self.kept_at else ""
        objects = f"{self.objects}{'+' if self.more_objects else ''} object" + (
            "" if self.objects == 1 and not self.more_objects else "s"
        )
        fate = (
            "they will be reattached (--fresh-backups creates new ones instead)"
            if self.action == "reattach"
            else "left alone (--fresh-backups); new ones are created"
        )
        found = f"found kept backups of {self.name}{when}"
        text = f"{found}: bucket {self.bucket} ({objects}) and table {self.table}"
        others = f"; also kept and left alone: {', '.join(self.others)}" if self.others else ""
        return f"{text}; {fate}{others}"

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "table": self.table,
            "kept_at": self.kept_at,
            "objects": self.objects,
            "more_objects": self.more_objects,
            "action": self.action,
            "others": list(self.others),
        }


def deployed_attachment(storage: StackInfo | None) -> Attachment | None:
    """The kept bucket and table a deployed storage stack reattached, if any."""
    if storage is None:
        return None
    bucket = storage.parameters.get(P_KEPT_BACKUP_BUCKET, "")
    table = storage.parameters.get(P_KEPT_TABLE, "")
    return Attachment(bucket, table) if bucket and table else None


def storage_parameters(attachment: Attachment | None) -> dict[str, str]:
    """The storage stack's parameters for `attachment` (none: the defaults, "", create)."""
    if attachment is None:
        return {}
    return {P_KEPT_BACKUP_BUCKET: attachment.bucket, P_KEPT_TABLE: attachment.table}


def find_kept(
    connection: Connection, storage_stack: str, exclude: Iterable[str] = ()
) -> list[KeptResource]:
    """Buckets and tables tagged as backups of `storage_stack` that still exist, except those
    named in `exclude` (the deployment's own)."""
    skip = set(exclude)
    tagging = connection.client("resourcegroupstaggingapi")
    found: list[KeptResource] = []
    for page in tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": TAG_BACKUPS_OF, "Values": [storage_stack]}],
        ResourceTypeFilters=["s3:bucket", "dynamodb:table"],
    ):
        for mapping in page.get("ResourceTagMappingList", []):
            arn = str(mapping["ResourceARN"])
            tags = {str(t["Key"]): str(t["Value"]) for t in mapping.get("Tags", [])}
            kind: Kind = "bucket" if ":s3:::" in arn else "table"
            name = arn.rsplit(":::", 1)[-1] if kind == "bucket" else arn.rsplit("/", 1)[-1]
            if name in skip or not _exists(connection, kind, name):
                continue
            found.append(KeptResource(kind, name, arn, tags.get(TAG_KEPT_AT)))
    return sorted(found, key=lambda r: (r.kind, r.name))


def choose(found: Sequence[KeptResource]) -> tuple[KeptResource, KeptResource] | None:
    """The bucket and table to reattach: the newest pair kept by one teardown (same kept-at),
    or the only bucket and the only table. None when no complete pair is there."""
    buckets = [r for r in found if r.kind == "bucket"]
    tables = [r for r in found if r.kind == "table"]
    if len(buckets) == 1 and len(tables) == 1:
        return buckets[0], tables[0]
    pairs = [(b, t) for b in buckets for t in tables if b.kept_at and b.kept_at == t.kept_at]
    if not pairs:
        return None
    return max(pairs, key=lambda pair: pair[0].kept_at or "")


def check_table(connection: Connection, table: str) -> None:
    """Refuse a kept table that is not a table of copies (key schema or DisownedIndex differ)."""
    described = connection.client("dynamodb").describe_table(TableName=table)["Table"]
    indexes = {
        str(index["IndexName"]): index["KeySchema"]
        for index in described.get("GlobalSecondaryIndexes") or []
    }
    problem = None
    if described.get("KeySchema") != _KEY_SCHEMA:
        problem = "its key is not (source_object, copy_timestamp)"
    elif indexes.get(DEFAULT_DISOWNED_INDEX) != _INDEX_KEY_SCHEMA:
        problem = f"it has no {DEFAULT_DISOWNED_INDEX} over (status, disowned_at)"
    if problem is not None:
        raise KeptBackupsProblem(
            f"kept table {table} cannot be reattached: {problem}",
            "deploy with --fresh-backups to leave it alone and create new backups",
        )


def plan_kept(
    connection: Connection, fresh: bool
) -> tuple[KeptReport | None, Attachment | None, tuple[str, ...]]:
    """What a first deploy does with kept backups: report them, and reattach unless `fresh`;
    and a warning for kept resources that make no pair (they are left alone)."""
    found = find_kept(connection, connection.names.of("storage"))
    pair = choose(found)
    if pair is None:
        if not found:
            return None, None, ()
        lone = ", ".join(r.label for r in found)
        warning = (
            f"kept backups of {connection.name} that make no bucket-and-table pair are left "
            f"alone: {lone} (`objbackup teardown` deletes them)"
        )
        return None, None, (warning,)
    bucket, table = pair
    if not fresh:
        check_table(connection, table.name)
    page = connection.client("s3").list_objects_v2(Bucket=bucket.name, MaxKeys=OBJECT_COUNT_LIMIT)
    others = tuple(r.label for r in found if r not in pair)
    report = KeptReport(
        name=connection.name,
        bucket=bucket.name,
        table=table.name,
        kept_at=bucket.kept_at or table.kept_at,
        objects=int(page.get("KeyCount", 0)),
        more_objects=bool(page.get("IsTruncated")),
        action="leave" if fresh else "reattach",
        others=others,
    )
    return report, None if fresh else Attachment(bucket.name, table.name), ()


def mark_kept(connection: Connection, storage_stack: str, bucket: str, table: str) -> str:
    """Tag a bucket and table teardown keeps, so that deploy and teardown find them again
    (again: a stack created before the tags existed has untagged ones). Returns the time."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {TAG_BACKUPS_OF: storage_stack, TAG_KEPT_AT: now}
    s3 = connection.client("s3")
    # PutBucketTagging replaces the whole tag set: merge into the existing one.
    merged = _bucket_tags(s3, bucket) | tags
    s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]}
    )
    dynamodb = connection.client("dynamodb")
    arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    # "If you try to add an existing tag (same key), the existing tag value will be updated"
    # (DynamoDB API Reference, Tag). It is eventually consistent: kept_at may show late.
    dynamodb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return now


def _bucket_tags(s3: S3Client, bucket: str) -> dict[str, str]:
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise
    return {str(t["Key"]): str(t["Value"]) for t in tag_set}


def _exists(connection: Connection, kind: Kind, name: str) -> bool:
    """GetResources also returns resources deleted a short while ago ("previously tagged")."""
    try:
        if kind == "bucket":
            head = connection.client("s3").head_bucket(Bucket=name)
            headers: Mapping[str, str] = head.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = headers.get("x-amz-bucket-region")
            return region in (None, connection.region)
        connection.client("dynamodb").describe_table(TableName=name)
    except ClientError as exc:
        # 301: a bucket of another region (GetResources is regional: not expected, not ours).
        gone = ("404", "NoSuchBucket", "NotFound", "ResourceNotFoundException")
        if error_code(exc) in (*gone, "301", "PermanentRedirect"):
            return False
        raise
    return True
