"""The sandbox's IAM rules in process (tests/iam_access.py over objbackup/sandbox/access.py and
iam_rules.py): on only inside `with enforce():`, and the rules both modes share apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from moto import mock_aws

from tests.iam_access import ALLOW_ALL, enforce, user_keys
from tests.iam_access import error_code as _code

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

REGION = "us-east-1"


def _s3(keys: dict[str, str]) -> S3Client:
    return boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )


def test_enforcement_is_on_only_inside_the_block() -> None:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        lister = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::listed"}
            ],
        }
        s3 = _s3(user_keys(iam, "lister", lister))
        assert _code(lambda: s3.create_bucket(Bucket="listed")) == "OK", "off before the block"
        with enforce():
            assert _code(lambda: s3.create_bucket(Bucket="other")) == "AccessDenied"
            # HeadBucket is authorised by s3:ListBucket (S3 API reference, HeadBucket).
            assert _code(lambda: s3.head_bucket(Bucket="listed")) == "OK"
        assert _code(lambda: s3.create_bucket(Bucket="other")) == "OK", "off after the block"


def test_deleting_a_version_is_authorised_by_both_delete_actions() -> None:
    """DeleteObjects: s3:DeleteObject always, s3:DeleteObjectVersion for a version (S3 API
    reference, DeleteObjects, Permissions); each allowed pair is recorded."""
    with mock_aws():
        s3 = _s3(user_keys(boto3.client("iam", region_name=REGION), "admin", ALLOW_ALL))
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        version = s3.put_object(Bucket="versioned", Key="k", Body=b"v")["VersionId"]
        granted: list[tuple[str, str, str]] = []
        with enforce(granted):
            s3.delete_objects(
                Bucket="versioned",
                Delete={"Objects": [{"Key": "k", "VersionId": version}, {"Key": "plain"}]},
            )
        asked = {(action, resource) for _, action, resource in granted}
        assert asked == {
            ("s3:DeleteObject", "arn:aws:s3:::versioned/k"),
            ("s3:DeleteObjectVersion", "arn:aws:s3:::versioned/k"),
            ("s3:DeleteObject", "arn:aws:s3:::versioned/plain"),
        }
