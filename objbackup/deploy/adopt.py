"""Adopting an existing source bucket: check it, report on it, and switch its EventBridge delivery.

CloudFormation cannot change a bucket it does not own, and a bucket has one notification
configuration that PutBucketNotificationConfiguration replaces whole. So the deployer reads it,
keeps every queue, topic and function configuration exactly as it is, adds (or, at teardown,
removes) `EventBridgeConfiguration`, and writes it back. Planning reads only; applying writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.deploy.errors import SourceBucketProblem

if TYPE_CHECKING:
    from types_boto3_events import EventBridgeClient
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import NotificationConfigurationTypeDef

# The parts of a notification configuration; everything else in a response is metadata.
CONFIGURATION_KINDS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
)
EVENTBRIDGE = "EventBridgeConfiguration"
_NOT_FOUND = ("404", "NoSuchBucket", "NotFound")

EventBridgeAction = Literal["turn on", "none"]


@dataclass(frozen=True)
class SourceReport:
    """An adopted bucket as found: where it is, and what deploy reports but never changes."""

    bucket: str
    region: str
    versioning: str  # Enabled | Suspended | never enabled
    encryption: str  # the default encryption algorithm(s), or "none"


@dataclass(frozen=True)
class EventBridgeStep:
    """What deploy does to an adopted bucket's notification configuration."""

    bucket: str
    action: EventBridgeAction
    # Configurations of other kinds in place, kept as they are: kind -> count.
    kept: Mapping[str, int]

    @property
    def describe(self) -> str:
        others = (
            ", ".join(
                f"{n} {kind.removesuffix('Configurations').lower()}"
                for kind, n in self.kept.items()
                if n
            )
            or "no other notifications"
        )
        if self.action == "none":
            return f"EventBridge delivery of {self.bucket} is on already ({others} left alone)"
        return f"turn on EventBridge delivery of {self.bucket} (keeping {others})"


def inspect_source(s3: S3Client, bucket: str, region: str) -> SourceReport:
    """Refuse a bucket that is missing, unreadable or in another region; else report on it."""
    try:
        response = s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in _NOT_FOUND:
            raise SourceBucketProblem(
                f"source bucket {bucket} does not exist",
                "create it first, or leave out --source-bucket to have one created",
            ) from None
        raise SourceBucketProblem(
            f"cannot use source bucket {bucket}: {code}",
            "check that the bucket is in this account and region and that you may read it",
        ) from None
    found = _bucket_region(s3, bucket, response)
    if found != region:
        raise SourceBucketProblem(
            f"source bucket {bucket} is in region {found}, not {region}",
            f"deploy with --region {found}: S3 sends a bucket's events to EventBridge in the "
            "bucket's own region",
        )
    return SourceReport(bucket, found, _versioning(s3, bucket), _encryption(s3, bucket))


def read_configuration(s3: S3Client, bucket: str) -> dict[str, Any]:
    """The bucket's notification configuration, without response metadata."""
    response = s3.get_bucket_notification_configuration(Bucket=bucket)
    return {k: v for k, v in response.items() if k in (*CONFIGURATION_KINDS, EVENTBRIDGE)}


def eventbridge_on(configuration: Mapping[str, Any]) -> bool:
    return EVENTBRIDGE in configuration


def with_eventbridge(configuration: Mapping[str, Any], on: bool) -> dict[str, Any]:
    """The same configuration with EventBridge delivery on or off, every other part unchanged."""
    merged = {k: v for k, v in configuration.items() if k in CONFIGURATION_KINDS and v}
    if on:
        merged[EVENTBRIDGE] = {}
    return merged


def plan_eventbridge(s3: S3Client, bucket: str) -> EventBridgeStep:
    """Read the configuration and decide whether deploy must turn EventBridge delivery on."""
    configuration = read_configuration(s3, bucket)
    kept = {kind: len(configuration.get(kind) or []) for kind in CONFIGURATION_KINDS}
    action: EventBridgeAction = "none" if eventbridge_on(configuration) else "turn on"
    return EventBridgeStep(bucket, action, kept)


def set_eventbridge(s3: S3Client, bucket: str, on: bool) -> bool:
    """Turn the bucket's EventBridge delivery on or off; False when it already was.

    Read-modify-write: another writer between the read and the write would be overwritten, as
    with any tool that edits this configuration (S3 offers no conditional write for it).
    Destination validation is skipped because no destination is added: the queues, topics and
    functions written back are the ones already there, and validating them would send each an
    `s3:TestEvent` and fail the deploy over someone else's destination policy.
    """
    configuration = read_configuration(s3, bucket)
    if eventbridge_on(configuration) == on:
        return False
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        # The parts S3 answered, written back as read (EventBridge turned on or off).
        NotificationConfiguration=cast(
            "NotificationConfigurationTypeDef", with_eventbridge(configuration, on)
        ),
        SkipDestinationValidation=True,
    )
    return True


def rules_using(
    events: EventBridgeClient, bucket: str, ignore: frozenset[str] = frozenset()
) -> list[str]:
    """Rules on the default event bus, other than `ignore`, that may select `bucket`'s S3 events.

    A rule counts when its pattern selects source aws.s3 (or any source) and names this bucket
    or no bucket at all: turning delivery off would starve it.
    """
    found: list[str] = []
    for page in events.get_paginator("list_rules").paginate(EventBusName="default"):
        for rule in page.get("Rules", []):
            name = str(rule.get("Name", ""))
            raw = rule.get("EventPattern")
            if name in ignore or not raw:
                continue
            try:
                pattern = json.loads(raw)
            except ValueError:
                found.append(name)  # unreadable: assume it needs the events
                continue
            if _may_select(pattern, bucket):
                found.append(name)
    return found


def _may_select(pattern: Any, bucket: str) -> bool:
    if not isinstance(pattern, Mapping):
        return True
    sources = pattern.get("source")
    literal = isinstance(sources, list) and all(isinstance(s, str) for s in sources)
    if literal and sources and "aws.s3" not in sources:
        return False
    detail = pattern.get("detail")
    names = detail.get("bucket", {}).get("name") if isinstance(detail, Mapping) else None
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return bucket in names
    return True


def _bucket_region(s3: S3Client, bucket: str, head: Mapping[str, Any]) -> str:
    region = head.get("BucketRegion") or (
        head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    )
    if region:
        return str(region)
    constraint = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return str(constraint or "us-east-1")


def _versioning(s3: S3Client, bucket: str) -> str:
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as exc:
        return f"unknown ({error_code(exc)})"
    return str(status) if status else "never enabled"


def _encryption(s3: S3Client, bucket: str) -> str:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
    except ClientError as exc:
        if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return "none"
        return f"unknown ({error_code(exc)})"
    algorithms = {
        str(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "?")) for r in rules
    }
    return ", ".join(sorted(algorithms)) or "none"
