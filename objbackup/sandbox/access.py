"""IAM enforcement in the sandbox: moto's access control, on for the principals created there.

A request signed with the access key of an IAM user or of an assumed role (the functions run with
their execution role's, see executor.py) is held to that principal's policies, as moto's access
control evaluates them (moto/iam/access_control.py: actions, resources, explicit denies). Any
other key is the operator's and acts as the account's administrator, as on LocalStack, so that
no credentials need to be set up; the sandbox's own pollers and schedulers, which act as AWS
services, use such a key too.

Where moto names no resource or checks one action for what AWS checks as several, this module
says what AWS authorises (each with its source below): DynamoDB requests on their table or index,
a batch or transaction on each table and item, DeleteObjects on each key, a copy's read of its
source, and the KMS permissions S3 uses on the caller's behalf for SSE-KMS objects. Signatures
are not verified (the key id and session token name the principal).

moto switches its access control on with INITIAL_NO_AUTH_ACTION_COUNT ("IAM-like Access
Control", https://github.com/getmoto/moto/blob/master/docs/docs/iam.rst), for every key alike: an
unknown key is then refused (InvalidClientTokenId). The sandbox hooks the same check instead
(ActionAuthenticatorMixin._authenticate_and_authorize_action), so that it can let the operator's
keys through; with the sandbox stopped, moto's own behaviour is back.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

_lock = threading.Lock()
_enforcing = 0
_patched: set[str] = set()

Requirement = tuple[str, str]  # (service:Action, resource ARN or "*")


def enforce() -> None:
    """Turn enforcement on (counted: each call is undone by one relax())."""
    global _enforcing
    _patch()
    with _lock:
        _enforcing += 1


def relax() -> None:
    global _enforcing
    with _lock:
        _enforcing = max(0, _enforcing - 1)


def enforcing() -> bool:
    return _enforcing > 0


def _patch() -> None:
    if "authorize" in _patched:
        return
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not enforcing():
            return original(self, iam_request_cls, resource)
        _authorize(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    _patched.add("authorize")


def _authorize(response: Any, iam_request_cls: type, resource: str) -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key
    from moto.utilities.utils import get_partition

    headers = response.headers
    if headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    if "Authorization" not in headers:
        return  # unsigned and presigned requests: not evaluated (DESIGN.md, "IAM")
    account = response.current_account
    partition = get_partition(_region(headers) or "us-east-1")
    try:
        principal = create_access_key(account, partition, response.get_access_key(), headers)
    except CreateAccessKeyFailure as failure:
        if failure.reason == "InvalidId":
            return  # not a key the sandbox issued: the operator, the account's administrator
        principal = None  # a known key with a wrong session token: moto refuses it below
    request = iam_request_cls(
        account_id=account,
        method=response.method,
        path=response.raw_path,
        data=response.data,
        body=response.raw_body,
        headers=headers,
        action=response._get_action(),
    )
    json_protocol = _json_protocol(response)
    _refuse_expired(response, principal, account, partition, json_protocol)
    service = request._service
    for action, arn in _requirements(response, service, request._action, resource):
        request._action = action
        try:
            request.check_action_permitted(arn)
        except _missing_entity():
            _deny(request, action, arn, json_protocol)  # its role does not exist (any more)
        except _http_exception() as denied:
            if getattr(denied, "error_type", None) == "AccessDenied":
                _deny(request, action, arn, json_protocol)
            raise


def _json_protocol(response: Any) -> bool:
    """Whether the service speaks AWS JSON (DynamoDB, KMS, SQS...) rather than query or XML."""
    return "x-amz-json" in str(response.headers.get("Content-Type", ""))


def _deny(request: Any, action: str, resource: str, json_protocol: bool) -> None:
    """moto's refusal, in the JSON shape JSON services answer ("AccessDeniedException", HTTP 400,
    e.g. DynamoDB's "Common Errors",
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html). SQS, JSON
    but query-compatible, names it by its query code, which botocore reports: AccessDenied."""
    if not json_protocol:
        request._raise_access_denied()
    from moto.core.exceptions import JsonRESTError

    raise JsonRESTError(
        "AccessDenied" if request._service == "sqs" else "AccessDeniedException",
        f"User: {request._access_key.arn} is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action",
    )


def _http_exception() -> type[Exception]:
    from werkzeug.exceptions import HTTPException

    return HTTPException


def _missing_entity() -> type[Exception]:
    from moto.iam.exceptions import NotFoundException

    return NotFoundException


def _region(headers: Any) -> str | None:
    scope = str(headers.get("Authorization", "")).partition("Credential=")[2].split(",")[0]
    parts = scope.split("/")
    return parts[2] if len(parts) > 2 else None


def _refuse_expired(
    response: Any, principal: Any, account: str, partition: str, json_protocol: bool
) -> None:
    """STS credentials stop working when they expire ("Requesting temporary security
    credentials", IAM User Guide: "the credentials expire ... after that they can't be used");
    moto never checks, and the executor's renewal is only proven if they do."""
    from moto.iam.access_control import AssumedRoleAccessKey
    from moto.sts.models import sts_backends

    if not isinstance(principal, AssumedRoleAccessKey):
        return
    found = sts_backends[account][partition].get_assumed_role_from_access_key(
        principal._access_key_id
    )
    if found is None:
        return
    expiration = found.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    if expiration > datetime.now(UTC):
        return
    message = "The provided token has expired."
    if response.service_name == "s3":
        from moto.s3.exceptions import S3ClientError

        raise S3ClientError("ExpiredToken", message)
    from moto.core.exceptions import JsonRESTError, _RESTError

    # "ExpiredTokenException: The security token included in the request is expired", HTTP 403
    # (Common Errors, https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
    error = (
        JsonRESTError("ExpiredTokenException", message)
        if json_protocol
        else _RESTError("ExpiredToken", message)
    )
    error.code = 403
    raise error


def _requirements(response: Any, service: str, action: str, resource: str) -> list[Requirement]:
    if service == "dynamodb":
        return _dynamodb(response, action)
    if service == "s3":
        return _s3(response, action, resource)
    return [(action, resource)]


# DynamoDB: "Amazon DynamoDB: How to use an IAM policy to grant access to specific tables": a
# table's actions on arn:aws:dynamodb:<region>:<account>:table/<name>, an index's on
# .../table/<name>/index/<index>. BatchWriteItem and BatchGetItem are authorised on each table
# they name; TransactWriteItems by PutItem, UpdateItem, DeleteItem and ConditionCheckItem on each
# item's table, TransactGetItems by GetItem ("Using IAM with DynamoDB transactions",
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
_TRANSACT = {
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
                if kind in _TRANSACT and isinstance(operation, dict):
                    found.append((_TRANSACT[kind], prefix + str(operation.get("TableName"))))
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
    """DeleteObjects is authorised per key: s3:DeleteObject, and s3:DeleteObjectVersion for a
    key given with a version ("DeleteObjects", Permissions,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html)."""
    try:
        # A loopback request moto's S3 parses itself right after (with xmltodict).
        root = ElementTree.fromstring(response.raw_body or b"")  # noqa: S314
    except ElementTree.ParseError:
        return []  # moto answers MalformedXML (gaps.close_delete_objects_xml_gap)
    found = []
    for item in root:
        if not item.tag.endswith("Object"):
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in item}
        action = "s3:DeleteObjectVersion" if fields.get("VersionId") else "s3:DeleteObject"
        found.append((action, f"{bucket_arn}/{fields.get('Key', '')}"))
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
