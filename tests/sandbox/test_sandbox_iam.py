"""The sandbox enforces IAM (objbackup/sandbox/access.py): functions run under their execution
role, keys of IAM users and assumed roles created there are held to their policies, and any other
credentials are the operator's, the account's administrator."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from objbackup.sandbox.server import Sandbox
from tests.iam_access import error_code as _code
from tests.sandbox.conftest import SandboxClients as Client
from tests.sandbox.conftest import create_function, lambda_role, policy

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, WriteRequestTypeDef
    from types_boto3_s3.type_defs import CopySourceTypeDef, ServerSideEncryptionByDefaultTypeDef

ACCOUNT = "123456789012"


def _allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def _as_role(client: Client, sandbox: Sandbox, role_arn: str) -> boto3.Session:
    keys = client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test")["Credentials"]
    return boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=sandbox.region,
    )


@pytest.fixture
def buckets(client: Client) -> Iterator[Callable[..., None]]:
    def make(*names: str) -> None:
        for name in names:
            client("s3").create_bucket(Bucket=name)

    yield make


COPIER = """
import os, boto3
from botocore.exceptions import ClientError

def handler(event, context):
    s3 = boto3.client("s3")
    outcome = {"caller": boto3.client("sts").get_caller_identity()["Arn"]}
    for bucket in ("iam-allowed", "iam-forbidden"):
        try:
            s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": "iam-src", "Key": "k"})
            outcome[bucket] = "OK"
        except ClientError as error:
            outcome[bucket] = error.response["Error"]["Code"]
    return outcome
"""


def _operator(sandbox: Sandbox, key: str) -> Client:
    session = boto3.Session(
        aws_access_key_id=key, aws_secret_access_key="whatever", region_name=sandbox.region
    )
    return Client(session, sandbox.endpoint_url)


def test_a_function_runs_under_its_role_and_is_refused_what_it_does_not_allow(
    sandbox: Sandbox,
) -> None:
    """Set up by an operator with made-up keys (of both shapes: any key is the administrator),
    the function's copy into a bucket its role may not write is refused."""
    client = _operator(sandbox, "anything-at-all")
    for name in ("iam-src", "iam-allowed", "iam-forbidden"):
        client("s3").create_bucket(Bucket=name)
    client("s3").put_object(Bucket="iam-src", Key="k", Body=b"v")
    role = lambda_role(
        _operator(sandbox, "AKIAIOSFODNN7EXAMPLE"),
        "copier",
        _allow("s3:GetObject", "arn:aws:s3:::iam-src/*"),
        _allow("s3:PutObject", "arn:aws:s3:::iam-allowed/*"),
    )
    create_function(client, "copier", COPIER, role, timeout=30)
    answer = client("lambda").invoke(FunctionName="copier", Payload=b"{}")
    outcome = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, outcome
    assert outcome == {
        "caller": f"arn:aws:sts::{ACCOUNT}:assumed-role/copier/copier",
        "iam-allowed": "OK",
        "iam-forbidden": "AccessDenied",
    }
    assert client("s3").list_objects_v2(Bucket="iam-forbidden")["KeyCount"] == 0
    assert "iam-forbidden" in [b["Name"] for b in client("s3").list_buckets()["Buckets"]]


def test_an_iam_users_keys_are_held_to_its_policies_explicit_denies_included(
    client: Client, sandbox: Sandbox, buckets: Callable[..., None]
) -> None:
    buckets("user-mine", "user-theirs")
    iam = client("iam")
    iam.create_user(UserName="alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="policy",
        PolicyDocument=policy(
            _allow("s3:PutObject", "arn:aws:s3:::user-mine/*"),
            {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::user-mine/secret*"},
        ),
    )
    keys = iam.create_access_key(UserName="alice")["AccessKey"]
    s3 = boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        region_name=sandbox.region,
    ).client("s3", endpoint_url=sandbox.endpoint_url)
    assert _code(lambda: s3.put_object(Bucket="user-mine", Key="k", Body=b"v")) == "OK"
    assert _code(lambda: s3.put_object(Bucket="user-theirs", Key="k", Body=b"v")) == "AccessDenied"
    assert _code(lambda: s3.put_object(Bucket="user-mine", Key="secret", Body=b"v")) == (
        "AccessDenied"
    )
    assert _code(lambda: s3.get_object(Bucket="user-mine", Key="k")) == "AccessDenied"
    assert _code(s3.list_buckets) == "AccessDenied"


def _table(client: Client, name: str) -> str:
    client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "k", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byg",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    return f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}"


def test_dynamodb_requests_are_authorised_on_their_table_index_and_items(
    client: Client, sandbox: Sandbox
) -> None:
    mine, theirs = _table(client, "iam-mine"), _table(client, "iam-theirs")
    role = lambda_role(
        client,
        "table-user",
        _allow(["dynamodb:UpdateItem", "dynamodb:BatchWriteItem"], mine),
        _allow("dynamodb:Query", f"{mine}/index/byg"),
    )
    dynamodb = _as_role(client, sandbox, role).client("dynamodb", endpoint_url=sandbox.endpoint_url)

    def update(table: str) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": table,
                "Key": {"k": {"S": "1"}},
                "UpdateExpression": "SET g = :g",
                "ExpressionAttributeValues": {":g": {"S": "x"}},
            }
        }

    def put(table: str) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": table, "Item": {"k": {"S": "2"}, "g": {"S": "x"}}}}

    def query(**index: Any) -> Callable[[], Any]:
        return lambda: dynamodb.query(
            TableName="iam-mine",
            KeyConditionExpression="g = :g" if index else "k = :k",
            ExpressionAttributeValues={":g": {"S": "x"}} if index else {":k": {"S": "1"}},
            **index,
        )

    denied = "AccessDeniedException"
    # TransactWriteItems is authorised item by item: an Update by UpdateItem, a Put by PutItem.
    assert _code(lambda: dynamodb.transact_write_items(TransactItems=[update("iam-mine")])) == "OK"
    assert _code(lambda: dynamodb.transact_write_items(TransactItems=[put("iam-mine")])) == denied
    assert (
        _code(lambda: dynamodb.transact_write_items(TransactItems=[update("iam-theirs")])) == denied
    )
    assert _code(query(IndexName="byg")) == "OK"
    assert _code(query()) == denied, "the table's ARN is not its index's"

    def batch(table: str) -> Callable[[], Any]:
        item: WriteRequestTypeDef = {"PutRequest": {"Item": {"k": {"S": "3"}, "g": {"S": "y"}}}}
        return lambda: dynamodb.batch_write_item(RequestItems={table: [item]})

    assert _code(batch("iam-mine")) == "OK"
    assert _code(batch("iam-theirs")) == denied
    assert theirs.endswith("iam-theirs")


def test_delete_objects_is_authorised_on_each_key(
    client: Client, sandbox: Sandbox, buckets: Callable[..., None]
) -> None:
    """S3 answers a refused key of DeleteObjects in the response's Errors (moto: every key of a
    request with one refused key, a divergence DESIGN.md lists)."""
    buckets("iam-deletes")
    for key in ("tmp/a", "keep/b"):
        client("s3").put_object(Bucket="iam-deletes", Key=key, Body=b"v")
    role = lambda_role(
        client, "deleter", _allow("s3:DeleteObject", "arn:aws:s3:::iam-deletes/tmp/*")
    )
    s3 = _as_role(client, sandbox, role).client("s3", endpoint_url=sandbox.endpoint_url)

    def delete(key: str) -> dict[str, Any]:
        answer = s3.delete_objects(Bucket="iam-deletes", Delete={"Objects": [{"Key": key}]})
        return {e["Key"]: e["Code"] for e in answer.get("Errors", [])}

    assert delete("keep/b") == {"keep/b": "AccessDenied"}
    assert delete("tmp/a") == {}
    left = client("s3").list_objects_v2(Bucket="iam-deletes")["Contents"]
    assert [o["Key"] for o in left] == ["keep/b"]


def test_expired_role_credentials_are_refused(client: Client, sandbox: Sandbox) -> None:
    from moto.sts.models import sts_backends

    role = lambda_role(client, "short-lived", _allow("s3:ListAllMyBuckets", "*"))
    session = _as_role(client, sandbox, role)
    s3 = session.client("s3", endpoint_url=sandbox.endpoint_url)
    assert _code(s3.list_buckets) == "OK"
    credentials = session.get_credentials()
    assert credentials is not None
    key = credentials.access_key
    assumed = sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(key)
    assert assumed is not None
    assumed.expiration = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    assert _code(s3.list_buckets) == "ExpiredToken"


WHO = """
import os

def handler(event, context):
    return os.environ["AWS_ACCESS_KEY_ID"]
"""


def test_a_warm_worker_is_replaced_before_its_credentials_expire(
    client: Client, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_function(client, "who", WHO, lambda_role(client, "who"))

    def key() -> str:
        return str(json.loads(client("lambda").invoke(FunctionName="who")["Payload"].read()))

    first = key()
    assert first.startswith("ASIA") and key() == first, "a warm worker keeps its session"
    # Credentials that would expire within an invocation: the worker is replaced, not reused.
    monkeypatch.setattr(sandbox.executor, "renew_before", 10**6)
    renewed = key()
    assert renewed.startswith("ASIA") and renewed != first


def test_copying_an_sse_kms_object_needs_decrypt_and_a_kms_copy_generate_data_key(
    client: Client, sandbox: Sandbox, buckets: Callable[..., None]
) -> None:
    """moto checks no KMS permission for S3; the sandbox checks what S3 asks of the caller:
    kms:Decrypt on an SSE-KMS source's key, kms:GenerateDataKey on the key of an SSE-KMS copy."""
    buckets("kms-src", "kms-dst")
    kms = client("kms")
    source_key = kms.create_key(Description="source")["KeyMetadata"]["Arn"]
    copy_key = kms.create_key(Description="copies")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/copies", TargetKeyId=copy_key)
    client("s3").put_object(
        Bucket="kms-src", Key="k", Body=b"v", ServerSideEncryption="aws:kms", SSEKMSKeyId=source_key
    )
    reads_and_writes = [
        _allow("s3:GetObject", "arn:aws:s3:::kms-src/*"),
        _allow("s3:PutObject", "arn:aws:s3:::kms-dst/*"),
    ]
    role = lambda_role(client, "kms-copier", *reads_and_writes)
    s3 = _as_role(client, sandbox, role).client("s3", endpoint_url=sandbox.endpoint_url)
    source: CopySourceTypeDef = {"Bucket": "kms-src", "Key": "k"}

    def grant(*statements: dict[str, Any]) -> None:
        client("iam").put_role_policy(
            RoleName="kms-copier",
            PolicyName="policy",
            PolicyDocument=policy(*reads_and_writes, *statements),
        )

    def copy(**encryption: Any) -> str:
        return _code(
            lambda: s3.copy_object(Bucket="kms-dst", Key="c", CopySource=source, **encryption)
        )

    assert copy() == "AccessDenied", "kms:Decrypt on the source's key is missing"
    grant(_allow("kms:Decrypt", copy_key))
    assert copy() == "AccessDenied", "kms:Decrypt on another key does not do"
    grant(_allow("kms:Decrypt", source_key))
    assert copy() == "OK"

    # The copy encrypted with a key named by its alias: IAM names the key by its ARN.
    encrypted = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/copies"}
    assert copy(**encrypted) == "AccessDenied", "kms:GenerateDataKey on the copy's key is missing"
    grant(_allow("kms:Decrypt", source_key), _allow("kms:GenerateDataKey", copy_key))
    assert copy(**encrypted) == "OK"

    # The destination bucket's default encryption counts as the copy's own headers do.
    rule: ServerSideEncryptionByDefaultTypeDef = {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": copy_key,
    }
    client("s3").put_bucket_encryption(
        Bucket="kms-dst",
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]},
    )
    grant(_allow("kms:Decrypt", source_key))
    assert copy() == "AccessDenied"
    assert _code(lambda: s3.put_object(Bucket="kms-dst", Key="p", Body=b"v")) == "AccessDenied"


def test_reading_an_sse_kms_object_needs_decrypt_and_a_kms_multipart_upload_both(
    client: Client, sandbox: Sandbox, buckets: Callable[..., None]
) -> None:
    buckets("kms-read")
    key = client("kms").create_key(Description="read")["KeyMetadata"]["Arn"]
    encrypted: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key}
    client("s3").put_object(Bucket="kms-read", Key="k", Body=b"v", **encrypted)
    objects = _allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::kms-read/*")
    role = lambda_role(client, "kms-reader", objects)
    s3 = _as_role(client, sandbox, role).client("s3", endpoint_url=sandbox.endpoint_url)

    def grant(*actions: str) -> None:
        statements = [objects, _allow(list(actions), key)] if actions else [objects]
        client("iam").put_role_policy(
            RoleName="kms-reader", PolicyName="policy", PolicyDocument=policy(*statements)
        )

    def upload() -> str:
        return _code(lambda: s3.create_multipart_upload(Bucket="kms-read", Key="m", **encrypted))

    assert _code(lambda: s3.head_object(Bucket="kms-read", Key="k")) == "OK"
    assert _code(lambda: s3.get_object(Bucket="kms-read", Key="k")) == "AccessDenied"
    grant("kms:GenerateDataKey")
    assert upload() == "AccessDenied", "a KMS multipart upload needs kms:Decrypt as well"
    grant("kms:GenerateDataKey", "kms:Decrypt")
    assert upload() == "OK"
    assert s3.get_object(Bucket="kms-read", Key="k")["Body"].read() == b"v"


def test_keys_of_a_deleted_role_are_refused(client: Client, sandbox: Sandbox) -> None:
    role = lambda_role(client, "doomed", _allow("s3:ListAllMyBuckets", "*"))
    s3 = _as_role(client, sandbox, role).client("s3", endpoint_url=sandbox.endpoint_url)
    assert _code(s3.list_buckets) == "OK"
    client("iam").delete_role_policy(RoleName="doomed", PolicyName="policy")
    client("iam").delete_role(RoleName="doomed")
    assert _code(s3.list_buckets) == "AccessDenied"


def test_a_role_may_send_to_its_own_queue_only(client: Client, sandbox: Sandbox) -> None:
    """As the replicator's continuations: SQS (JSON, query-compatible) refuses with the query
    code botocore reports, AccessDenied."""
    sqs = client("sqs")
    own, other = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("own-q", "other-q"))
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:own-q"
    role = lambda_role(client, "sender", _allow("sqs:SendMessage", arn))
    as_role = _as_role(client, sandbox, role).client("sqs", endpoint_url=sandbox.endpoint_url)
    assert _code(lambda: as_role.send_message(QueueUrl=own, MessageBody="m")) == "OK"
    assert _code(lambda: as_role.send_message(QueueUrl=other, MessageBody="m")) == "AccessDenied"
