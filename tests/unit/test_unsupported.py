"""Objects S3 cannot copy as they are (archived and not restored, SSE-C): the replicator
acknowledges their events as `unsupported`, with the reason logged, and copies nothing.

moto copies them all; the sandbox's patch (objbackup/sandbox/patches/s3_unsupported.py, applied
by the `system` fixture) refuses as S3 does, and the first tests pin that.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.logs import LOGGER
from objbackup.core.runtime import ReplicatorApp
from objbackup.sandbox.patches import archive_tier
from tests.harness import Harness
from tests.unit.test_batch import failures, sqs_batch

SSE_C_KEY = "k" * 32  # a 256-bit customer key
SSE_C: dict[str, Any] = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SSE_C_KEY}


def put_unsupported(system: Harness, kind: str, key: str = "k") -> ObjectEvent:
    """Write `key` as an object S3 cannot copy: in an archive class or tier, or with SSE-C."""
    if kind == "SSE-C":
        return system.put(key, b"secret", **SSE_C)
    if kind in ("GLACIER", "DEEP_ARCHIVE"):
        return system.put(key, b"cold", StorageClass=kind)
    event = system.put(key, b"cold", StorageClass="INTELLIGENT_TIERING")
    archive_tier(system.settings.source_bucket, key, kind)
    return event


UNSUPPORTED = {
    "GLACIER": "archived in GLACIER and not restored",
    "DEEP_ARCHIVE": "archived in DEEP_ARCHIVE and not restored",
    "ARCHIVE_ACCESS": "archived in INTELLIGENT_TIERING ARCHIVE_ACCESS and not restored",
    "DEEP_ARCHIVE_ACCESS": "archived in INTELLIGENT_TIERING DEEP_ARCHIVE_ACCESS and not restored",
    "SSE-C": "encrypted with a customer-provided key (SSE-C)",
}


# --- the sandbox refuses as S3 does -----------------------------------------------------------


def copy(system: Harness, key: str, **extra: Any) -> None:
    system.s3.copy_object(
        Bucket="bak", Key="copy", CopySource={"Bucket": "src", "Key": key}, **extra
    )


@pytest.mark.parametrize("kind", ["GLACIER", "DEEP_ARCHIVE", "ARCHIVE_ACCESS"])
def test_copy_of_an_archived_object_is_invalid_object_state(system: Harness, kind: str) -> None:
    put_unsupported(system, kind)
    with pytest.raises(ClientError) as caught:
        copy(system, "k")
    assert caught.value.response["Error"]["Code"] == "InvalidObjectState"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    upload = system.s3.create_multipart_upload(Bucket="bak", Key="copy")["UploadId"]
    with pytest.raises(ClientError) as part:
        system.s3.upload_part_copy(
            Bucket="bak",
            Key="copy",
            UploadId=upload,
            PartNumber=1,
            CopySource={"Bucket": "src", "Key": "k"},
        )
    assert part.value.response["Error"]["Code"] == "InvalidObjectState"
    assert system.backup_keys() == set()


def test_an_archive_tier_shows_in_head_and_a_restore_makes_it_copyable(system: Harness) -> None:
    put_unsupported(system, "DEEP_ARCHIVE_ACCESS", "tiered")
    head = system.s3.head_object(Bucket="src", Key="tiered")
    assert head["ArchiveStatus"] == "DEEP_ARCHIVE_ACCESS"
    archive_tier("src", "tiered", None)
    copy(system, "tiered")
    put_unsupported(system, "GLACIER", "cold")
    system.s3.restore_object(Bucket="src", Key="cold", RestoreRequest={"Days": 1})
    copy(system, "cold")
    assert system.read_backup("copy") == b"cold"


def test_sse_c_object_needs_its_key_to_be_copied_or_headed(system: Harness) -> None:
    put_unsupported(system, "SSE-C")
    with pytest.raises(ClientError) as caught:
        copy(system, "k")
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidRequest" and "Server Side Encryption" in error["Message"]
    with pytest.raises(ClientError) as head:
        system.s3.head_object(Bucket="src", Key="k")
    assert head.value.response["Error"]["Code"] == "400"
    assert system.s3.head_object(Bucket="src", Key="k", **SSE_C)["SSECustomerAlgorithm"]
    copy(
        system,
        "k",
        CopySourceSSECustomerAlgorithm="AES256",
        CopySourceSSECustomerKey=SSE_C_KEY,
    )


# --- the replicator acknowledges them ---------------------------------------------------------


@pytest.mark.parametrize("kind", list(UNSUPPORTED))
@pytest.mark.parametrize("threshold", [None, 1], ids=["single", "multipart"])
def test_unsupported_source_is_acknowledged_with_its_reason(
    system: Harness, kind: str, threshold: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    if threshold is not None:
        system = system.with_settings(multipart_threshold=threshold)
    event = put_unsupported(system, kind)
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    outcome = system.replicator.handle(event)
    assert outcome.outcome == "unsupported"
    assert outcome.reason is not None and outcome.reason.startswith(UNSUPPORTED[kind])
    assert system.copies("k") == [] and system.backup_keys() == set()
    [record] = [r for r in caplog.records if r.name == LOGGER.name]
    line = json.loads(record.getMessage())
    assert (line["outcome"], line["reason"]) == ("unsupported", outcome.reason)
    assert record.levelno == logging.WARNING


def test_unsupported_messages_are_not_batch_failures_and_copyable_ones_are_copied(
    system: Harness,
) -> None:
    app = ReplicatorApp(system.settings, system.replicator)
    unsupported = [(f"m-{kind}", put_unsupported(system, kind, kind)) for kind in UNSUPPORTED]
    # Read in real time (GLACIER_IR, a tier not archived) or restored: S3 copies these.
    copyable = [
        (f"m-{c}", system.put(c, c.encode(), StorageClass=c))
        for c in ("GLACIER_IR", "INTELLIGENT_TIERING", "STANDARD_IA", "STANDARD")
    ]
    restored = put_unsupported(system, "GLACIER", "restored")
    system.s3.restore_object(Bucket="src", Key="restored", RestoreRequest={"Days": 1})

    assert app(sqs_batch(*unsupported, *copyable, ("m-restored", restored))) == failures()

    for kind in UNSUPPORTED:
        assert system.copies(kind) == []
    for key in [e.key for _, e in copyable] + ["restored"]:
        [record] = system.active(key)
        assert system.read_backup(record.copy_name) == system.read_source(key)
    assert len(system.backup_keys()) == len(copyable) + 1


def test_deleting_an_old_version_of_an_sse_c_object_is_no_failure(system: Harness) -> None:
    system.s3.put_bucket_versioning(Bucket="src", VersioningConfiguration={"Status": "Enabled"})
    old = put_unsupported(system, "SSE-C")
    put_unsupported(system, "SSE-C")
    assert old.version_id is not None
    system.s3.delete_object(Bucket="src", Key="k", VersionId=old.version_id)
    deleted = system.event(Kind.DELETED, "k", version_id=old.version_id)
    app = ReplicatorApp(system.settings, system.replicator)
    # The HEAD that checks the object is still there needs the key: S3 answers 400.
    assert app(sqs_batch(("m-delete", deleted))) == failures()
    assert system.copies("k") == [] and system.backup_keys() == set()
