"""Patches that close gaps between moto and S3 which objbackup's correctness depends on.

Each patch is applied once, is idempotent, and has a test that fails if the gap reopens (for
instance because a moto upgrade changed the method patched here).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

_applied: set[str] = set()


def close_copy_source_if_match_gap() -> None:
    """moto 5.2 ignores `x-amz-copy-source-if-match` on CopyObject and UploadPartCopy; S3 answers
    412 PreconditionFailed when the source's ETag differs. The replicator relies on it to copy
    exactly the version an event describes."""
    if "copy-source-if-match" in _applied:
        return
    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response

    def check(response: Any) -> None:
        wanted = response.headers.get("x-amz-copy-source-if-match")
        if not wanted:
            return
        source = response.headers.get("x-amz-copy-source")
        if isinstance(source, bytes):
            source = source.decode("utf-8")
        parsed = urlparse(source)
        bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
        version = parse_qs(parsed.query).get("versionId", [None])[0]
        found = response.backend.get_object(bucket, key, version_id=version)
        if found is not None and found.etag.strip('"') != str(wanted).strip('"'):
            raise PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")

    for name in ("copy_object", "upload_part_copy"):
        original = getattr(S3Response, name)

        def guarded(self: Any, _original: Any = original) -> Any:
            check(self)
            return _original(self)

        setattr(S3Response, name, guarded)
    _applied.add("copy-source-if-match")


def close_all() -> None:
    """Apply every gap closer (in-process moto and the sandbox's server alike)."""
    close_copy_source_if_match_gap()
