"""Building AWS clients once, with retries suited to throttling, and reading AWS error codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient

# Standard mode retries throttling, 5xx and connection errors with jittered exponential backoff.
MAX_POOL_CONNECTIONS = 32
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=MAX_POOL_CONNECTIONS,
)

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
PRECONDITION_CODES = frozenset({"412", "PreconditionFailed"})


@dataclass(frozen=True)
class Clients:
    """The clients the core talks through; tests pass their own, handlers build them once."""

    s3: S3Client
    dynamodb: DynamoDBClient
    # The replicator's, to re-send a stopped copy (objbackup.core.continuation).
    sqs: SQSClient | None = None

    @classmethod
    def create(
        cls,
        session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> Clients:
        session = session or boto3.Session()
        kwargs: dict[str, Any] = {"config": RETRY_CONFIG}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        if region:
            kwargs["region_name"] = region
        return cls(
            s3=session.client("s3", **kwargs),
            dynamodb=session.client("dynamodb", **kwargs),
            sqs=session.client("sqs", **kwargs),
        )


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError (HTTP status for bodiless errors such as HEAD 404)."""
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def is_not_found(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND_CODES


def head_or_none(s3: S3Client, bucket: str, key: str) -> Mapping[str, Any] | None:
    """HeadObject's answer for `bucket/key`, or None when S3 says there is no such object.

    A missing key is a 404 only to a caller allowed s3:ListBucket (otherwise a 403, which
    propagates like every other error): "If the object you request doesn't exist, the error that
    Amazon S3 returns depends on whether you also have the s3:ListBucket permission" (HeadObject,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
    """
    try:
        head: Mapping[str, Any] = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return head


def is_precondition_failed(exc: ClientError) -> bool:
    return error_code(exc) in PRECONDITION_CODES
