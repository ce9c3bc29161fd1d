"""Objects S3 will not copy server-side as they are: archived (not restored) or SSE-C encrypted.

No retry can back such an object up, so none is made: the replicator acknowledges its event as
`unsupported` (logged with the reason), verify reports it as a warning, backfill skips it.

* Archived: S3 Glacier Flexible Retrieval, S3 Glacier Deep Archive and the Intelligent-Tiering
  Archive and Deep Archive Access tiers are "not accessible in real time" until restored
  (S3 User Guide, "Restoring an archived object",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html). S3 answers
  `InvalidObjectState` (403; botocore's S3 exception of that name carries StorageClass and
  AccessTier) or `ObjectNotInActiveTierError` ("The source object of the COPY action is not in
  the active tier"). A restored GLACIER object (`Restore: ongoing-request="false"`) and every
  GLACIER_IR object copy normally.
* SSE-C: "If the source object for the copy is stored in Amazon S3 using SSE-C, you must provide
  the necessary encryption information" (CopyObject, x-amz-copy-source-server-side-encryption-
  customer-*), and objbackup never holds customer keys. CopyObject answers 400 InvalidRequest
  "The object was stored using a form of Server Side Encryption..." (seen in
  apache/opendal#1858); HeadObject, which needs the key too (HeadObject API reference), answers a
  bodiless 400 (boto/boto3#936), so botocore's code is "400".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code, head_or_none
from objbackup.core.errors import ObjbackupError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

ARCHIVED_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
_ARCHIVED_CODES = frozenset({"InvalidObjectState", "ObjectNotInActiveTierError"})
SSE_C = "encrypted with a customer-provided key (SSE-C), which objbackup does not have"


class UnsupportedObject(ObjbackupError):
    """S3 cannot copy this object server-side as it is; `reason` says why."""

    hint = "restore an archived object first; an SSE-C object cannot be backed up by objbackup"

    def __init__(self, reason: str) -> None:
        super().__init__(f"object cannot be copied: {reason}")
        self.reason = reason


def archived(storage_class: str | None, tier: str | None = None) -> str:
    """The reason for an archived object, naming its storage class (and tier) when known."""
    where = " ".join(p for p in (storage_class, tier) if p) or "an archive"
    return f"archived in {where} and not restored"


def refusal(exc: ClientError) -> str | None:
    """Why S3 refused a copy (or the copier's HEAD) of the source, if it is one no retry fixes."""
    code = error_code(exc)
    if code in _ARCHIVED_CODES:
        # An error body may carry more fields (StorageClass, AccessTier) than the stubs name.
        response: Mapping[str, Any] = exc.response
        error: Mapping[str, Any] = response.get("Error", {})
        storage = response.get("StorageClass") or error.get("StorageClass")
        tier = response.get("AccessTier") or error.get("AccessTier")
        return archived(storage, tier)
    message = str(exc.response.get("Error", {}).get("Message", "")).lower().replace("-", " ")
    if code == "InvalidRequest" and "server side encryption" in message:
        return SSE_C
    if code == "400" and exc.operation_name == "HeadObject":
        return SSE_C
    return None


def head_refusal(head: Mapping[str, Any]) -> str | None:
    """Why the object a HeadObject answer describes cannot be copied, or None if it can."""
    if 'ongoing-request="false"' in str(head.get("Restore", "")):
        return None  # restored: a readable copy is there until its expiry date
    storage = str(head.get("StorageClass") or "STANDARD")
    # x-amz-archive-status: ARCHIVE_ACCESS | DEEP_ARCHIVE_ACCESS (HeadObject API reference).
    tier = head.get("ArchiveStatus")
    if storage in ARCHIVED_CLASSES or tier:
        return archived(storage, str(tier) if tier else None)
    return None


def check_source(s3: S3Client, bucket: str, key: str) -> str | None:
    """HEAD `bucket/key`: why it cannot be copied, or None (copyable, or gone since listed)."""
    try:
        head = head_or_none(s3, bucket, key)
    except ClientError as exc:
        reason = refusal(exc)
        if reason is not None:
            return reason
        raise
    return None if head is None else head_refusal(head)
