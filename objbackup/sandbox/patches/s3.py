"""S3 behaviour moto 5.2 lacks: conditions on copies, DeleteObjects' refusal of XML it cannot
parse, and ListObjectVersions' URL encoding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from objbackup.sandbox.patches.registry import Patch


def check_copies(check: Callable[[Any], None]) -> None:
    """Run `check` on every CopyObject and UploadPartCopy request before moto handles it."""
    from moto.s3.responses import S3Response

    for name in ("copy_object", "upload_part_copy"):
        original = getattr(S3Response, name)

        def guarded(self: Any, _original: Any = original) -> Any:
            check(self)
            return _original(self)

        setattr(S3Response, name, guarded)


def copy_source(response: Any) -> Any:
    """The moto key a copy request's `x-amz-copy-source` names (its version if given), or None."""
    source = response.headers.get("x-amz-copy-source")
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    parsed = urlparse(source)
    bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
    version = parse_qs(parsed.query).get("versionId", [None])[0]
    return response.backend.get_object(bucket, key, version_id=version)


def close_copy_source_if_match_gap() -> None:
    """moto 5.2 ignores `x-amz-copy-source-if-match` on CopyObject and UploadPartCopy; S3 answers
    412 PreconditionFailed when the source's ETag differs. The replicator relies on it to copy
    exactly the version an event describes."""
    from moto.s3.exceptions import PreconditionFailed

    def check(response: Any) -> None:
        wanted = response.headers.get("x-amz-copy-source-if-match")
        if not wanted:
            return
        found = copy_source(response)
        if found is not None and found.etag.strip('"') != str(wanted).strip('"'):
            raise PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")

    check_copies(check)


def close_copy_destination_condition_gap() -> None:
    """moto 5.2 ignores `If-None-Match` and `If-Match` on CopyObject, and `If-Match` on
    CompleteMultipartUpload: conditions on the object being written. S3 answers 412 when the
    destination exists (If-None-Match: *) or has another ETag, and 404 when If-Match names a
    missing one. Restore and undelete rely on it never to overwrite a write they did not see."""
    from moto.s3.exceptions import MissingKey, PreconditionFailed
    from moto.s3.responses import S3Response

    def check(response: Any, bucket: str, key: str) -> None:
        if_none_match = response.headers.get("If-None-Match")
        if_match = response.headers.get("If-Match")
        if not (if_none_match or if_match):
            return
        existing = response.backend.get_object(bucket, key)
        if if_none_match == "*" and existing is not None:
            raise PreconditionFailed("If-None-Match")
        if if_match:
            if existing is None:
                raise MissingKey(key=key)
            if existing.etag.strip('"') != str(if_match).strip('"'):
                raise PreconditionFailed("If-Match")

    original_copy = S3Response.copy_object

    def copy_object(self: Any) -> Any:
        check(self, self.bucket_name, self.parse_key_name())
        return original_copy(self)

    original_post = S3Response._key_response_post

    def key_response_post(
        self: Any, request: Any, body: Any, bucket_name: str, query: Any, key_name: str
    ) -> Any:
        # Only the If-Match of a completion: moto already checks its If-None-Match.
        if query.get("uploadId") and self.headers.get("If-Match"):
            existing = self.backend.get_object(bucket_name, key_name)
            upload = query["uploadId"][0]
            if not (
                existing is not None and existing.multipart and existing.multipart.id == upload
            ):
                check(self, bucket_name, key_name)
        return original_post(self, request, body, bucket_name, query, key_name)

    S3Response.copy_object = copy_object  # type: ignore[method-assign]
    S3Response._key_response_post = key_response_post  # type: ignore[method-assign]


def close_delete_objects_xml_gap() -> None:
    """moto 5.2 lets the XML parser's error escape from DeleteObjects when the body holds a key
    XML 1.0 cannot carry (a control character): in process a Python exception, over HTTP a 500
    that botocore retries. S3 answers 400 MalformedXML for the whole request, and that is what
    objbackup.core.deletes must ride out."""
    from xml.parsers.expat import ExpatError

    from moto.s3.exceptions import MalformedXML
    from moto.s3.responses import S3Response

    original = S3Response._bucket_response_delete_keys

    def delete_keys(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except ExpatError:
            raise MalformedXML() from None

    S3Response._bucket_response_delete_keys = delete_keys  # type: ignore[method-assign]


def close_list_object_versions_encoding_gap() -> None:
    """moto 5.2's ListObjectVersions ignores `encoding-type=url` and writes keys raw, so a key
    holding a control character makes the response XML unparseable (a 500 that botocore
    retries). S3 percent-encodes KeyMarker, NextKeyMarker, Prefix, Delimiter and every Key
    when asked ("EncodingType", https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html),
    and botocore always asks and decodes (handlers.py `set_list_objects_encoding_type_url`,
    `decode_list_object_versions`), so teardown and verify list such keys on S3. ListObjects
    and ListObjectsV2 honour the parameter in moto already."""
    from urllib.parse import quote

    from moto.s3.responses import S3Response

    original = S3Response.list_object_versions

    def encoded(result: dict[str, Any]) -> dict[str, Any]:
        for name in ("KeyMarker", "NextKeyMarker", "Prefix", "Delimiter"):
            if result.get(name):
                result[name] = quote(str(result[name]))
        for group, name in (("Versions", "Key"), ("DeleteMarkers", "Key")):
            for item in result.get(group, []):
                item[name] = quote(str(item[name]))
        for item in result.get("CommonPrefixes", []):
            item["Prefix"] = quote(str(item["Prefix"]))
        result["EncodingType"] = "url"
        return result

    def list_object_versions(self: Any) -> Any:
        if self.querystring.get("encoding-type", [None])[0] != "url":
            return original(self)
        serialized = self.serialized

        def serialize_encoded(action_result: Any) -> Any:
            if isinstance(action_result.result, dict):
                encoded(action_result.result)
            return serialized(action_result)

        self.serialized = serialize_encoded
        try:
            return original(self)
        finally:
            del self.serialized

    S3Response.list_object_versions = list_object_versions  # type: ignore[method-assign]


PATCHES = (
    Patch(
        "s3",
        "copy-source-if-match",
        "S3 answers 412 to a copy whose x-amz-copy-source-if-match names another ETag; moto copies",
        ("tests/unit/test_gaps.py::test_copy_object_with_another_etag_is_refused",),
        close_copy_source_if_match_gap,
    ),
    Patch(
        "s3",
        "copy-destination-condition",
        "S3 checks If-None-Match/If-Match on CopyObject's destination and If-Match on "
        "CompleteMultipartUpload (412, 404); moto ignores them",
        (
            "tests/unit/test_gaps.py::test_copy_object_if_none_match_refuses_an_existing_destination",
            "tests/unit/test_gaps.py::test_complete_multipart_upload_if_match_needs_the_destination_at_that_etag",
        ),
        close_copy_destination_condition_gap,
    ),
    Patch(
        "s3",
        "delete-objects-xml",
        "S3 answers 400 MalformedXML to a DeleteObjects body XML 1.0 cannot carry; moto fails "
        "with a Python error (a 500 over HTTP)",
        (
            "tests/unit/test_deletes.py::test_one_hostile_key_in_a_plain_delete_objects_sinks_the_whole_request",
        ),
        close_delete_objects_xml_gap,
    ),
    Patch(
        "s3",
        "list-object-versions-encoding",
        "S3 percent-encodes ListObjectVersions' keys when asked (EncodingType, "
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html); "
        "moto writes them raw",
        (
            "tests/unit/test_list_encoding_gap.py::test_versions_and_delete_markers_of_hostile_keys_list_as_written",
        ),
        close_list_object_versions_encoding_gap,
    ),
)
