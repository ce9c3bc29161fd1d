"""Adopting a bucket, against moto in process: its EventBridge delivery is merged into the
notifications already there (a real queue, topic and function), and released only as planned."""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from objbackup.deploy.adopt import (
    inspect_source,
    plan_eventbridge,
    read_configuration,
    rules_using,
    set_eventbridge,
    with_eventbridge,
)
from objbackup.deploy.errors import SourceBucketProblem
from tests.harness import REGION
from tests.iam_access import LAMBDA_TRUST

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import NotificationConfigurationTypeDef

BUCKET = "their-bucket"


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def s3(moto_aws: None) -> S3Client:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def existing(s3: S3Client) -> dict[str, Any]:
    """A bucket whose owner already sends its events to a queue, a topic and a function."""
    sqs = boto3.client("sqs", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    lam = boto3.client("lambda", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    queue = sqs.create_queue(QueueName="their-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic_arn = sns.create_topic(Name="their-topic")["TopicArn"]
    role = iam.create_role(
        RoleName="their-role",
        AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
    )["Role"]["Arn"]
    function_arn = lam.create_function(
        FunctionName="their-function",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _function_zip()},
    )["FunctionArn"]
    configuration: NotificationConfigurationTypeDef = {
        "QueueConfigurations": [
            {
                "Id": "to-queue",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
            }
        ],
        "TopicConfigurations": [
            {"Id": "to-topic", "TopicArn": topic_arn, "Events": ["s3:ObjectRemoved:*"]}
        ],
        "LambdaFunctionConfigurations": [
            {
                "Id": "to-function",
                "LambdaFunctionArn": function_arn,
                "Events": ["s3:ObjectCreated:Put"],
            }
        ],
    }
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=configuration)
    return dict(configuration)


def _normal(configuration: dict[str, Any]) -> dict[str, Any]:
    """Comparable: each kind's configurations sorted by id, filter rule names lower-cased."""
    found = {}
    for kind, items in configuration.items():
        if isinstance(items, list):
            found[kind] = sorted(json.dumps(item, sort_keys=True).lower() for item in items)
        else:
            found[kind] = items
    return found


def test_turning_eventbridge_on_keeps_every_other_notification(
    s3: S3Client, existing: dict[str, Any]
) -> None:
    sent: list[dict[str, Any]] = []
    s3.meta.events.register(
        "before-call.s3.PutBucketNotificationConfiguration",
        lambda params, **_: sent.append(params),
    )
    step = plan_eventbridge(s3, BUCKET)
    assert step.action == "turn on"
    assert dict(step.kept) == {
        "TopicConfigurations": 1,
        "QueueConfigurations": 1,
        "LambdaFunctionConfigurations": 1,
    }
    assert "keeping 1 topic, 1 queue, 1 lambdafunction" in step.describe
    assert set_eventbridge(s3, BUCKET, True) is True
    after = read_configuration(s3, BUCKET)
    assert after["EventBridgeConfiguration"] == {}
    assert _normal({k: v for k, v in after.items() if k != "EventBridgeConfiguration"}) == (
        _normal(existing)
    )
    # Nothing new is added, so S3 is told not to send test events to the owner's destinations.
    assert len(sent) == 1
    assert sent[0]["headers"].get("x-amz-skip-destination-validation") == "true"


def test_turning_it_on_twice_changes_nothing(s3: S3Client, existing: dict[str, Any]) -> None:
    assert set_eventbridge(s3, BUCKET, True) is True
    before = read_configuration(s3, BUCKET)
    sent: list[Any] = []
    s3.meta.events.register(
        "before-call.s3.PutBucketNotificationConfiguration", lambda **kw: sent.append(kw)
    )
    assert set_eventbridge(s3, BUCKET, True) is False
    assert plan_eventbridge(s3, BUCKET).action == "none"
    assert sent == [] and read_configuration(s3, BUCKET) == before


def test_turning_it_off_keeps_every_other_notification(
    s3: S3Client, existing: dict[str, Any]
) -> None:
    set_eventbridge(s3, BUCKET, True)
    assert set_eventbridge(s3, BUCKET, False) is True
    after = read_configuration(s3, BUCKET)
    assert "EventBridgeConfiguration" not in after
    assert _normal(after) == _normal(existing)
    assert set_eventbridge(s3, BUCKET, False) is False


def test_a_bucket_with_no_notifications(s3: S3Client) -> None:
    s3.create_bucket(Bucket=BUCKET)
    assert set_eventbridge(s3, BUCKET, True) is True
    assert read_configuration(s3, BUCKET) == {"EventBridgeConfiguration": {}}
    assert set_eventbridge(s3, BUCKET, False) is True
    assert "EventBridgeConfiguration" not in read_configuration(s3, BUCKET)


def test_with_eventbridge_is_pure() -> None:
    configuration = {"QueueConfigurations": [{"Id": "q"}], "TopicConfigurations": []}
    assert with_eventbridge(configuration, True) == {
        "QueueConfigurations": [{"Id": "q"}],
        "EventBridgeConfiguration": {},
    }
    assert with_eventbridge({**configuration, "EventBridgeConfiguration": {}}, False) == {
        "QueueConfigurations": [{"Id": "q"}]
    }
    assert configuration == {"QueueConfigurations": [{"Id": "q"}], "TopicConfigurations": []}


def test_inspect_reports_and_refuses(s3: S3Client) -> None:
    with pytest.raises(SourceBucketProblem, match="source bucket nowhere does not exist"):
        inspect_source(s3, "nowhere", REGION)
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    with pytest.raises(SourceBucketProblem, match="is in region eu-west-1, not us-east-1") as err:
        inspect_source(s3, "far-away", REGION)
    assert "--region eu-west-1" in str(err.value.hint)
    s3.create_bucket(Bucket=BUCKET)
    plain = inspect_source(s3, BUCKET, REGION)
    assert (plain.versioning, plain.encryption) == ("never enabled", "none")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    found = inspect_source(s3, BUCKET, REGION)
    assert (found.region, found.versioning, found.encryption) == (REGION, "Enabled", "aws:kms")


def test_rules_using_the_bucket(moto_aws: None) -> None:
    events = boto3.client("events", region_name=REGION)

    def rule(name: str, pattern: dict[str, Any]) -> None:
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))

    rule("ours", {"source": ["aws.s3"], "detail": {"bucket": {"name": [BUCKET]}}})
    rule("another-bucket", {"source": ["aws.s3"], "detail": {"bucket": {"name": ["other"]}}})
    rule("ec2", {"source": ["aws.ec2"]})
    assert rules_using(events, BUCKET, frozenset({"ours"})) == []
    rule("audit", {"source": ["aws.s3"], "detail-type": ["Object Created"]})
    rule("named", {"source": ["aws.s3"], "detail": {"bucket": {"name": [BUCKET, "x"]}}})
    assert sorted(rules_using(events, BUCKET, frozenset({"ours"}))) == ["audit", "named"]
