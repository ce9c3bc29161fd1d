"""Server-side copies from the source bucket to the backup bucket, bound to one object version.

Below the multipart threshold a single CopyObject copies content type, user metadata and tags
(`MetadataDirective`/`TaggingDirective` COPY). Above it, s3transfer's managed multipart copy does
the work; UploadPartCopy carries no metadata, so metadata and tags are read and passed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3transfer.exceptions import S3CopyFailedError

from objbackup.aws import is_not_found, is_precondition_failed

MIN_PART_BYTES = 8 * 1024**2
DEFAULT_PART_BYTES = 64 * 1024**2
MAX_PARTS = 10_000
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


class SourceChanged(Exception):
    """The source no longer holds the version the event described (overwritten or deleted)."""

    def __init__(self, gone: bool) -> None:
        super().__init__("source object is gone" if gone else "source object was overwritten")
        self.gone = gone


@dataclass(frozen=True)
class CopyResult:
    multipart: bool


class Copier:
    """Copies one source object version into the backup bucket under a given name."""

    def __init__(self, s3: Any, backup_bucket: str, multipart_threshold: int) -> None:
        self.s3 = s3
        self.backup_bucket = backup_bucket
        self.multipart_threshold = multipart_threshold

    def copy(
        self, bucket: str, key: str, name: str, etag: str | None, size: int | None
    ) -> CopyResult:
        """Copy `bucket/key` to `name` if it still has `etag`; raise SourceChanged otherwise."""
        try:
            if size is not None and size >= self.multipart_threshold:
                self._multipart(bucket, key, name, etag, size)
                return CopyResult(multipart=True)
            self._single(bucket, key, name, etag)
            return CopyResult(multipart=False)
        except ClientError as exc:
            if is_precondition_failed(exc):
                raise SourceChanged(gone=False) from exc
            if is_not_found(exc):
                raise SourceChanged(gone=True) from exc
            raise
        except S3CopyFailedError as exc:
            # s3transfer turns a part copy's 412 into its own error; the ClientError is its context.
            cause = exc.__context__
            if isinstance(cause, ClientError) and is_precondition_failed(cause):
                raise SourceChanged(gone=False) from exc
            raise

    def _single(self, bucket: str, key: str, name: str, etag: str | None) -> None:
        extra: dict[str, Any] = {}
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

    def _multipart(self, bucket: str, key: str, name: str, etag: str | None, size: int) -> None:
        head_args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            head_args["IfMatch"] = f'"{etag}"'
        head = self.s3.head_object(**head_args)
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
        part = max(MIN_PART_BYTES, DEFAULT_PART_BYTES, -(-size // MAX_PARTS))
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold, multipart_chunksize=part
        )
        self.s3.copy(
            {"Bucket": bucket, "Key": key},
            self.backup_bucket,
            name,
            ExtraArgs=extra,
            Config=config,
        )
