"""Each moto gap the sandbox closes, checked over HTTP; every test fails if its gap reopens."""

from __future__ import annotations

import itertools
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import pytest

from objbackup.sandbox.server import Sandbox
from tests.polling import wait_for
from tests.sandbox.conftest import SandboxClients as Client
from tests.sandbox.conftest import (
    create_function,
    function_role,
    queue_arn,
    queue_with_dlq,
)

if TYPE_CHECKING:
    from types_boto3_cloudformation.literals import ChangeSetTypeType

RECORDER = """
import json, os, boto3

def handler(event, context):
    records = event.get("Records", [event])
    s3 = boto3.client("s3")
    failures = []
    for n, record in enumerate(records):
        body = record.get("body", json.dumps(record))
        key = record.get("messageId", record.get("id", "direct")) + f"-{n}"
        s3.put_object(Bucket=os.environ["OUT_BUCKET"], Key=key, Body=body.encode())
        if "fail" in body:
            failures.append({"itemIdentifier": record["messageId"]})
    if event.get("explode"):
        raise RuntimeError("boom")
    return {"batchItemFailures": failures, "seen": len(records)}
"""


def _events_bucket(client: Client, name: str, versioned: bool = False) -> str:
    """A bucket with EventBridge delivery, and a rule sending its events to a queue."""
    s3, events, sqs = client("s3"), client("events"), client("sqs")
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    url = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    arn = queue_arn(sqs, url)
    events.put_rule(
        Name=f"{name}-rule",
        EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [name]}}}),
    )
    events.put_targets(Rule=f"{name}-rule", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _drain(client: Client, url: str, count: int) -> list[dict[str, Any]]:
    sqs = client("sqs")
    bodies: list[dict[str, Any]] = []

    def more() -> bool:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(bodies) >= count

    wait_for(more, what=f"{count} events")
    return bodies


def test_s3_events_have_aws_shape_unique_ids_and_increasing_sequencers(client: Client) -> None:
    url = _events_bucket(client, "shape")
    s3 = client("s3")
    key = "dir/a b+c%d/é.txt"
    s3.put_object(Bucket="shape", Key=key, Body=b"1")
    s3.put_object(Bucket="shape", Key=key, Body=b"22")
    s3.copy_object(Bucket="shape", Key="copy", CopySource={"Bucket": "shape", "Key": key})
    s3.delete_object(Bucket="shape", Key=key)
    events = _drain(client, url, 4)
    assert [e["detail"]["reason"] for e in events] == [
        "PutObject",
        "PutObject",
        "CopyObject",
        "DeleteObject",
    ]
    assert [e["detail-type"] for e in events] == ["Object Created"] * 3 + ["Object Deleted"]
    assert len({e["id"] for e in events}) == 4
    first, second, _, deleted = events
    assert first["detail"]["object"]["key"] != key, "keys are URL-encoded, as AWS sends them"
    assert unquote_plus(first["detail"]["object"]["key"]) == key
    assert first["detail"]["object"]["size"] == 1 and len(first["detail"]["object"]["etag"]) == 32
    sequencers = [e["detail"]["object"]["sequencer"] for e in (first, second, deleted)]
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == 3
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"
    assert first["time"].endswith("Z") and "T" in first["time"]


def test_versioned_bucket_delete_marker_and_version_deletions_send_events(client: Client) -> None:
    url = _events_bucket(client, "versioned", versioned=True)
    s3 = client("s3")
    one = s3.put_object(Bucket="versioned", Key="k", Body=b"1")["VersionId"]
    s3.put_object(Bucket="versioned", Key="k", Body=b"2")
    s3.delete_object(Bucket="versioned", Key="k")
    s3.delete_object(Bucket="versioned", Key="k", VersionId=one)
    events = _drain(client, url, 4)
    marker, old = events[2], events[3]
    assert marker["detail"]["deletion-type"] == "Delete Marker Created"
    assert old["detail"]["deletion-type"] == "Permanently Deleted"
    assert old["detail"]["object"]["version-id"] == one


def test_multipart_upload_sends_complete_multipart_upload(client: Client) -> None:
    url = _events_bucket(client, "multi")
    s3 = client("s3")
    upload = s3.create_multipart_upload(Bucket="multi", Key="big")["UploadId"]
    part = s3.upload_part(Bucket="multi", Key="big", UploadId=upload, PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket="multi",
        Key="big",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    events = _drain(client, url, 1)
    [event] = events
    assert event["detail"]["reason"] == "CompleteMultipartUpload"


def test_cloudformation_applies_bucket_notification_versioning_and_public_access_block(
    client: Client,
) -> None:
    template = {
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "NotificationConfiguration": {
                        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                },
            }
        },
        "Outputs": {"Name": {"Value": {"Ref": "Bucket"}}},
    }
    cfn, s3 = client("cloudformation"), client("s3")
    cfn.create_stack(StackName="gap-bucket", TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName="gap-bucket", WaiterConfig={"Delay": 1})
    name = cfn.describe_stacks(StackName="gap-bucket")["Stacks"][0]["Outputs"][0]["OutputValue"]
    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=name)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def _function(client: Client, name: str, out_bucket: str, timeout: int = 10) -> str:
    client("s3").create_bucket(Bucket=out_bucket)
    return create_function(
        client,
        name,
        RECORDER,
        function_role(client),
        timeout,
        Environment={"Variables": {"OUT_BUCKET": out_bucket}},
    )


def _keys(client: Client, bucket: str) -> list[str]:
    return [o["Key"] for o in client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_direct_invoke_runs_the_uploaded_code_with_its_environment(client: Client) -> None:
    _function(client, "direct", "direct-out")
    answer = client("lambda").invoke(FunctionName="direct", Payload=json.dumps({"id": "hello"}))
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read())["seen"] == 1
    assert _keys(client, "direct-out") == ["hello-0"]
    failed = client("lambda").invoke(FunctionName="direct", Payload=json.dumps({"explode": 1}))
    assert failed.get("FunctionError")
    assert json.loads(failed["Payload"].read())["errorType"] == "RuntimeError"


def test_event_source_mapping_batches_reports_item_failures_and_dead_letters(
    client: Client,
) -> None:
    sqs = client("sqs")
    # The visibility timeout is long enough that a cold worker on a busy 2-core machine finishes
    # inside it, so a good message is never redelivered for slowness (the test counts runs).
    queue, arn, dlq = queue_with_dlq(sqs, "esm", 2, {"VisibilityTimeout": "8"})
    for n in range(5):
        sqs.send_message(QueueUrl=queue, MessageBody="fail" if n == 2 else f"ok {n}")
    _function(client, "consumer", "consumer-out")
    client("lambda").create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="consumer",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )

    def dead() -> list[dict[str, Any]]:
        answer = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)
        return [dict(m) for m in answer.get("Messages", [])]

    [dead_letter] = wait_for(dead, timeout=90, what="the failing message in the DLQ")
    assert dead_letter["Body"] == "fail"
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    # the four good messages ran once each: never re-run because a neighbour failed
    bodies = [
        client("s3").get_object(Bucket="consumer-out", Key=k)["Body"].read()
        for k in _keys(client, "consumer-out")
    ]
    assert sorted(b for b in bodies if b != b"fail") == [b"ok 0", b"ok 1", b"ok 3", b"ok 4"]
    assert bodies.count(b"fail") == 2, "the failing message is retried until maxReceiveCount"


def test_schedule_rule_invokes_its_lambda_target_once_per_period(
    client: Client, sandbox: Sandbox
) -> None:
    arn = _function(client, "scheduled", "scheduled-out")
    events = client("events")
    events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="every-minute", Targets=[{"Id": "fn", "Arn": arn}])
    start = time.monotonic() + 3600  # far from the real ticks of the running scheduler
    assert sandbox.scheduler.fire_due(start) == 0, "a rate rule fires a period after it is seen"
    assert sandbox.scheduler.fire_due(start + 30) == 0
    assert sandbox.scheduler.fire_due(start + 61) == 1
    assert sandbox.scheduler.fire_due(start + 62) == 0
    [key] = wait_for(lambda: _keys(client, "scheduled-out"), what="the scheduled invocation")
    body = json.loads(client("s3").get_object(Bucket="scheduled-out", Key=key)["Body"].read())
    assert body["detail-type"] == "Scheduled Event"
    assert body["resources"] == [events.describe_rule(Name="every-minute")["Arn"]]


@pytest.mark.parametrize("etag_matches", [True, False])
def test_copy_source_if_match_is_enforced(client: Client, etag_matches: bool) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=f"cond-{etag_matches}")
    etag = s3.put_object(Bucket=f"cond-{etag_matches}", Key="k", Body=b"v")["ETag"]
    wanted = etag if etag_matches else '"0123456789abcdef0123456789abcdef"'

    def call() -> object:
        return s3.copy_object(
            Bucket=f"cond-{etag_matches}",
            Key="copy",
            CopySource={"Bucket": f"cond-{etag_matches}", "Key": "k"},
            CopySourceIfMatch=wanted,
        )

    if etag_matches:
        call()
    else:
        with pytest.raises(s3.exceptions.ClientError, match=r"PreconditionFailed|412"):
            call()


def test_archived_and_sse_c_sources_are_refused_as_s3_refuses_them(client: Client) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="cold")
    s3.put_object(Bucket="cold", Key="g", Body=b"v", StorageClass="DEEP_ARCHIVE")
    key: dict[str, Any] = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}
    s3.put_object(Bucket="cold", Key="c", Body=b"v", **key)
    with pytest.raises(s3.exceptions.ClientError, match="InvalidObjectState"):
        s3.copy_object(Bucket="cold", Key="copy", CopySource={"Bucket": "cold", "Key": "g"})
    with pytest.raises(s3.exceptions.ClientError, match="InvalidRequest"):
        s3.copy_object(Bucket="cold", Key="copy", CopySource={"Bucket": "cold", "Key": "c"})
    with pytest.raises(s3.exceptions.ClientError, match=r"\(400\)"):
        s3.head_object(Bucket="cold", Key="c")
    assert s3.head_object(Bucket="cold", Key="c", **key)["SSECustomerAlgorithm"] == "AES256"


def test_executed_change_sets_leave_outputs_and_parameters(client: Client) -> None:
    template = {
        "Description": "change set gap",
        "Parameters": {"Timeout": {"Type": "String"}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}}
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "Timeout": {"Value": {"Ref": "Timeout"}},
        },
    }
    cfn = client("cloudformation")
    kinds: tuple[tuple[ChangeSetTypeType, str], ...] = (("CREATE", "10"), ("UPDATE", "20"))
    for kind, value in kinds:
        change = cfn.create_change_set(
            StackName="gap-change-set",
            ChangeSetName=f"c-{kind.lower()}",
            ChangeSetType=kind,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "Timeout", "ParameterValue": value}],
        )
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=change["Id"], WaiterConfig={"Delay": 1}
        )
        cfn.execute_change_set(ChangeSetName=change["Id"])
        stack = cfn.describe_stacks(StackName="gap-change-set")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        assert outputs["Timeout"] == value
        assert outputs["QueueUrl"].endswith("Queue") or "gap-change-set" in outputs["QueueUrl"]
        assert stack["Parameters"] == [{"ParameterKey": "Timeout", "ParameterValue": value}]
        assert stack["Description"] == "change set gap"


SLOW = """
import os, time, boto3

def handler(event, context):
    started = time.time()
    time.sleep(0.5)  # a slow batch, so that several are in flight at once
    ended = time.time()
    body = f"{started} {ended}".encode()
    boto3.client("s3").put_object(Bucket=os.environ["OUT_BUCKET"], Key=str(started), Body=body)
    return {"batchItemFailures": []}
"""


def test_several_batches_run_at_once(client: Client) -> None:
    sqs = client("sqs")
    queue = sqs.create_queue(QueueName="parallel")["QueueUrl"]
    arn = queue_arn(sqs, queue)
    for n in range(8):
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{n}")
    client("s3").create_bucket(Bucket="parallel-out")
    create_function(
        client,
        "parallel",
        SLOW,
        function_role(client),
        Environment={"Variables": {"OUT_BUCKET": "parallel-out"}},
    )
    client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName="parallel", BatchSize=1
    )

    def eight() -> list[str] | None:
        k = _keys(client, "parallel-out")
        return k if len(k) >= 8 else None

    keys = wait_for(eight, what="eight batches")
    spans = sorted(
        tuple(
            map(float, client("s3").get_object(Bucket="parallel-out", Key=k)["Body"].read().split())
        )
        for k in keys
    )
    overlapping = any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))
    assert overlapping, "no two batches were ever in flight at the same time"


CLOCKED = """
import time

def handler(event, context):
    time.sleep(event.get("work", 0))  # stands for the handler's work
    return {"remaining": context.get_remaining_time_in_millis(), "name": context.function_name}
"""


def test_handlers_get_a_context_counting_down_to_the_enforced_timeout(client: Client) -> None:
    """moto runs no function; the sandbox does, and like Lambda it passes a context that counts
    down to the function's Timeout, and kills the instance that overruns it."""
    create_function(client, "clocked", CLOCKED, function_role(client), timeout=2)

    def invoke(work: float) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        answer = client("lambda").invoke(FunctionName="clocked", Payload=json.dumps({"work": work}))
        payload = json.loads(answer["Payload"].read())
        return payload | {"failed": bool(answer.get("FunctionError"))}, time.monotonic() - started

    fresh, _ = invoke(0)
    assert fresh["name"] == "clocked" and 0 < fresh["remaining"] <= 2000
    later, _ = invoke(0.5)
    assert 0 < later["remaining"] <= 1500
    killed, took = invoke(10)
    assert killed["failed"] and killed["errorType"] == "Sandbox.Timedout"
    assert killed["errorMessage"].endswith("Task timed out after 2.00 seconds")
    assert took < 8, "the instance ran past its timeout"


HUNGRY = """
def handler(event, context):
    records = event.get("Records", [event])
    if any("big" in record.get("body", "big") for record in records):
        return len([b"x" * (10 << 20) for _ in range(30)])  # 300 MB, in touched pages
    return "small"
"""


def test_a_function_over_its_memory_size_fails_its_whole_batch(client: Client) -> None:
    """moto enforces no MemorySize; the sandbox kills the instance as Lambda does, the
    invocation fails with Lambda's answer, and a batch from SQS fails whole (no message of it
    is deleted, so each comes back after the visibility timeout, here into the DLQ)."""
    sqs = client("sqs")
    queue, arn, dlq = queue_with_dlq(sqs, "hungry", 1, {"VisibilityTimeout": "1"})
    create_function(client, "hungry", HUNGRY, function_role(client), 30, MemorySize=128)
    answer = client("lambda").invoke(FunctionName="hungry", Payload=json.dumps({"body": "big"}))
    error = json.loads(answer["Payload"].read())
    assert answer.get("FunctionError")
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert error["errorMessage"].endswith("Runtime exited with error: signal: killed")
    sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": "1", "MessageBody": "small"}, {"Id": "2", "MessageBody": "big"}],
    )
    client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName="hungry", BatchSize=10, MaximumBatchingWindowInSeconds=1
    )

    def dead() -> set[str]:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        seen.update(m["Body"] for m in got)
        return seen if len(seen) == 2 else set()

    seen: set[str] = set()
    assert wait_for(dead, timeout=60, what="both messages in the DLQ") == {"small", "big"}
