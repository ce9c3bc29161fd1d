"""Sources S3 refuses to copy and moto copies: archived objects and SSE-C objects without their
key (objbackup/core/unsupported.py holds the sources), and Intelligent-Tiering's archive tiers."""

from __future__ import annotations

from typing import Any

from objbackup.sandbox.patches.registry import Patch
from objbackup.sandbox.patches.s3 import check_copies, copy_source

# What the sandbox keeps on a moto key about things moto does not model.
_SSE_C_ALGORITHM = "_objbackup_sse_customer_algorithm"
_ARCHIVE_STATUS = "_objbackup_archive_status"
_SSE_C_REFUSAL = (
    "The object was stored using a form of Server Side Encryption. The correct parameters must "
    "be provided to retrieve the object."
)


def close_unsupported_source_gap() -> None:
    """moto 5.2 ignores SSE-C (an SSE-C object is copied and HEADed without its key), lets
    UploadPartCopy read an archived object, has no Intelligent-Tiering archive tiers, and refuses
    CopyObject of a GLACIER object with ObjectNotInActiveTierError. S3 refuses a copy of an
    archived, unrestored source with InvalidObjectState (403), and a copy of an SSE-C source
    without its key with 400 InvalidRequest; its HEAD without the key is a bodiless 400 (see
    objbackup/core/unsupported.py for the sources). Do the same, for SSE-C objects written by
    PutObject (a multipart upload's SSE-C is not remembered); `archive_tier` stands in for the
    tiering S3 does after 90 days."""
    from moto.s3.exceptions import InvalidObjectState, S3ClientError
    from moto.s3.responses import S3Response
    from moto.s3.utils import ARCHIVE_STORAGE_CLASSES

    def archived(key: Any) -> bool:
        if 'ongoing-request="false"' in str(key.response_dict.get("x-amz-restore", "")):
            return False
        tier = getattr(key, _ARCHIVE_STATUS, None)
        return key.storage_class in ARCHIVE_STORAGE_CLASSES or tier is not None

    def refuse(response: Any) -> None:
        found = copy_source(response)
        if found is None:
            return
        if archived(found):
            refusal = InvalidObjectState(storage_class=found.storage_class)
            refusal.access_tier = getattr(found, _ARCHIVE_STATUS, None)  # type: ignore[attr-defined]
            raise refusal
        customer = "x-amz-copy-source-server-side-encryption-customer-algorithm"
        if getattr(found, _SSE_C_ALGORITHM, None) and not response.headers.get(customer):
            raise S3ClientError("InvalidRequest", _SSE_C_REFUSAL)

    check_copies(refuse)

    original_put = S3Response.put_object

    def put_object(self: Any) -> Any:
        result = original_put(self)
        algorithm = self.headers.get("x-amz-server-side-encryption-customer-algorithm")
        if algorithm:
            version = result[1].get("x-amz-version-id")
            key = self.backend.get_object(self.bucket_name, self.parse_key_name(), version)
            if key is not None:  # gone again already: nothing to remember
                setattr(key, _SSE_C_ALGORITHM, algorithm)
        return result

    original_head = S3Response.head_object

    def head_object(self: Any, bucket_name: str, query: Any, key_name: str, headers: Any) -> Any:
        status, answer, body = original_head(self, bucket_name, query, key_name, headers)
        if status != 200:
            return status, answer, body
        version = query.get("versionId", [None])[0]
        key = self.backend.get_object(bucket_name, key_name, version_id=version)
        algorithm = getattr(key, _SSE_C_ALGORITHM, None)
        if algorithm:
            if not headers.get("x-amz-server-side-encryption-customer-algorithm"):
                return 400, {}, ""
            answer["x-amz-server-side-encryption-customer-algorithm"] = algorithm
        tier = getattr(key, _ARCHIVE_STATUS, None)
        if tier:
            answer["x-amz-archive-status"] = tier
        return status, answer, body

    S3Response.put_object = put_object  # type: ignore[method-assign]
    S3Response.head_object = head_object  # type: ignore[method-assign]


def archive_tier(bucket: str, key: str, tier: str | None, account_id: str | None = None) -> None:
    """Put an INTELLIGENT_TIERING object in archive tier `tier` (ARCHIVE_ACCESS or
    DEEP_ARCHIVE_ACCESS), as S3 does after 90 (180) days without access when the bucket has an
    archive configuration; None brings it back to Frequent Access, as a completed restore does."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    found = s3_backends[account_id or DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
    if found is None or found.storage_class != "INTELLIGENT_TIERING":
        raise ValueError(f"{bucket}/{key} is not an INTELLIGENT_TIERING object")
    setattr(found, _ARCHIVE_STATUS, tier)


PATCHES = (
    Patch(
        "s3",
        "unsupported-source",
        "S3 refuses a copy of an archived source (403 InvalidObjectState) or of an SSE-C source "
        "without its key (400); moto copies both and has no archive tiers",
        (
            "tests/unit/test_unsupported.py::test_copy_of_an_archived_object_is_invalid_object_state",
            "tests/unit/test_unsupported.py::test_sse_c_object_needs_its_key_to_be_copied_or_headed",
        ),
        close_unsupported_source_gap,
    ),
)
