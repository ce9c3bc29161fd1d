"""moto's CopySourceIfMatch gap, closed by objbackup/sandbox/patches/s3.py: S3's answer must be 412.

The `system` fixture applies `install_all()`; every refusal below fails if the patch stops working.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from objbackup.sandbox.patches import install_all
from tests.harness import Harness

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import CopySourceTypeDef

KEYS = ["plain.txt", "my photos/café + tea.jpg", "odd/100%?a=b#c:d&e~f.bin"]
WRONG_ETAG = '"0123456789abcdef0123456789abcdef"'


def put(system: Harness, key: str, body: bytes = b"source bytes") -> str:
    etag: str = system.s3.put_object(Bucket="src", Key=key, Body=body)["ETag"]
    return etag


def copy_object(system: Harness, key: str, if_match: str) -> None:
    system.s3.copy_object(
        Bucket="bak",
        Key="copy",
        CopySource={"Bucket": "src", "Key": key},
        CopySourceIfMatch=if_match,
    )


def assert_precondition_failed(caught: pytest.ExceptionInfo[ClientError]) -> None:
    response: Mapping[str, Any] = caught.value.response
    assert response["Error"]["Code"] == "PreconditionFailed"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 412


@pytest.mark.parametrize("key", KEYS)
def test_copy_object_with_another_etag_is_refused(system: Harness, key: str) -> None:
    put(system, key)
    with pytest.raises(ClientError) as caught:
        copy_object(system, key, WRONG_ETAG)
    assert_precondition_failed(caught)
    assert system.backup_keys() == set()


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_copy_object_with_the_current_etag_succeeds(
    system: Harness, key: str, quoted: bool
) -> None:
    etag = put(system, key)
    copy_object(system, key, etag if quoted else etag.strip('"'))
    assert system.read_backup("copy") == b"source bytes"


def test_copy_object_of_an_overwritten_object_is_refused(system: Harness) -> None:
    old = put(system, "k", b"old")
    put(system, "k", b"new")
    with pytest.raises(ClientError) as caught:
        copy_object(system, "k", old)
    assert_precondition_failed(caught)


def test_copy_object_checks_the_version_named_in_the_copy_source(system: Harness) -> None:
    system.s3.put_bucket_versioning(Bucket="src", VersioningConfiguration={"Status": "Enabled"})
    first = system.s3.put_object(Bucket="src", Key="k", Body=b"old")
    second = system.s3.put_object(Bucket="src", Key="k", Body=b"new")
    old_version: CopySourceTypeDef = {"Bucket": "src", "Key": "k", "VersionId": first["VersionId"]}
    system.s3.copy_object(
        Bucket="bak", Key="copy", CopySource=old_version, CopySourceIfMatch=first["ETag"]
    )
    assert system.read_backup("copy") == b"old"
    with pytest.raises(ClientError) as caught:
        system.s3.copy_object(
            Bucket="bak", Key="copy", CopySource=old_version, CopySourceIfMatch=second["ETag"]
        )
    assert_precondition_failed(caught)


def upload_part_copy(system: Harness, key: str, if_match: str) -> dict[str, Any]:
    upload = system.s3.create_multipart_upload(Bucket="bak", Key="copy")
    response = system.s3.upload_part_copy(
        Bucket="bak",
        Key="copy",
        UploadId=upload["UploadId"],
        PartNumber=1,
        CopySource={"Bucket": "src", "Key": key},
        CopySourceIfMatch=if_match,
    )
    return dict(response)


@pytest.mark.parametrize("key", KEYS)
def test_upload_part_copy_with_another_etag_is_refused(system: Harness, key: str) -> None:
    put(system, key)
    with pytest.raises(ClientError) as caught:
        upload_part_copy(system, key, WRONG_ETAG)
    assert_precondition_failed(caught)


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_upload_part_copy_with_the_current_etag_succeeds(system: Harness, quoted: bool) -> None:
    etag = put(system, "k")
    response = upload_part_copy(system, "k", etag if quoted else etag.strip('"'))
    assert response["CopyPartResult"]["ETag"]


def test_closing_twice_patches_once(system: Harness) -> None:
    from moto.s3.responses import S3Response

    patched = (S3Response.copy_object, S3Response.upload_part_copy)
    install_all()
    assert (S3Response.copy_object, S3Response.upload_part_copy) == patched
    put(system, "k")
    with pytest.raises(ClientError) as caught:
        copy_object(system, "k", WRONG_ETAG)
    assert_precondition_failed(caught)


# Plain moto, in a fresh interpreter that never applied the patch.
UNPATCHED = """
import boto3
from moto import mock_aws
with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("src", "bak"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="src", Key="k", Body=b"x")
    s3.copy_object(Bucket="bak", Key="copy", CopySource={"Bucket": "src", "Key": "k"},
                   CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    print("copied")
"""


def in_plain_moto(script: str) -> str:
    """What `script` prints in a fresh interpreter, where no gap is closed."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_gap_is_still_open_in_plain_moto(aws_credentials: None) -> None:
    """If this fails, moto closed the gap itself and the patch can go."""
    assert in_plain_moto(UNPATCHED) == "copied"


# --- conditions on the destination of a copy (restore and undelete never overwrite unseen writes)


def copy_to(system: Harness, key: str, **condition: Any) -> None:
    system.s3.copy_object(
        Bucket="bak", Key=key, CopySource={"Bucket": "src", "Key": "k"}, **condition
    )


def test_copy_object_if_none_match_refuses_an_existing_destination(system: Harness) -> None:
    put(system, "k", b"source")
    copy_to(system, "fresh", IfNoneMatch="*")
    assert system.read_backup("fresh") == b"source"
    system.s3.put_object(Bucket="bak", Key="taken", Body=b"keep")
    with pytest.raises(ClientError) as caught:
        copy_to(system, "taken", IfNoneMatch="*")
    assert_precondition_failed(caught)
    assert system.read_backup("taken") == b"keep"


def test_copy_object_if_match_needs_the_destination_at_that_etag(system: Harness) -> None:
    put(system, "k", b"source")
    seen = system.s3.put_object(Bucket="bak", Key="dest", Body=b"seen")["ETag"]
    system.s3.put_object(Bucket="bak", Key="dest", Body=b"written since")
    with pytest.raises(ClientError) as caught:
        copy_to(system, "dest", IfMatch=seen)
    assert_precondition_failed(caught)
    assert system.read_backup("dest") == b"written since"
    with pytest.raises(ClientError) as missing:
        copy_to(system, "absent", IfMatch=seen)
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    current = system.s3.head_object(Bucket="bak", Key="dest")["ETag"]
    copy_to(system, "dest", IfMatch=current.strip('"'))
    assert system.read_backup("dest") == b"source"


def complete(system: Harness, **condition: Any) -> None:
    upload = system.s3.create_multipart_upload(Bucket="bak", Key="dest")
    part = system.s3.upload_part(
        Bucket="bak", Key="dest", UploadId=upload["UploadId"], PartNumber=1, Body=b"parts"
    )
    system.s3.complete_multipart_upload(
        Bucket="bak",
        Key="dest",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        **condition,
    )


def test_complete_multipart_upload_if_match_needs_the_destination_at_that_etag(
    system: Harness,
) -> None:
    seen = system.s3.put_object(Bucket="bak", Key="dest", Body=b"seen")["ETag"]
    system.s3.put_object(Bucket="bak", Key="dest", Body=b"written since")
    with pytest.raises(ClientError) as caught:
        complete(system, IfMatch=seen)
    assert_precondition_failed(caught)
    assert system.read_backup("dest") == b"written since"
    complete(system, IfMatch=system.s3.head_object(Bucket="bak", Key="dest")["ETag"])
    assert system.read_backup("dest") == b"parts"


DESTINATION_UNPATCHED = """
import boto3
from moto import mock_aws
with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="k", Body=b"x")
    s3.put_object(Bucket="bkt", Key="taken", Body=b"y")
    s3.copy_object(Bucket="bkt", Key="taken", CopySource={"Bucket": "bkt", "Key": "k"},
                   IfNoneMatch="*")
    print("overwritten")
"""


def test_the_destination_gap_is_still_open_in_plain_moto(aws_credentials: None) -> None:
    """If this fails, moto honours destination conditions on copies itself; the patch can go."""
    assert in_plain_moto(DESTINATION_UNPATCHED) == "overwritten"
