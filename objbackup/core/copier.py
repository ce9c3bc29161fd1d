"""Server-side copies from the source bucket to the backup bucket, bound to one object version.

Below the multipart threshold a single CopyObject copies content type, user metadata and tags
(`MetadataDirective`/`TaggingDirective` COPY). Above it, a multipart copy does the work;
UploadPartCopy carries no metadata, so metadata and tags are read and passed on. The replicator's
copier (`resumable`) runs that copy itself (objbackup.core.multipart: stops before the invocation's
deadline, resumes on redelivery); restore uses s3transfer's managed copy.

With a KMS key, every copy is written with SSE-KMS under that key (CopyObject's and
CreateMultipartUpload's `ServerSideEncryption`/`SSEKMSKeyId`); without one it takes the
destination bucket's default encryption. A storage class goes on the same two calls
(`StorageClass`; UploadPartCopy has none, the upload's class holds); without one CopyObject
writes STANDARD whatever the source's class ("If you don't specify, S3 Standard is the default
storage class", CopyObject, x-amz-storage-class, S3 API Reference), which is what restore wants.

Restore points the same copier the other way and may add a condition on the destination (absent,
or still at the ETag the operator confirmed), so a write landing after the check is never
overwritten.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from uuid import uuid4

import s3transfer.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from objbackup.core.aws import error_code, is_not_found, is_precondition_failed
from objbackup.core.deadline import Deadline
from objbackup.core.multipart import ResumableCopy, abort_uploads
from objbackup.core.unsupported import UnsupportedObject, refusal

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import CopySourceTypeDef


class _NeverRaised(Exception):
    """Stands in for an exception class the installed s3transfer does not have."""


# The functions run on the boto3 that the Lambda runtime ships, whose version "depends on the
# runtime version and your AWS Region" (Lambda developer guide, "Runtime-included SDK versions").
# s3transfer before 0.15 has no S3CopyFailedError and raises the part copy's ClientError itself,
# which `copy` already handles, so the replicator must import without it.
_S3_COPY_FAILED: type[Exception] = getattr(s3transfer.exceptions, "S3CopyFailedError", _NeverRaised)

DEFAULT_PART_BYTES = 64 * 1024**2
MAX_PARTS = 10_000
# Part copies run at once, by objbackup.core.multipart and by s3transfer (whose TransferConfig
# default, max_concurrency=10, already copies parts in parallel: set here so it is visible).
# S3 copies each part server-side, so the threads mostly wait; the clients' pool of 32
# connections (objbackup.core.aws) keeps them from queueing for one.
# https://boto3.amazonaws.com/v1/documentation/api/latest/reference/customizations/s3.html#boto3.s3.transfer.TransferConfig
MAX_PART_CONCURRENCY = 10
# Headers that describe the object and must survive a multipart copy.
_DESCRIPTIVE = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Expires",
    "WebsiteRedirectLocation",
)
# The calls that write the destination, and S3's answers when a destination condition fails.
_DESTINATION_WRITES = frozenset({"CopyObject", "CompleteMultipartUpload"})
_CONFLICT_CODES = frozenset({"409", "ConditionalRequestConflict"})


class SourceChanged(Exception):
    """The source no longer holds the version the event described (overwritten or deleted)."""

    def __init__(self, gone: bool) -> None:
        super().__init__("source object is gone" if gone else "source object was overwritten")
        self.gone = gone


class TargetChanged(Exception):
    """The destination is no longer as the caller checked it (written, overwritten or deleted)."""


@dataclass(frozen=True)
class TargetCondition:
    """What the destination must be for the copy to land: absent (`etag` None), or at `etag`."""

    etag: str | None = None

    def params(self) -> dict[str, str]:
        """The request parameters of CopyObject and CompleteMultipartUpload that say so."""
        return {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}


@dataclass(frozen=True)
class CopyResult:
    multipart: bool


class Copier:
    """Copies one source object version into the backup bucket under a given name."""

    def __init__(
        self,
        s3: S3Client,
        backup_bucket: str,
        multipart_threshold: int,
        kms_key: str | None = None,
        part_bytes: int | None = None,
        resumable: bool = False,
        storage_class: str | None = None,
    ) -> None:
        self.s3 = s3
        self.backup_bucket = backup_bucket
        self.multipart_threshold = multipart_threshold
        # How the copy is written: both calls that create it take these (s3transfer passes them
        # to CreateMultipartUpload); UploadPartCopy inherits the upload's encryption and class.
        self.written_as: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        ) | ({"StorageClass": storage_class} if storage_class else {})
        self.part_bytes = part_bytes
        self.resumable = resumable
        self.part_workers = MAX_PART_CONCURRENCY

    def copy(
        self,
        bucket: str,
        key: str,
        name: str,
        etag: str | None,
        size: int | None,
        target: TargetCondition | None = None,
        deadline: Deadline | None = None,
        resume: bool = True,
    ) -> CopyResult:
        """Copy `bucket/key` to `name` if it still has `etag`; raise SourceChanged otherwise.

        With `target`, the copy lands only if `name` is as `target` says; TargetChanged otherwise.
        UnsupportedObject when S3 cannot copy the source as it is (archived, SSE-C).
        A resumable multipart copy raises OutOfTime when `deadline` stops it; `resume` False
        starts it over instead of continuing an earlier attempt's upload.
        """
        if etag and target:
            # One CopyObject would carry both conditions, and S3's 412 does not say which failed.
            raise ValueError("a copy takes a source ETag or a target condition, not both")
        multipart = size is not None and size >= self.multipart_threshold
        try:
            with _s3_refusals(name, target):
                if size is not None and multipart:
                    self._multipart(bucket, key, name, etag, size, target, deadline, resume)
                else:
                    self._single(bucket, key, name, etag, target)
        except SourceChanged:
            if multipart and self.resumable:
                # What an earlier attempt uploaded is of a version that is no longer there.
                abort_uploads(self.s3, self.backup_bucket, name)
            raise
        return CopyResult(multipart=multipart)

    def abandon(self, name: str, size: int | None) -> None:
        """Abort a resumable copy's upload under `name` that will never be completed."""
        if self.resumable and size is not None and size >= self.multipart_threshold:
            abort_uploads(self.s3, self.backup_bucket, name)

    def _single(
        self, bucket: str, key: str, name: str, etag: str | None, target: TargetCondition | None
    ) -> None:
        extra: dict[str, Any] = (target.params() if target else {}) | self.written_as
        if etag:
            extra["CopySourceIfMatch"] = f'"{etag}"'
        self.s3.copy_object(
            Bucket=self.backup_bucket,
            Key=name,
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="COPY",
            TaggingDirective="COPY",
            **extra,
        )

    def _multipart(
        self,
        bucket: str,
        key: str,
        name: str,
        etag: str | None,
        size: int,
        target: TargetCondition | None,
        deadline: Deadline | None = None,
        resume: bool = True,
    ) -> None:
        head_args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            head_args["IfMatch"] = f'"{etag}"'
        head: Mapping[str, Any] = self.s3.head_object(**head_args)
        extra: dict[str, Any] = {k: head[k] for k in _DESCRIPTIVE if head.get(k)}
        extra["Metadata"] = head.get("Metadata", {})
        tags = self.s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
        if tags:
            extra["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
        extra["CopySourceIfMatch"] = head["ETag"]
        # REPLACE with the values read above gives the same result on every s3transfer: older ones
        # pass them to CreateMultipartUpload, newer ones apply them only under REPLACE.
        extra["MetadataDirective"] = "REPLACE"
        extra["TaggingDirective"] = "REPLACE"
        extra |= self.written_as
        part = max(self.part_bytes or DEFAULT_PART_BYTES, -(-size // MAX_PARTS))
        if self.resumable and target is None:
            source: CopySourceTypeDef = {"Bucket": bucket, "Key": key}
            ResumableCopy(self.s3, self.backup_bucket, part, self.part_workers).copy(
                source, name, size, str(head["ETag"]), extra, deadline, resume=resume and bool(etag)
            )
            return
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=part,
            max_concurrency=self.part_workers,
            # The classic manager sends its calls through this client, where `_on_complete` hooks.
            preferred_transfer_client="classic",
        )
        with self._on_complete(name, target):
            self.s3.copy(
                {"Bucket": bucket, "Key": key},
                self.backup_bucket,
                name,
                ExtraArgs=extra,
                Config=config,
            )

    @contextmanager
    def _on_complete(self, name: str, target: TargetCondition | None) -> Iterator[None]:
        """Put `target`'s condition on the CompleteMultipartUpload that writes `name`.

        s3transfer passes no destination condition through (its COMPLETE_MULTIPART_ARGS), so it
        is added where botocore builds that request's parameters.
        """
        if target is None:
            yield
            return
        event = "before-parameter-build.s3.CompleteMultipartUpload"
        unique_id = f"objbackup-target-{uuid4()}"

        def add_condition(params: dict[str, Any], **_: Any) -> None:
            if params.get("Bucket") == self.backup_bucket and params.get("Key") == name:
                params.update(target.params())

        self.s3.meta.events.register(event, add_condition, unique_id=unique_id)
        try:
            yield
        finally:
            self.s3.meta.events.unregister(event, unique_id=unique_id)


def _refused(exc: ClientError) -> bool:
    """Whether S3 refused a write for its destination condition (412, or 409 on a race)."""
    return is_precondition_failed(exc) or error_code(exc) in _CONFLICT_CODES


@contextmanager
def _s3_refusals(name: str, target: TargetCondition | None) -> Iterator[None]:
    """Turn S3's refusals of a copy to `name` into what they mean for the caller."""
    try:
        yield
    except ClientError as exc:
        if target and exc.operation_name in _DESTINATION_WRITES and _refused(exc):
            raise TargetChanged(f"{name} changed since it was checked") from exc
        # Decided by S3's answer, not guessed from a storage class (objbackup.core.unsupported).
        reason = refusal(exc)
        if reason is not None:
            raise UnsupportedObject(reason) from exc
        changed = _source_changed(exc)
        if changed is not None:
            raise changed from exc
        raise
    except _S3_COPY_FAILED as exc:
        # s3transfer turns a part copy's 412 into its own error; the ClientError is its context.
        cause = exc.__context__
        changed = _source_changed(cause) if isinstance(cause, ClientError) else None
        if changed is not None:
            raise changed from exc
        raise


def _source_changed(exc: ClientError) -> SourceChanged | None:
    """What a copy's 412 (the source's ETag moved on) or 404 (the source is gone) means."""
    if is_precondition_failed(exc):
        return SourceChanged(gone=False)
    if is_not_found(exc):
        return SourceChanged(gone=True)
    return None
