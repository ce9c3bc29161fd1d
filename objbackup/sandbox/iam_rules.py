"""What AWS authorises a request by, as (IAM action, resource ARN) pairs, for moto's access control.

moto checks a request against one action and the resource its service names, "*" for most
services (moto/iam/access_control.py), which no resource-scoped statement matches; it also names
a few requests differently from IAM. These rules say what AWS authorises instead, each with its
source. They are the one implementation behind both modes of objbackup/sandbox/access.py: the
server sandbox and the in-process tests (tests/iam_access.py).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

Requirement = tuple[str, str]  # (service:Action, resource ARN or "*")


def requirements(response: Any, service: str, action: str, resource: str) -> list[Requirement]:
    """The pairs AWS authorises the request moto's `response` is handling by (every one must be
    allowed); `action` and `resource` are what moto would check."""
    if service == "tagging":
        # The Resource Groups Tagging API signs as `tagging`; IAM's prefix is `tag` ("Actions,
        # resources, and condition keys for Resource Groups Tagging API", Service Authorization
        # Reference).
        return [("tag:" + action.split(":", 1)[1], resource)]
    if service == "dynamodb":
        return _dynamodb(response, action)
    if service == "s3":
        return _s3(response, action, resource)
    if service == "sqs" and action.endswith("Batch"):
        # A batch is authorised by its single action: SendMessageBatch by sqs:SendMessage, and
        # so on ("Amazon SQS API permissions: Actions and resource reference", SQS Developer
        # Guide).
        return [(action.removesuffix("Batch"), resource)]
    if action == "lambda:Invoke":
        # The API's name; IAM's action is lambda:InvokeFunction ("Actions, resources, and
        # condition keys for AWS Lambda", Service Authorization Reference).
        action = "lambda:InvokeFunction"
    if resource == "*":
        return [(action, arn) for arn in _named_resources(response, service, action)]
    return [(action, resource)]


def _params(response: Any) -> dict[str, Any]:
    """The request's parameters: its JSON body, else the query protocol's form."""
    try:
        body = json.loads(response.raw_body or b"{}")
    except ValueError:
        body = None
    if isinstance(body, dict) and body:
        return body
    form = response.querystring if isinstance(response.querystring, dict) else {}
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in form.items()}


def _named_resources(response: Any, service: str, action: str) -> list[str]:
    """The ARNs AWS authorises a request by where moto names none ("Actions, resources, and
    condition keys" of each service, Service Authorization Reference): CloudFormation by the
    stack, Lambda by the function, CloudWatch Logs by the log group, DescribeAlarms by each
    alarm; anything else stays "*"."""
    region, account = response.region, response.current_account
    params = _params(response)
    if service == "cloudformation" and params.get("StackName"):
        stack = str(params["StackName"])
        if stack.startswith("arn:"):
            return [stack]
        return [f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/*"]
    if service == "lambda":
        found = re.search(r"/functions/([^/?]+)", str(response.raw_path))
        if found:
            return [f"arn:aws:lambda:{region}:{account}:function:{found.group(1)}"]
    if service == "logs" and params.get("logGroupName"):
        return [f"arn:aws:logs:{region}:{account}:log-group:{params['logGroupName']}"]
    if action == "cloudwatch:DescribeAlarms":
        names = params.get("AlarmNames") or [
            v for k, v in params.items() if k.startswith("AlarmNames.member.")
        ]
        names = [names] if isinstance(names, str) else names
        if names:
            return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}" for n in names]
    return ["*"]


# DynamoDB: "Amazon DynamoDB: How to use an IAM policy to grant access to specific tables": a
# table's actions on arn:aws:dynamodb:<region>:<account>:table/<name>, an index's on
# .../table/<name>/index/<index>. BatchWriteItem and BatchGetItem are authorised on each table
# they name; TransactWriteItems by PutItem, UpdateItem, DeleteItem and ConditionCheckItem on each
# item's table, TransactGetItems by GetItem ("Using IAM with DynamoDB transactions",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def _dynamodb(response: Any, action: str) -> list[Requirement]:
    try:
        body = json.loads(response.raw_body or b"{}")
    except ValueError:
        return [(action, "*")]
    prefix = f"arn:aws:dynamodb:{response.region}:{response.current_account}:table/"
    if action in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
        found = []
        for item in body.get("TransactItems") or []:
            for kind, operation in item.items():
                if kind in TRANSACT_ACTIONS and isinstance(operation, dict):
                    found.append((TRANSACT_ACTIONS[kind], prefix + str(operation.get("TableName"))))
        return found or [(action, "*")]
    if action in ("dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"):
        tables = list(body.get("RequestItems") or {})
        return [(action, prefix + table) for table in tables] or [(action, "*")]
    table = body.get("TableName")
    if not table:
        return [(action, "*")]  # ListTables and the like: no resource
    arn = prefix + str(table)
    if body.get("IndexName"):
        arn += f"/index/{body['IndexName']}"
    return [(action, arn)]


def _s3(response: Any, action: str, resource: str) -> list[Requirement]:
    method = response.method
    if action == "s3:HeadBucket":
        # "HeadBucket", Permissions: s3:ListBucket
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
        return [("s3:ListBucket", resource)]
    if action == "s3:DeleteObject" and method == "POST" and "delete" in response.querystring:
        return _delete_objects(response, resource)
    found = [(action, resource)]
    source = response.headers.get("x-amz-copy-source")
    if method == "PUT" and source:
        found.extend(_copy_source(response, source))
    if action == "s3:PutObject" and (
        method == "PUT" or (method == "POST" and "uploads" in response.querystring)
    ):
        found.extend(_kms_destination(response, resource))
    if method == "GET" and action in ("s3:GetObject", "s3:GetObjectVersion"):
        found.extend(_kms_read(response, resource))
    return found


def _kms_read(response: Any, resource: str) -> list[Requirement]:
    """Downloading an SSE-KMS object needs kms:Decrypt on its key ("Using server-side encryption
    with AWS KMS keys (SSE-KMS)", Permissions,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html); a HEAD
    does not."""
    bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
    version = response.querystring.get("versionId", [None])[0]
    try:
        stored = response.backend.get_object(bucket, key, version_id=version)
    except Exception:  # a missing bucket or version: S3 answers that itself
        return []
    if stored is None or stored.encryption != "aws:kms":
        return []
    return [("kms:Decrypt", _key_arn(response, stored.kms_key_id))]


def _delete_objects(response: Any, bucket_arn: str) -> list[Requirement]:
    """DeleteObjects is authorised per key: "you must always specify the s3:DeleteObject
    permission", and s3:DeleteObjectVersion as well for a key given with a version
    ("DeleteObjects", Permissions,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html). The two former
    implementations disagreed (s3:DeleteObject alone; s3:DeleteObjectVersion alone for a
    version): both, as the page says."""
    try:
        # A loopback request moto's S3 parses itself right after (with xmltodict).
        root = ElementTree.fromstring(response.raw_body or b"")  # noqa: S314
    except ElementTree.ParseError:
        return []  # moto answers MalformedXML (patches/s3.py, close_delete_objects_xml_gap)
    found = []
    for item in root:
        if not item.tag.endswith("Object"):
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in item}
        arn = f"{bucket_arn}/{fields.get('Key', '')}"
        found.append(("s3:DeleteObject", arn))
        if fields.get("VersionId"):
            found.append(("s3:DeleteObjectVersion", arn))
    return found


def _copy_source(response: Any, source: Any) -> list[Requirement]:
    """CopyObject and UploadPartCopy read their source: s3:GetObject on it (s3:GetObjectVersion
    for a given version), and kms:Decrypt on its key if it is SSE-KMS ("CopyObject",
    Permissions, https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)."""
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    parsed = urlparse(source)
    bucket, _, key = unquote(parsed.path).lstrip("/").partition("/")
    version = parse_qs(parsed.query).get("versionId", [None])[0]
    read = "s3:GetObjectVersion" if version else "s3:GetObject"
    found = [(read, f"arn:aws:s3:::{bucket}/{key}")]
    try:
        stored = response.backend.get_object(bucket, key, version_id=version)
    except Exception:  # a missing bucket or version: S3 answers that itself
        stored = None
    if stored is not None and stored.encryption == "aws:kms":
        found.append(("kms:Decrypt", _key_arn(response, stored.kms_key_id)))
    return found


def _kms_destination(response: Any, resource: str) -> list[Requirement]:
    """Writing an SSE-KMS object (PutObject, CopyObject, CreateMultipartUpload), by its own
    headers or the bucket's default encryption, needs kms:GenerateDataKey on the key ("Using
    server-side encryption with AWS KMS keys (SSE-KMS)", Permissions,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html)."""
    headers = response.headers
    if "partNumber" in response.querystring:
        return []  # a part belongs to an upload whose key CreateMultipartUpload checked
    algorithm = headers.get("x-amz-server-side-encryption")
    key_id = headers.get("x-amz-server-side-encryption-aws-kms-key-id")
    if not algorithm:
        bucket_name = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        try:
            bucket = response.backend.get_bucket(bucket_name)
        except Exception:  # no such bucket: S3 answers that itself
            return []
        rule = (bucket.encryption or {}).get("Rule", {})
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        algorithm, key_id = default.get("SSEAlgorithm"), default.get("KMSMasterKeyID")
    if algorithm not in ("aws:kms", "aws:kms:dsse"):
        return []
    arn = _key_arn(response, key_id)
    if response.method == "POST":
        # S3 decrypts the parts to complete the upload: kms:Decrypt too ("Multipart upload API
        # and permissions", https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
        return [("kms:GenerateDataKey", arn), ("kms:Decrypt", arn)]
    return [("kms:GenerateDataKey", arn)]


def _key_arn(response: Any, key_id: str | None) -> str:
    """IAM names a KMS key by its key ARN ("AWS KMS resources", KMS Developer Guide): resolve an
    id, alias or alias ARN; no key is the account's AWS managed key aws/s3."""
    from moto.kms.models import kms_backends

    backend = kms_backends[response.current_account][response.region]
    try:
        return str(backend.describe_key(key_id or "alias/aws/s3").arn)
    except Exception:  # a key unknown to the sandbox: named as given
        if key_id and key_id.startswith("arn:"):
            return key_id
        return f"arn:aws:kms:{response.region}:{response.current_account}:key/{key_id}"
