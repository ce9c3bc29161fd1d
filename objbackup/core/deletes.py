"""Deleting many S3 keys at the batch API's limit without letting one key sink its batch.

DeleteObjects carries its keys in an XML 1.0 body. XML 1.0 cannot carry most control characters
at all (its `Char` production admits only tab, LF and CR below U+0020, and no U+FFFE / U+FFFF:
https://www.w3.org/TR/xml/#charsets), and a parser turns a CR into LF (end-of-line handling),
which S3's user guide warns of ("XML related object key constraints",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html). botocore sends keys as
they are, so one such key makes S3 refuse the whole request (MalformedXML) or delete another key.
Those keys are deleted with DeleteObject, which carries the key in the URL. A chunk that S3
refuses as a whole for any other reason is retried key by key, so that every key gets its own
answer and one bad key never fails its neighbours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.chunks import chunks

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef

DELETE_OBJECTS_LIMIT = 1000
# What an XML 1.0 body cannot carry as written: controls other than tab and LF (CR is normalised
# to LF by the parser), surrogates, U+FFFE and U+FFFF.
_NOT_XML_SAFE = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Target:
    """One object (or, with `version_id`, one version or delete marker) to delete."""

    key: str
    version_id: str | None = None

    def identifier(self) -> ObjectIdentifierTypeDef:
        """The ObjectIdentifier of DeleteObjects."""
        ident: ObjectIdentifierTypeDef = {"Key": self.key}
        if self.version_id is not None:
            ident["VersionId"] = self.version_id
        return ident


@dataclass
class DeleteReport:
    """Which targets are gone, and which are not with S3's reason for each."""

    deleted: list[Target] = field(default_factory=list)
    failed: list[tuple[Target, str]] = field(default_factory=list)


def xml_safe(key: str) -> bool:
    """Whether `key` survives a trip through a DeleteObjects XML body unchanged."""
    return _NOT_XML_SAFE.search(key) is None


def delete_targets(s3: S3Client, bucket: str, targets: Iterable[Target]) -> DeleteReport:
    """Delete `targets` from `bucket`, 1000 per DeleteObjects call; never raise for one key.

    Holds one chunk at a time. Errors that concern the whole bucket or the caller's credentials
    still fail every key of the chunk, each with its reason, and the caller decides what to do.
    """
    report = DeleteReport()
    for chunk in chunks(targets, DELETE_OBJECTS_LIMIT):
        batch = [t for t in chunk if xml_safe(t.key)]
        singles = [t for t in chunk if not xml_safe(t.key)]
        if batch:
            singles += _delete_batch(s3, bucket, batch, report)
        for target in singles:
            _delete_one(s3, bucket, target, report)
    return report


def _delete_batch(
    s3: S3Client, bucket: str, batch: list[Target], report: DeleteReport
) -> list[Target]:
    """One DeleteObjects call; returns the targets to retry one by one (a refused request)."""
    try:
        response = s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [t.identifier() for t in batch], "Quiet": True},
        )
    except ClientError:
        # The request as a whole was refused (a key S3 would not parse, say): ask key by key.
        return batch
    errors = {
        (e.get("Key"), e.get("VersionId")): f"{e.get('Code')}: {e.get('Message', '')}".strip(": ")
        for e in response.get("Errors", [])
    }
    for target in batch:
        reason = errors.get((target.key, target.version_id)) or errors.get((target.key, None))
        if reason is None:
            report.deleted.append(target)
        else:
            report.failed.append((target, reason))
    return []


def _delete_one(s3: S3Client, bucket: str, target: Target, report: DeleteReport) -> None:
    try:
        if target.version_id is None:
            s3.delete_object(Bucket=bucket, Key=target.key)
        else:
            s3.delete_object(Bucket=bucket, Key=target.key, VersionId=target.version_id)
    except ClientError as exc:
        report.failed.append((target, error_code(exc)))
    else:
        report.deleted.append(target)
