"""The sandbox's ListObjectVersions honours `encoding-type=url` as S3 does, so keys XML cannot
carry (controls, CR) list like any other (objbackup/sandbox/patches/s3.py)."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import boto3
import pytest

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

KEYS = ["a%41 b+c", "cr\rv", "lf\nv", "plain", "soh\x01v", "tab\tv"]


@pytest.fixture
def s3(moto_aws: None) -> S3Client:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="bkt")
    client.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    for key in KEYS:
        client.put_object(Bucket="bkt", Key=key, Body=b"1")
        client.delete_object(Bucket="bkt", Key=key)
    return client


def test_versions_and_delete_markers_of_hostile_keys_list_as_written(s3: S3Client) -> None:
    page = s3.list_object_versions(Bucket="bkt")
    assert sorted(v["Key"] for v in page["Versions"]) == sorted(KEYS)
    assert sorted(m["Key"] for m in page["DeleteMarkers"]) == sorted(KEYS)


def test_pages_and_prefixes_round_trip_through_the_encoding(s3: S3Client) -> None:
    seen: list[str] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket="bkt", PaginationConfig={"PageSize": 3}):
        seen += [v["Key"] for v in page.get("Versions", [])]
    assert sorted(seen) == sorted(KEYS)
    page = s3.list_object_versions(Bucket="bkt", Prefix="soh\x01")
    assert [v["Key"] for v in page["Versions"]] == ["soh\x01v"]
    assert page["Prefix"] == "soh\x01"


def test_listing_objects_of_hostile_keys_needs_no_patch(s3: S3Client) -> None:
    """A guard, not a fix: moto honours the encoding for these, so the closer leaves them."""
    s3.put_object(Bucket="bkt", Key="soh\x01v", Body=b"2")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bkt")["Contents"]] == ["soh\x01v"]
    assert [o["Key"] for o in s3.list_objects(Bucket="bkt")["Contents"]] == ["soh\x01v"]


UNPATCHED = """
import boto3
from botocore.config import Config
from moto import mock_aws
with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="bkt", Key="soh\\x01v", Body=b"1")
    try:
        s3.list_object_versions(Bucket="bkt")
    except Exception as exc:
        print(type(exc).__name__)
"""


def test_the_gap_is_still_open_in_plain_moto(aws_credentials: None) -> None:
    """If this fails, moto honours the encoding itself and the patch can go."""
    result = subprocess.run(
        [sys.executable, "-c", UNPATCHED], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ClientError"
