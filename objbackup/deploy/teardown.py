"""Teardown: say what will be destroyed, empty the buckets (every version and delete marker),
then delete the stacks, newest first. An adopted source bucket is never touched.

With keep_backups, the storage stack is first updated to retain the backup bucket (and its
policy) and the table, and the update is verified before anything is deleted; both are tagged
as kept so that a later deploy or teardown of the same name finds them (objbackup/deploy/kept.py).
Without it, kept backups of the same name from earlier teardowns are deleted too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict
from urllib.parse import unquote

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.deletes import Target, delete_targets
from objbackup.deploy import stacks
from objbackup.deploy.adopt import eventbridge_on, read_configuration, rules_using, set_eventbridge
from objbackup.deploy.connection import Connection
from objbackup.deploy.deployment import Deployment, StackInfo, find_deployment
from objbackup.deploy.errors import EmptyBucketFailed, NotDeployed, TeardownRefused
from objbackup.deploy.kept import KeptResource, deployed_attachment, find_kept, mark_kept
from objbackup.deploy.policies import TemplateEditError, deletion_policy, with_policy
from objbackup.deploy.stackops import EventCallback, StackEvent, StackOperations
from objbackup.deploy.stacks import ROLES

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    class _Markers(TypedDict, total=False):
        """Where ListObjectVersions resumes."""

        KeyMarker: str
        VersionIdMarker: str


DELETE_OBJECTS_LIMIT = 1000
_NAMED_FAILURES = 3  # versions named in the error; the count says how many more
ProgressCallback = Callable[[str, int, int], None]  # bucket, versions deleted so far, total
KEPT_ROLE = "kept backup"  # a BucketPlan role: a bucket an earlier teardown kept
_BUCKETS = {
    stacks.SOURCE_BUCKET_ID: "source",
    stacks.BACKUP_BUCKET_ID: "backup",
    stacks.ARTIFACTS_BUCKET_ID: "artifacts",
}


def _ignore_event(event: StackEvent) -> None:
    pass


def _ignore_progress(bucket: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class BucketPlan:
    """One bucket of the deployment: its object versions, and whether teardown keeps it."""

    role: str
    name: str
    versions: int
    keep: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class EventBridgeRelease:
    """What teardown does to an adopted bucket's EventBridge delivery, and why."""

    bucket: str
    action: Literal["turn off", "leave on"]
    reason: str


@dataclass(frozen=True)
class TeardownPlan:
    """Everything teardown would destroy or keep, for the confirmation."""

    deployment: Deployment
    keep_backups: bool
    buckets: tuple[BucketPlan, ...]
    table: str | None
    stacks: tuple[StackInfo, ...]  # in deletion order
    # Resources the deployed storage template already retains on deletion (logical ids).
    retained_by_template: frozenset[str] = field(default_factory=frozenset)
    # For an adopted bucket whose delivery is on: whether teardown turns it off.
    eventbridge: EventBridgeRelease | None = None
    # Tables earlier teardowns kept under this name, deleted with this one (kept buckets are
    # in `buckets`, role KEPT_ROLE).
    kept_tables: tuple[str, ...] = ()

    @property
    def versions_to_delete(self) -> int:
        return sum(b.versions for b in self.buckets if not b.keep)


@dataclass(frozen=True)
class TeardownResult:
    deleted_stacks: tuple[str, ...]
    emptied: dict[str, int]
    kept: tuple[str, ...]
    # Kept backups of earlier teardowns that this one deleted.
    deleted_kept: tuple[str, ...] = ()


class Teardown:
    """Plans and runs the removal of one deployment."""

    def __init__(self, connection: Connection, operations: StackOperations | None = None) -> None:
        self.connection = connection
        self._operations = operations

    @property
    def operations(self) -> StackOperations:
        if self._operations is None:
            self._operations = StackOperations(self.connection.client("cloudformation"))
        return self._operations

    @property
    def s3(self) -> S3Client:
        return self.connection.client("s3")

    def plan(self, keep_backups: bool = False) -> TeardownPlan:
        """Find the deployment and count what each of its buckets holds; without keep_backups,
        also the backups earlier teardowns kept under its name (then the stacks may be gone)."""
        try:
            deployment = find_deployment(self.connection)
        except NotDeployed:
            if keep_backups or not self._find_kept(()):
                raise
            deployment = Deployment(self.connection.name, self.connection.region, {})
        resources = self._storage_resources(deployment)
        attached = deployed_attachment(deployment.stacks.get("storage"))
        if attached is not None:  # reattached kept backups: in the outputs, not the stack
            resources.setdefault(stacks.BACKUP_BUCKET_ID, attached.bucket)
            resources.setdefault(stacks.TABLE_ID, attached.table)
        template = self._storage_template(deployment)
        retained = frozenset(
            logical_id
            for logical_id in stacks.KEPT_BY_KEEP_BACKUPS
            if template and _retains(template, logical_id)
        )
        buckets: list[BucketPlan] = []
        for logical_id, role in _BUCKETS.items():
            name = resources.get(logical_id)
            if name is None or not self._bucket_exists(name):
                continue
            keep = keep_backups and logical_id == stacks.BACKUP_BUCKET_ID
            buckets.append(
                BucketPlan(
                    role,
                    name,
                    self.count_versions(name),
                    keep,
                    "--keep-backups" if keep else None,
                )
            )
        source = deployment.source_bucket
        if source and not deployment.source_bucket_created:
            buckets.insert(
                0, BucketPlan("source", source, 0, True, "adopted: objbackup never deletes it")
            )
        kept_tables: list[str] = []
        if not keep_backups:
            own = (resources.get(stacks.BACKUP_BUCKET_ID), resources.get(stacks.TABLE_ID))
            for found in self._find_kept(name for name in own if name):
                if found.kind == "table":
                    kept_tables.append(found.name)
                    continue
                reason = f"kept {found.kept_at}" if found.kept_at else "kept"
                versions = self.count_versions(found.name)
                buckets.append(BucketPlan(KEPT_ROLE, found.name, versions, False, reason))
        order = [deployment.stacks[role] for role in reversed(ROLES) if role in deployment.stacks]
        release = None
        if source and not deployment.source_bucket_created and self._bucket_exists(source):
            release = self._plan_release(deployment, source)
        return TeardownPlan(
            deployment=deployment,
            keep_backups=keep_backups,
            buckets=tuple(buckets),
            table=resources.get(stacks.TABLE_ID),
            stacks=tuple(order),
            retained_by_template=retained,
            eventbridge=release,
            kept_tables=tuple(kept_tables),
        )

    def run(
        self,
        plan: TeardownPlan,
        on_progress: ProgressCallback = _ignore_progress,
        on_event: EventCallback = _ignore_event,
    ) -> TeardownResult:
        """Delete the function stacks, empty the buckets, delete the storage stack."""
        storage = next((s for s in plan.stacks if s.role == "storage"), None)
        if plan.keep_backups and storage is not None:
            self._retain_backups(storage, plan, on_event)
            self._mark_kept(plan)
        deleted: list[str] = []
        for stack in plan.stacks:
            if stack.role != "storage":
                self.operations.delete_stack(stack.name, stack.stack_id, on_event)
                deleted.append(stack.name)
        if plan.eventbridge is not None and plan.eventbridge.action == "turn off":
            self._release_eventbridge(plan.deployment, plan.eventbridge.bucket)
        emptied: dict[str, int] = {}
        refused: list[EmptyBucketFailed] = []
        for bucket in plan.buckets:
            if not bucket.keep:
                try:
                    emptied[bucket.name] = self.empty_bucket(
                        bucket.name, bucket.versions, on_progress
                    )
                except EmptyBucketFailed as exc:  # the other buckets are emptied all the same
                    refused.append(exc)
        if refused:
            # The storage stack stays: a rerun finds the same deployment and continues.
            raise EmptyBucketFailed("; ".join(map(str, refused)), refused[0].hint)
        if storage is not None:
            self.operations.delete_stack(storage.name, storage.stack_id, on_event)
            deleted.append(storage.name)
        kept = [b.name for b in plan.buckets if b.keep]
        if plan.keep_backups:
            kept += [plan.table] if plan.table else []
            self._verify_kept(plan)
        else:
            self._delete_retained(plan)
        return TeardownResult(tuple(deleted), emptied, tuple(kept), self._delete_kept(plan))

    def count_versions(self, bucket: str) -> int:
        """Object versions plus delete markers in `bucket`."""
        total = 0
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            total += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
        return total

    def empty_bucket(
        self, bucket: str, expected: int = 0, on_progress: ProgressCallback = _ignore_progress
    ) -> int:
        """Delete every version and delete marker, then abort unfinished uploads; EmptyBucketFailed
        naming each version (or upload) that could not go, once everything else is gone."""
        done, failed = self._empty_versions(bucket, expected, on_progress)
        failed += self._abort_uploads(bucket)
        if failed:
            raise _empty_failed(bucket, failed)
        return done

    def _empty_versions(
        self, bucket: str, expected: int, on_progress: ProgressCallback
    ) -> tuple[int, list[tuple[str, str]]]:
        """Delete every version and delete marker S3 lets go; (deleted, [(what, reason)]).

        Each round lists from the start and deletes what it has not tried yet, through
        objbackup.core.deletes (a key that XML cannot carry, or one S3 refuses, never sinks its
        neighbours). A version that fails is not tried again in this run, so the rounds end when
        a listing holds nothing new. The next page starts after the last version listed only if
        that version is still there (it failed): ListObjectVersions takes a version-id-marker of
        the key-marker's key, and one just deleted is no reference to count on; after a deleted
        one the page starts at the next key, and the next round finds what that skipped.
        """
        s3 = self.s3
        done = 0
        tried: set[tuple[str, str | None]] = set()
        failed: dict[tuple[str, str | None], str] = {}
        on_progress(bucket, 0, expected)
        while True:
            new = 0
            markers: _Markers = {}
            while True:
                page = s3.list_object_versions(
                    Bucket=bucket, MaxKeys=DELETE_OBJECTS_LIMIT, **markers
                )
                entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
                targets = [Target(str(e["Key"]), e.get("VersionId")) for e in entries]
                targets = [t for t in targets if (t.key, t.version_id) not in tried]
                new += len(targets)
                tried.update((t.key, t.version_id) for t in targets)
                report = delete_targets(s3, bucket, targets)
                failed.update(((t.key, t.version_id), reason) for t, reason in report.failed)
                done += len(report.deleted)
                if report.deleted:
                    on_progress(bucket, done, max(expected, done))
                if not page.get("IsTruncated"):
                    break
                markers = {"KeyMarker": str(page["NextKeyMarker"])}
                last = (markers["KeyMarker"], page.get("NextVersionIdMarker"))
                if last in failed:
                    markers["VersionIdMarker"] = str(last[1])
            if not new:
                return done, [(_describe(Target(*t)), reason) for t, reason in failed.items()]

    def _abort_uploads(self, bucket: str) -> list[tuple[str, str]]:
        """Abort every unfinished multipart upload; one refused abort never stops the others."""
        failed: list[tuple[str, str]] = []
        # ListMultipartUploads takes EncodingType too, but botocore neither sets nor decodes it
        # (handlers.py registers that for ListObjects, ListObjectsV2 and ListObjectVersions only):
        # asked for here, and decoded only when the answer says it is encoded.
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html
        paginator = self.s3.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=bucket, EncodingType="url"):
            encoded = page.get("EncodingType") == "url"
            for upload in page.get("Uploads", []):
                key = unquote(upload["Key"]) if encoded else str(upload["Key"])
                try:
                    self.s3.abort_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload["UploadId"]
                    )
                except ClientError as exc:
                    if error_code(exc) != "NoSuchUpload":  # finished or aborted meanwhile
                        failed.append((f"upload of {key!r}", error_code(exc)))
        return failed

    def _plan_release(self, deployment: Deployment, bucket: str) -> EventBridgeRelease | None:
        """Turn delivery off only if objbackup turned it on and no other rule selects it."""
        if not eventbridge_on(read_configuration(self.s3, bucket)):
            return None
        if not deployment.eventbridge_by_objbackup:
            return EventBridgeRelease(bucket, "leave on", "it was on before objbackup")
        others = self._other_rules(deployment, bucket)
        if others:
            return EventBridgeRelease(bucket, "leave on", f"rule {others[0]} also uses it")
        return EventBridgeRelease(bucket, "turn off", "objbackup turned it on")

    def _release_eventbridge(self, deployment: Deployment, bucket: str) -> None:
        # Checked again: a rule may have appeared since the confirmation.
        if not self._other_rules(deployment, bucket):
            set_eventbridge(self.s3, bucket, False)

    def _other_rules(self, deployment: Deployment, bucket: str) -> list[str]:
        own = deployment.output("replicator", stacks.O_RULE)
        events = self.connection.client("events")
        return rules_using(events, bucket, frozenset({own} if own else ()))

    def _retain_backups(
        self, storage: StackInfo, plan: TeardownPlan, on_event: EventCallback
    ) -> None:
        """Make the storage stack retain the backups, or refuse before deleting anything."""
        wanted = [i for i in stacks.KEPT_BY_KEEP_BACKUPS if i not in plan.retained_by_template]
        if not wanted:
            return
        template = self._storage_template(plan.deployment)
        if not storage.stable or template is None:
            raise TeardownRefused(
                f"cannot keep the backups: stack {storage.name} is {storage.status}",
                "fix the stack first, or run teardown without --keep-backups",
            )
        try:
            retaining = with_policy(template, wanted)
        except TemplateEditError as exc:
            raise TeardownRefused(
                f"cannot keep the backups: {exc}", "run teardown without --keep-backups"
            ) from None
        self.operations.apply_change_set(
            storage.name,
            "UPDATE",
            retaining,
            {},
            on_event,
            use_previous=list(storage.parameters),
        )
        deployed = self._storage_template(plan.deployment) or ""
        if not all(_retains(deployed, logical_id) for logical_id in wanted):
            raise TeardownRefused(
                "cannot keep the backups: CloudFormation did not record the Retain policy "
                "on the storage stack; nothing was deleted",
                "run teardown without --keep-backups, or keep the backups by hand",
            )

    def _find_kept(self, own: Iterable[str]) -> list[KeptResource]:
        return find_kept(self.connection, self.connection.names.of("storage"), own)

    def _mark_kept(self, plan: TeardownPlan) -> None:
        """Tag what --keep-backups keeps, before anything is deleted (a stack made before the
        tags existed has untagged backups; the date says which teardown kept them)."""
        bucket = next((b.name for b in plan.buckets if b.keep and b.role == "backup"), None)
        if bucket is not None and plan.table is not None:
            mark_kept(self.connection, self.connection.names.of("storage"), bucket, plan.table)

    def _delete_kept(self, plan: TeardownPlan) -> tuple[str, ...]:
        """Delete the (emptied) buckets and the tables earlier teardowns kept."""
        deleted: list[str] = []
        for bucket in plan.buckets:
            if bucket.role == KEPT_ROLE and self._bucket_exists(bucket.name):
                self.s3.delete_bucket(Bucket=bucket.name)
                deleted.append(bucket.name)
        for table in plan.kept_tables:
            if self._table_exists(table):
                self.connection.client("dynamodb").delete_table(TableName=table)
                deleted.append(table)
        return tuple(deleted)

    def _verify_kept(self, plan: TeardownPlan) -> None:
        missing = [b.name for b in plan.buckets if b.keep and not self._bucket_exists(b.name)]
        if plan.table and not self._table_exists(plan.table):
            missing.append(plan.table)
        if missing:
            raise TeardownRefused(
                f"the stacks are gone but {', '.join(missing)} did not survive",
                "restore the table from its point-in-time backups if needed",
            )

    def _delete_retained(self, plan: TeardownPlan) -> None:
        """Delete what the template itself retains, since no --keep-backups was asked."""
        for bucket in plan.buckets:
            kept = bucket.role == "backup" and stacks.BACKUP_BUCKET_ID in plan.retained_by_template
            if kept and self._bucket_exists(bucket.name):
                self.s3.delete_bucket(Bucket=bucket.name)
        if plan.table and stacks.TABLE_ID in plan.retained_by_template:
            dynamodb = self.connection.client("dynamodb")
            if self._table_exists(plan.table):
                dynamodb.delete_table(TableName=plan.table)

    def _storage_resources(self, deployment: Deployment) -> dict[str, str]:
        """Logical id -> physical id of the storage stack's resources (what it really owns)."""
        storage = deployment.stacks.get("storage")
        if storage is None:
            return {}
        cfn = self.connection.client("cloudformation")
        found: dict[str, str] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=storage.stack_id):
            for resource in page.get("StackResourceSummaries", []):
                physical = resource.get("PhysicalResourceId")
                if physical and not str(resource.get("ResourceStatus", "")).startswith("DELETE_"):
                    found[str(resource["LogicalResourceId"])] = str(physical)
        return found

    def _storage_template(self, deployment: Deployment) -> str | None:
        storage = deployment.stacks.get("storage")
        if storage is None or storage.status == "REVIEW_IN_PROGRESS":
            return None
        cfn = self.connection.client("cloudformation")
        body = cfn.get_template(StackName=storage.stack_id, TemplateStage="Original")
        text = body.get("TemplateBody")
        return text if isinstance(text, str) else None

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def _table_exists(self, table: str) -> bool:
        try:
            self.connection.client("dynamodb").describe_table(TableName=table)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True


def _describe(target: Target) -> str:
    # repr: a key may hold controls or spaces that would vanish from an error line.
    return f"{target.key!r} version {target.version_id}"


def _empty_failed(bucket: str, failed: list[tuple[str, str]]) -> EmptyBucketFailed:
    first = "; ".join(f"{what}: {reason}" for what, reason in failed[:_NAMED_FAILURES])
    more = f" (and {len(failed) - _NAMED_FAILURES} more)" if len(failed) > _NAMED_FAILURES else ""
    return EmptyBucketFailed(
        f"{len(failed)} object version(s) or upload(s) in bucket {bucket} could not be deleted, "
        f"everything else was: {first}{more}",
        "fix what the reasons name (bucket policy, object lock, legal hold), then run teardown "
        "again: it continues where this one stopped",
    )


def _retains(template: str, logical_id: str) -> bool:
    try:
        return deletion_policy(template, logical_id) in ("Retain", "RetainExceptOnCreate")
    except TemplateEditError:
        return False
