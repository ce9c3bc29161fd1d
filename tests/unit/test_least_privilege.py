"""Least privilege, derived: each function role grants exactly what its code calls.

The replicator's and the cleaner's code paths run against moto in process over a representative
set of events, with a botocore before-call recorder on the functions' own clients. Every recorded
call is mapped to the IAM actions and resource ARNs AWS authorises it by; the platform's own needs
(the event source mapping's polling, the log stream) are listed explicitly. Then, against each
template's role rendered with concrete parameters:

* every needed (action, ARN) is allowed by some Allow statement (else AWS answers AccessDenied);
* every (action, resource) an Allow statement grants is needed by some call (else it is excess);
* so the role's actions are exactly the needed ones.

Nothing here lists the functions' actions by hand: a change to the code or to a template that
breaks either direction fails, and names the call or the grant.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from objbackup.core.aws import Clients
from objbackup.core.config import Settings
from objbackup.core.events import Kind
from objbackup.core.logs import LOGGER
from objbackup.core.runtime import CleanerApp, ReplicatorApp
from objbackup.sandbox.iam_rules import TRANSACT_ACTIONS
from objbackup.sandbox.patches import install_all
from tests.conftest import fake_credentials
from tests.harness import REGION, Harness
from tests.unit.test_batch import sqs_batch
from tests.unit.test_multipart import PartsContext
from tests.unit.test_templates import as_list, load, props, resources

if TYPE_CHECKING:
    from botocore.client import BaseClient

ACCOUNT = "123456789012"
PARTITION = "aws"
# A tiny threshold: objects of THRESHOLD bytes or more take the multipart (UploadPartCopy) path.
THRESHOLD = 1000
BIG = b"B" * 2048
PART = 512  # so BIG takes four parts, and a deadline can stop a copy between them
NoValue = object()


# --------------------------------------------------------------------------------------------
# Calls -> (IAM action, resource ARN)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: Mapping[str, Any]
    # The KMS key the copied source object is encrypted with when the call is made (if any).
    source_kms_key: str | None = None


Need = tuple[str, str]  # (IAM action, concrete resource ARN)


def _bucket(name: str) -> str:
    return f"arn:{PARTITION}:s3:::{name}"


def _object(bucket: str, key: str) -> str:
    return f"{_bucket(bucket)}/{key}"


def _table(name: str) -> str:
    return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _read_source(source: Mapping[str, Any]) -> list[Need]:
    """Reading one source object (HEAD, GET, the source of a copy).

    Reading a key that does not exist answers 403 instead of 404 without s3:ListBucket on its
    bucket; the code treats "not found" as "the object is gone", so it needs ListBucket too.
    """
    versioned = _for_version(source)
    return [
        (
            "s3:GetObjectVersion" if versioned else "s3:GetObject",
            _object(source["Bucket"], source["Key"]),
        ),
        ("s3:ListBucket", _bucket(source["Bucket"])),
    ]


def _copy_source(params: Mapping[str, Any]) -> Mapping[str, Any]:
    source = params["CopySource"]
    assert isinstance(source, Mapping), "the code passes CopySource as a dict"
    return source


def _for_version(params: Mapping[str, Any]) -> bool:
    """A request for a given version (authorised by the *Version actions).

    moto answers "null" as the version id of a write to an unversioned bucket, and s3transfer
    passes it on to PutObjectTagging; AWS sends no version id there, so "null" counts as none.
    """
    return params.get("VersionId") not in (None, "", "null")


def s3_needs(call: Call) -> list[Need]:
    """What AWS authorises an S3 call by (the S3 user guide's "actions and permissions")."""
    p = call.params
    here = _object(p["Bucket"], p["Key"]) if "Key" in p else _bucket(p["Bucket"])
    op = call.operation
    if op in ("HeadObject", "GetObject"):
        return _read_source(p)
    if op == "GetObjectTagging":
        tagging = "s3:GetObjectVersionTagging" if _for_version(p) else "s3:GetObjectTagging"
        return [(tagging, here)]
    if op == "PutObjectTagging":
        tagging = "s3:PutObjectVersionTagging" if _for_version(p) else "s3:PutObjectTagging"
        return [(tagging, here)]
    if op == "CopyObject":
        source = _copy_source(p)
        needs = [*_read_source(source), ("s3:PutObject", here)]
        if p.get("TaggingDirective", "COPY") == "COPY":  # copying the tags reads and writes them
            tagging = (
                "s3:GetObjectVersionTagging" if _for_version(source) else "s3:GetObjectTagging"
            )
            needs += [(tagging, _object(source["Bucket"], source["Key"]))]
            needs += [("s3:PutObjectTagging", here)]
        elif p.get("Tagging"):
            needs += [("s3:PutObjectTagging", here)]
        return needs
    if op in ("PutObject", "CreateMultipartUpload"):
        needs = [("s3:PutObject", here)]
        return needs + ([("s3:PutObjectTagging", here)] if p.get("Tagging") else [])
    if op == "UploadPartCopy":
        return [*_read_source(_copy_source(p)), ("s3:PutObject", here)]
    if op in ("UploadPart", "CompleteMultipartUpload"):
        return [("s3:PutObject", here)]
    if op == "AbortMultipartUpload":
        return [("s3:AbortMultipartUpload", here)]
    if op == "ListParts":
        return [("s3:ListMultipartUploadParts", here)]
    if op == "ListMultipartUploads":
        return [("s3:ListBucketMultipartUploads", here)]
    if op == "DeleteObject":
        return [("s3:DeleteObjectVersion" if _for_version(p) else "s3:DeleteObject", here)]
    if op == "DeleteObjects":  # authorised per key
        return [
            (
                "s3:DeleteObjectVersion" if _for_version(o) else "s3:DeleteObject",
                _object(p["Bucket"], o["Key"]),
            )
            for o in p["Delete"]["Objects"]
        ]
    if op in ("ListObjectsV2", "ListObjects"):
        return [("s3:ListBucket", here)]
    if op == "ListObjectVersions":
        return [("s3:ListBucketVersions", here)]
    raise AssertionError(f"no IAM mapping for s3.{op}: add one to s3_needs")


def dynamodb_needs(call: Call) -> list[Need]:
    """What AWS authorises a DynamoDB call by (TransactWriteItems: each item's own action)."""
    p = call.params
    op = call.operation
    if op == "Query":
        index = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
        return [("dynamodb:Query", _table(p["TableName"]) + index)]
    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        return [(f"dynamodb:{op}", _table(p["TableName"]))]
    if op in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{op}", _table(table)) for table in p["RequestItems"]]
    if op == "TransactWriteItems":
        return [
            (TRANSACT_ACTIONS[kind], _table(body["TableName"]))
            for item in p["TransactItems"]
            for kind, body in item.items()
        ]
    if op == "TransactGetItems":
        return [("dynamodb:GetItem", _table(i["Get"]["TableName"])) for i in p["TransactItems"]]
    raise AssertionError(f"no IAM mapping for dynamodb.{op}: add one to dynamodb_needs")


# The replicator's own queue, created in moto for the run; the template names it `Queue`.
OWN_QUEUE = "ob-replicator-queue"


def sqs_needs(call: Call) -> list[Need]:
    """What AWS authorises an SQS call by: the action on the queue's ARN (the stack's own queue
    as the template renders it, any other by its ARN, which no grant names)."""
    if call.operation != "SendMessage":
        raise AssertionError(f"no IAM mapping for sqs.{call.operation}: add one to sqs_needs")
    name = str(call.params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
    queue = "<Queue.Arn>" if name == OWN_QUEUE else f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"
    return [("sqs:SendMessage", queue)]


def _kms(key: str) -> str:
    return f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{key}"


# The deployment whose source objects are SSE-KMS: its bucket's default key, another key some of
# its objects are written with (deploy --source-kms-key), and the key copies are written with.
SOURCE_KEY = _kms("aaaaaaaa-1111-4111-8111-000000000001")
OTHER_SOURCE_KEY = _kms("cccccccc-3333-4333-8333-000000000003")
BACKUP_KEY = _kms("bbbbbbbb-2222-4222-8222-000000000002")
SOURCE_KEYS = {"ksrc-bucket": (SOURCE_KEY, OTHER_SOURCE_KEY)}
_MULTIPART_WRITES = ("UploadPart", "UploadPartCopy", "CompleteMultipartUpload")


def kms_needs(calls: list[Call]) -> list[tuple[Need, str]]:
    """What KMS authorises the S3 calls by, in call order.

    Copying an SSE-KMS source (CopyObject, UploadPartCopy) needs kms:Decrypt on its key; writing
    with SSE-KMS (CopyObject, CreateMultipartUpload) needs kms:GenerateDataKey on the new key, and
    the parts and the completion of a multipart upload kms:Decrypt on it (AWS knowledge center,
    "s3-large-file-encryption-kms-key"). HEAD and tagging calls need no KMS permission.
    """
    found: list[tuple[Need, str]] = []
    uploads: dict[tuple[str, str], str] = {}  # (bucket, key) -> the upload's KMS key
    for call in calls:
        if call.service != "s3":
            continue
        p = call.params
        why = f"s3.{call.operation}"
        if call.operation in ("CopyObject", "UploadPartCopy") and call.source_kms_key:
            found.append((("kms:Decrypt", call.source_kms_key), why))
        if call.operation in ("CopyObject", "PutObject") and p.get("SSEKMSKeyId"):
            found.append((("kms:GenerateDataKey", p["SSEKMSKeyId"]), why))
        if call.operation == "CreateMultipartUpload" and p.get("SSEKMSKeyId"):
            uploads[(p["Bucket"], p["Key"])] = p["SSEKMSKeyId"]
            found.append((("kms:GenerateDataKey", p["SSEKMSKeyId"]), why))
        if call.operation in _MULTIPART_WRITES and (p["Bucket"], p["Key"]) in uploads:
            found.append((("kms:Decrypt", uploads[(p["Bucket"], p["Key"])]), why))
    return found


def needs_of(call: Call) -> list[Need]:
    if call.service == "s3":
        return s3_needs(call)
    if call.service == "dynamodb":
        return dynamodb_needs(call)
    if call.service == "sqs":
        return sqs_needs(call)
    raise AssertionError(f"no IAM mapping for {call.service}.{call.operation}")


def _source_kms_key(probe: Any, operation: str, params: Mapping[str, Any]) -> str | None:
    """The KMS key of a copy's source object now, read with the test's own (unrecorded) client."""
    if probe is None or operation not in ("CopyObject", "UploadPartCopy"):
        return None
    source = _copy_source(params)
    try:
        head = probe.head_object(Bucket=source["Bucket"], Key=source["Key"])
    except ClientError:
        return None  # gone: the copy fails before any KMS call
    return str(head["SSEKMSKeyId"]) if head.get("ServerSideEncryption") == "aws:kms" else None


@contextmanager
def recording(*clients: BaseClient, probe: Any = None) -> Iterator[list[Call]]:
    """Record every API call (service, operation, parameters) the given clients make."""
    calls: list[Call] = []

    def record(model: Any, params: Any, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        source_key = _source_kms_key(probe, operation, params) if service == "s3" else None
        calls.append(Call(service, operation, dict(params), source_key))

    # The API parameters, as the code passed them (before-call sees the serialised request).
    event = "before-parameter-build.*.*"
    for client in clients:
        client.meta.events.register(event, record)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister(event, record)


# --------------------------------------------------------------------------------------------
# Running the functions over a representative set of events
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One deployment's functions run over the scenarios: what each called, how it went."""

    settings: Settings
    calls: dict[str, list[Call]]  # by role: "replicator", "cleaner"
    outcomes: list[str]
    clean_reports: list[dict[str, Any]]


class _Lines(logging.Handler):
    """Collects the `objbackup` logger's JSON lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))

    def outcomes(self) -> list[str]:
        return [str(line["outcome"]) for line in self.lines if line.get("event") == "object"]


def _run_functions(
    harness: Harness,
    scenario: Callable[[Harness, Callable[..., None], Clients], None],
) -> Run:
    # Each function gets clients of its own, as in Lambda, recorded apart from the test's setup.
    replicator_clients = Clients.create(region=REGION)
    cleaner_clients = Clients.create(region=REGION)
    replicator = ReplicatorApp.create(harness.settings, replicator_clients)
    cleaner = CleanerApp.create(harness.settings, cleaner_clients)
    counter = iter(range(1, 10_000))
    reports: list[dict[str, Any]] = []

    def deliver(*events: Any, fails: bool = False, context: Any = None) -> None:
        batch = sqs_batch(*[(f"m-{next(counter)}", e) for e in events])
        failed = replicator(batch, context)["batchItemFailures"]
        assert bool(failed) == fails, failed

    assert replicator_clients.sqs is not None  # Clients.create makes all three
    with (
        recording(
            replicator_clients.s3,
            replicator_clients.dynamodb,
            replicator_clients.sqs,
            probe=harness.s3,
        ) as replicator_calls,
        recording(cleaner_clients.s3, cleaner_clients.dynamodb) as cleaner_calls,
    ):
        scenario(harness, deliver, replicator_clients)
        reports.append(cleaner({"dry_run": True, "grace_seconds": 0}))
        reports.append(cleaner({"grace_seconds": 0}))
        reports.append(cleaner({}))  # on its schedule: the configured grace, nothing expired yet
    calls = {"replicator": replicator_calls, "cleaner": cleaner_calls}
    return Run(harness.settings, calls, [], reports)


def _unversioned(h: Harness, deliver: Callable[..., Any], clients: Clients) -> None:
    tagged = {"Tagging": "team=ops", "Metadata": {"owner": "ops"}, "ContentType": "text/csv"}
    first = h.put("k", b"v1", **tagged)
    deliver(first)  # created, below retention (single CopyObject with tags)
    deliver(first)  # duplicate
    for version in range(2, 5):  # at and beyond retention: prunes the oldest copy
        h.clock.advance(1)
        deliver(h.put("k", f"v{version}".encode()))
    deliver(first)  # stale: older than every kept copy
    h.clock.advance(1)
    big = h.put("big", BIG, **tagged)
    deliver(big)  # multipart copy (CreateMultipartUpload, UploadPartCopy, Complete)
    h.clock.advance(1)
    bigger = h.put("bigger", BIG * 2)
    with PartsContext(clients.s3, parts=1).running() as short:
        # The deadline stops it after a part or so: re-sent to the queue (SendMessage), acked.
        deliver(bigger, context=short)
    [continued] = _bodies(h.settings.queue_url)
    # Resumed: ListMultipartUploads, ListParts, the missing parts, Complete.
    deliver(continued)
    h.clock.advance(1)
    old = h.put("over", b"old")
    h.clock.advance(1)
    h.put("over", b"new")
    deliver(old)  # superseded: CopySourceIfMatch fails
    h.clock.advance(1)
    gone = h.put("gone", b"x")
    h.s3.delete_object(Bucket=h.settings.source_bucket, Key="gone")
    deliver(gone)  # the source is gone before the copy
    h.clock.advance(1)
    racing = h.put("race", BIG)

    def overwrite_mid_copy(**_: Any) -> None:  # the source changes between HEAD and the part copy
        clients.s3.meta.events.unregister("before-call.s3.UploadPartCopy", overwrite_mid_copy)
        h.s3.put_object(Bucket=h.settings.source_bucket, Key="race", Body=BIG + b"!")

    clients.s3.meta.events.register("before-call.s3.UploadPartCopy", overwrite_mid_copy)
    # The multipart upload is aborted and the part copy's 412 ends the event as superseded.
    deliver(racing)
    h.clock.advance(1)
    deliver(h.delete("k"))  # disowned; the cleaner deletes them


def _bodies(queue_url: str | None) -> list[str]:
    """The bodies of the messages waiting in `queue_url`, read (and deleted) by the test."""
    assert queue_url is not None  # the harness made the queue
    sqs = boto3.client("sqs", region_name=REGION)
    answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    for message in answer.get("Messages", []):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [str(m["Body"]) for m in answer.get("Messages", [])]


def _versioned(h: Harness, deliver: Callable[..., Any], clients: Clients) -> None:
    bucket = h.settings.source_bucket
    h.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    writes = []
    for body in (b"one", b"two", b"three"):
        writes.append(h.put("v", body))
        deliver(writes[-1])
        h.clock.advance(1)
    oldest, _, newest = writes
    assert oldest.version_id is not None
    h.s3.delete_object(Bucket=bucket, Key="v", VersionId=oldest.version_id)
    deliver(h.event(Kind.DELETED, "v", version_id=oldest.version_id))  # still exists
    h.clock.advance(1)
    assert newest.version_id is not None
    h.s3.delete_object(Bucket=bucket, Key="v", VersionId=newest.version_id)
    deliver(h.event(Kind.DELETED, "v", version_id=newest.version_id))  # "two" resurfaces
    h.clock.advance(1)
    marker = h.s3.delete_object(Bucket=bucket, Key="v")["VersionId"]  # the object is gone
    deliver(h.event(Kind.DELETED, "v", deletion_type="Delete Marker Created"))
    h.clock.advance(1)
    h.s3.delete_object(Bucket=bucket, Key="v", VersionId=marker)  # "two" is back: reactivated
    deliver(h.event(Kind.DELETED, "v", version_id=marker))


def _kms_encrypted(h: Harness, deliver: Callable[..., Any], clients: Clients) -> None:
    """An adopted bucket with SSE-KMS default encryption; copies go to the backup KMS key."""
    bucket = h.settings.source_bucket
    h.s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": SOURCE_KEY,
                    }
                }
            ]
        },
    )
    deliver(h.put("default", b"v1"))  # CopyObject of an object under the bucket's key
    h.clock.advance(1)
    deliver(h.put("big", BIG))  # a multipart copy of it
    h.clock.advance(1)
    other = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": OTHER_SOURCE_KEY}
    deliver(h.put("other", b"v1", **other))  # an object written with another key
    for key, source_key in (
        ("default", SOURCE_KEY),
        ("big", SOURCE_KEY),
        ("other", OTHER_SOURCE_KEY),
    ):
        assert h.s3.head_object(Bucket=bucket, Key=key)["SSEKMSKeyId"] == source_key
        (copy,) = h.active(key)
        head = h.s3.head_object(Bucket=h.settings.backup_bucket, Key=copy.copy_name)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", BACKUP_KEY)
    h.clock.advance(1)
    deliver(h.delete("other"))


@pytest.fixture(scope="module")
def runs() -> Iterator[list[Run]]:
    """Both deployments' runs, once for the module (moto in process, fake credentials)."""
    lines = _Lines()
    level = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    LOGGER.addHandler(lines)
    with pytest.MonkeyPatch.context() as env:
        fake_credentials(env)
        env.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)  # parts of PART bytes
        install_all()
        try:
            with mock_aws():
                found = []
                sqs = boto3.client("sqs", region_name=REGION)
                queue_url = sqs.create_queue(QueueName=OWN_QUEUE)["QueueUrl"]
                for settings, scenario in (
                    (
                        Settings("src-bucket", "bak-bucket", "copies", queue_url=queue_url),
                        _unversioned,
                    ),
                    (Settings("vsrc-bucket", "vbak-bucket", "vcopies"), _versioned),
                    (
                        Settings(
                            "ksrc-bucket", "kbak-bucket", "kcopies", backup_kms_key=BACKUP_KEY
                        ),
                        _kms_encrypted,
                    ),
                ):
                    settings = replace(settings, multipart_threshold=THRESHOLD, part_bytes=PART)
                    lines.lines.clear()
                    run = _run_functions(Harness.create(settings), scenario)
                    run.outcomes = lines.outcomes()
                    found.append(run)
                yield found
        finally:
            LOGGER.removeHandler(lines)
            LOGGER.setLevel(level)


# --------------------------------------------------------------------------------------------
# Templates -> what each role allows, rendered with concrete parameters
# --------------------------------------------------------------------------------------------


def stack_name(role: str) -> str:
    return f"ob-{role}"


def parameters_for(settings: Settings) -> dict[str, str]:
    return {
        "SourceBucketName": settings.source_bucket,
        "BackupBucketName": settings.backup_bucket,
        "TableName": settings.table,
        "ArtifactsBucketName": "art-bucket",
        "BundleKey": "bundles/b.zip",
        # As deploy renders them (objbackup/deploy/encryption.py): "" is "no key".
        "SourceKmsKeyArns": ",".join(SOURCE_KEYS.get(settings.source_bucket, ())),
        "BackupKmsKeyArn": settings.backup_kms_key or "",
    }


_INTRINSICS = {
    "Ref",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::If",
    "Fn::Select",
    "Fn::Split",
    "Fn::FindInMap",
    "Fn::ImportValue",
}


class Renderer:
    """Evaluates a template's intrinsics for one set of parameters, conditions included."""

    def __init__(self, template: dict[str, Any], stack: str, parameters: Mapping[str, str]):
        self.template = template
        self.values: dict[str, str] = {
            name: str(spec.get("Default", ""))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.values.update(parameters)
        self.values.update(
            {
                "AWS::Partition": PARTITION,
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT,
                "AWS::StackName": stack,
                "AWS::URLSuffix": "amazonaws.com",
            }
        )

    def condition(self, name: str) -> bool:
        return self.truth(self.template["Conditions"][name])

    def truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((function, args),) = value.items()
            if function == "Condition":
                return self.condition(args)
            if function == "Fn::Equals":
                return bool(self.value(args[0]) == self.value(args[1]))
            if function == "Fn::Not":
                return not self.truth(args[0])
            if function == "Fn::And":
                return all(self.truth(a) for a in args)
            if function == "Fn::Or":
                return any(self.truth(a) for a in args)
        raise AssertionError(f"cannot evaluate condition {value!r}")

    def value(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.value(item) for item in value) if v is not NoValue]
        if not isinstance(value, dict):
            return value
        intrinsic = len(value) == 1 and next(iter(value)) in _INTRINSICS
        if not intrinsic:
            rendered = {k: self.value(v) for k, v in value.items()}
            return {k: v for k, v in rendered.items() if v is not NoValue}
        ((function, args),) = value.items()
        if function == "Ref":
            if args == "AWS::NoValue":
                return NoValue
            return self.values.get(args, f"<{args}>")  # a resource: its own name or ARN
        if function == "Fn::GetAtt":
            logical, attribute = args if isinstance(args, list) else args.split(".", 1)
            return f"<{logical}.{attribute}>"
        if function == "Fn::Sub":
            text, extra = (args, {}) if isinstance(args, str) else (args[0], args[1])
            names = {**self.values, **{k: self.value(v) for k, v in extra.items()}}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in names:
                    return str(names[name])
                if "." in name:
                    return f"<{name}>"
                return f"<{name}>"

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        if function == "Fn::Join":
            return str(args[0]).join(str(v) for v in self.value(args[1]))
        if function == "Fn::If":
            condition, when_true, when_false = args
            return self.value(when_true if self.condition(condition) else when_false)
        if function == "Fn::Split":
            return str(self.value(args[1])).split(args[0])
        if function in ("Fn::Select", "Fn::FindInMap", "Fn::ImportValue"):
            raise AssertionError(f"teach Renderer {function}")
        return value

    def statements(self, statement: Any) -> Iterator[dict[str, Any]]:
        rendered = self.value(statement)
        for item in as_list(rendered):
            if isinstance(item, dict):
                yield item


@dataclass(frozen=True)
class Grant:
    """One (action pattern, resource pattern) an Allow statement of a role grants."""

    sid: str
    action: str
    resource: str
    # Which grant of the template this is, the same whatever the parameters.
    where: tuple[int, int, int] = (0, 0, 0)


def role_grants(template_name: str, settings: Settings, role: str) -> list[Grant]:
    template = load(template_name)
    renderer = Renderer(template, stack_name(role), parameters_for(settings))
    grants: list[Grant] = []
    for resource in resources(template, "AWS::IAM::Role").values():
        if "Condition" in resource and not renderer.condition(resource["Condition"]):
            continue
        for policy in props(resource).get("Policies", []):
            statements = renderer.statements(policy["PolicyDocument"]["Statement"])
            for number, statement in enumerate(statements):
                if statement.get("Effect") != "Allow":
                    continue
                assert "NotAction" not in statement and "NotResource" not in statement
                sid = str(statement.get("Sid"))
                for a, action in enumerate(as_list(statement["Action"])):
                    for r, arn in enumerate(as_list(statement["Resource"])):
                        grants.append(Grant(sid, str(action), str(arn), (number, a, r)))
    return grants


def iam_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return (
        re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)
        is not None
    )


def allows(grant: Grant, need: Need) -> bool:
    action, arn = need
    return iam_match(grant.action, action, ignore_case=True) and iam_match(grant.resource, arn)


# --------------------------------------------------------------------------------------------
# What the platform needs of the roles, not called by our code (listed, and why)
# --------------------------------------------------------------------------------------------


def platform_needs(role: str) -> list[Need]:
    log_stream = (
        f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/"
        f"{stack_name(role)}-{role}:log-stream:2026/11/25/[$LATEST]0123"
    )
    # Lambda's runtime writes the function's output: AWSLambdaBasicExecutionRole less
    # logs:CreateLogGroup (the stack creates the group, with a retention, before the function).
    needs = [("logs:CreateLogStream", log_stream), ("logs:PutLogEvents", log_stream)]
    if role == "replicator":
        # The event source mapping polls the queue with the function's role: the actions of
        # AWSLambdaSQSQueueExecutionRole, and ChangeMessageVisibility, which AWS's own consumer
        # grants (CDK's grantConsumeMessages) include for the poller's visibility extensions.
        queue = "<Queue.Arn>"
        needs += [
            ("sqs:ReceiveMessage", queue),
            ("sqs:DeleteMessage", queue),
            ("sqs:GetQueueAttributes", queue),
            ("sqs:ChangeMessageVisibility", queue),
        ]
    return needs


ROLES = {"replicator": "replicator.yaml", "cleaner": "cleaner.yaml"}


def needs(runs: list[Run], role: str) -> list[tuple[Settings, Need, str]]:
    """(deployment, need, why) for every call a role's function made, and the platform's needs."""
    found: list[tuple[Settings, Need, str]] = []
    for run in runs:
        for call in run.calls[role]:
            why = f"{call.service}.{call.operation}"
            found += [(run.settings, need, why) for need in needs_of(call)]
        found += [(run.settings, need, why) for need, why in kms_needs(run.calls[role])]
        found += [(run.settings, need, "platform") for need in platform_needs(role)]
    return found


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


def test_the_scenarios_exercise_every_code_path(runs: list[Run]) -> None:
    """If a path stops being exercised, its permissions would go unchecked: pin the coverage."""
    plain, versioned, kms = runs
    assert {
        "copied",
        "duplicate",
        "stale",
        "superseded",
        "source-gone",
        "disowned",
        "continued",
    } <= set(plain.outcomes)
    assert {
        "copied",
        "still-exists",
        "resurfaced-copied",
        "disowned",
        "resurfaced-reactivated",
    } <= set(versioned.outcomes)
    operations = {f"{c.service}.{c.operation}" for c in plain.calls["replicator"]}
    assert {
        "s3.CopyObject",
        "s3.HeadObject",
        "s3.GetObjectTagging",
        "s3.CreateMultipartUpload",
        "s3.UploadPartCopy",
        "s3.CompleteMultipartUpload",
        "s3.AbortMultipartUpload",
        "s3.ListMultipartUploads",
        "s3.ListParts",
        "s3.DeleteObject",
        "dynamodb.Query",
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
        "dynamodb.DeleteItem",
        "sqs.SendMessage",
    } <= operations
    assert {f"{c.service}.{c.operation}" for c in plain.calls["cleaner"]} >= {
        "dynamodb.Query",
        "s3.DeleteObjects",
    }
    kms_needed = {need for need, _ in kms_needs(kms.calls["replicator"])}
    assert kms_needed == {
        ("kms:Decrypt", SOURCE_KEY),
        ("kms:Decrypt", OTHER_SOURCE_KEY),
        ("kms:GenerateDataKey", BACKUP_KEY),
        ("kms:Decrypt", BACKUP_KEY),  # the multipart copy's parts
    }
    assert not kms_needs(plain.calls["replicator"]) and not kms_needs(versioned.calls["replicator"])
    dry, wet, scheduled = plain.clean_reports
    assert dry["dry_run"] and dry["copies"] and not dry["deleted"]
    assert wet["deleted"] == len(dry["copies"]) and wet["failed"] == 0
    assert scheduled["deleted"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_every_call_is_allowed_by_the_role(runs: list[Run], role: str) -> None:
    missing = []
    for settings, need, why in needs(runs, role):
        grants = role_grants(ROLES[role], settings, role)
        if not any(allows(grant, need) for grant in grants):
            missing.append(f"{why} needs {need[0]} on {need[1]}")
    assert sorted(set(missing)) == [], "AWS would answer AccessDenied"


@pytest.mark.parametrize("role", ROLES)
def test_every_grant_is_needed_by_some_call(runs: list[Run], role: str) -> None:
    unused: dict[tuple[int, int, int], str] = {}
    used: set[tuple[int, int, int]] = set()
    for run in runs:  # a grant is needed if some call of some deployment needs it
        run_needs = [need for _, need, _ in needs([run], role)]
        for grant in role_grants(ROLES[role], run.settings, role):
            if any(allows(grant, need) for need in run_needs):
                used.add(grant.where)
            else:
                unused[grant.where] = f"{grant.sid}: {grant.action} on {grant.resource}"
    excess = sorted(text for where, text in unused.items() if where not in used)
    assert excess == [], "granted, but no call of the function needs it"


@pytest.mark.parametrize("role", ROLES)
def test_the_role_actions_are_exactly_the_needed_ones(runs: list[Run], role: str) -> None:
    granted = {
        grant.action.lower()
        for run in runs
        for grant in role_grants(ROLES[role], run.settings, role)
    }
    needed = {need[0].lower() for _, need, _ in needs(runs, role)}
    assert granted == needed


@pytest.mark.parametrize("role", ROLES)
def test_no_role_can_read_or_list_the_backup_bucket(runs: list[Run], role: str) -> None:
    """Neither function may read copies: a compromised function cannot exfiltrate backups."""
    for run in runs:
        backup_object = _object(run.settings.backup_bucket, "any/copy@20261125T120000Z-0001")
        for grant in role_grants(ROLES[role], run.settings, role):
            reads = [
                action
                for action in (
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:GetObjectAcl",
                    "s3:GetObjectAttributes",
                )
                if iam_match(grant.action, action, ignore_case=True)
            ]
            assert not (reads and iam_match(grant.resource, backup_object)), grant
            lists = iam_match(grant.action, "s3:ListBucket", ignore_case=True)
            assert not (lists and iam_match(grant.resource, _bucket(run.settings.backup_bucket))), (
                grant
            )


def test_the_mapping_refuses_unknown_operations() -> None:
    with pytest.raises(AssertionError, match=r"no IAM mapping for s3\.PutBucketPolicy"):
        needs_of(Call("s3", "PutBucketPolicy", {"Bucket": "b"}))
    with pytest.raises(AssertionError, match=r"no IAM mapping for dynamodb\.Scan"):
        needs_of(Call("dynamodb", "Scan", {"TableName": "t"}))


def test_the_mapping_and_matching_themselves() -> None:
    copy = Call(
        "s3",
        "CopyObject",
        {
            "Bucket": "bak",
            "Key": "k@1",
            "CopySource": {"Bucket": "src", "Key": "k", "VersionId": "v"},
        },
    )
    assert set(needs_of(copy)) == {
        ("s3:GetObjectVersion", "arn:aws:s3:::src/k"),
        ("s3:ListBucket", "arn:aws:s3:::src"),
        ("s3:GetObjectVersionTagging", "arn:aws:s3:::src/k"),
        ("s3:PutObject", "arn:aws:s3:::bak/k@1"),
        ("s3:PutObjectTagging", "arn:aws:s3:::bak/k@1"),
    }
    transact = Call(
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Update": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]},
    )
    assert needs_of(transact) == [
        ("dynamodb:UpdateItem", _table("t")),
        ("dynamodb:ConditionCheckItem", _table("t")),
    ]
    grant = Grant("S", "s3:GetObject", "arn:aws:s3:::src/*")
    assert allows(grant, ("s3:getobject", "arn:aws:s3:::src/a/[b]"))
    assert not allows(grant, ("s3:GetObject", "arn:aws:s3:::src-other/a"))
    assert not allows(grant, ("s3:GetObjectVersion", "arn:aws:s3:::src/a"))
    assert iam_match("arn:aws:s3:::b?", "arn:aws:s3:::bx") and not iam_match("a", "A")
    # the probe of test_every_grant_names_the_stacks_own_resources catches a too-wide grant
    wide = Grant("S", "s3:GetObject", "arn:aws:s3:::src-bucket*/*")
    assert any(
        iam_match(wide.resource, arn) for arn in _foreign_arns(Settings("src-bucket", "b", "t"))
    )


def _foreign_arns(settings: Settings) -> list[str]:
    """ARNs of things that are not this deployment's: no grant may reach them."""
    other_account = f"arn:{PARTITION}:sqs:{REGION}:999999999999"
    return [
        _bucket("someone-elses-bucket"),
        _object("someone-elses-bucket", "secret"),
        _object(f"{settings.source_bucket}-other", "k"),
        _object(f"x{settings.backup_bucket}", "k"),
        _table("other-table"),
        _table(f"{settings.table}-other"),
        _table("other-table") + "/index/DisownedIndex",
        f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:other-queue",
        f"{other_account}:other-queue",
        f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other:log-stream:s",
        f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/ob-replicator-x:*",
        _kms("someone-elses-key"),
        f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:alias/aws/s3",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_grant_names_the_stacks_own_resources(runs: list[Run], role: str) -> None:
    """A grant that is needed may still be too wide ("*", another bucket): probe it."""
    for run in runs:
        for grant in role_grants(ROLES[role], run.settings, role):
            assert grant.resource != "*", grant
            reaches = [arn for arn in _foreign_arns(run.settings) if iam_match(grant.resource, arn)]
            assert reaches == [], grant


def _kms_grants(settings: Settings, template: str = "replicator.yaml") -> set[tuple[str, str]]:
    role = template.removesuffix(".yaml")
    return {
        (grant.action, grant.resource)
        for grant in role_grants(template, settings, role)
        if grant.action.lower().startswith("kms:")
    }


def test_kms_grants_exist_exactly_when_needed_and_name_exactly_the_keys(runs: list[Run]) -> None:
    plain, versioned, kms = runs
    assert _kms_grants(plain.settings) == set() == _kms_grants(versioned.settings)
    assert _kms_grants(kms.settings) == {
        ("kms:Decrypt", SOURCE_KEY),
        ("kms:Decrypt", OTHER_SOURCE_KEY),
        ("kms:GenerateDataKey", BACKUP_KEY),
        ("kms:Decrypt", BACKUP_KEY),
    }
    # Copies encrypted with a key while no source is: only the copies' statement.
    only_copies = Settings("src-bucket", "bak-bucket", "copies", backup_kms_key=BACKUP_KEY)
    assert _kms_grants(only_copies) == {
        ("kms:GenerateDataKey", BACKUP_KEY),
        ("kms:Decrypt", BACKUP_KEY),
    }
    # The cleaner only deletes copies: no KMS permission, whatever the keys.
    assert _kms_grants(kms.settings, "cleaner.yaml") == set()


@pytest.mark.parametrize("name", ["storage.yaml", "replicator.yaml", "cleaner.yaml"])
def test_bucket_policies_grant_nothing(name: str) -> None:
    """The buckets' own policies only deny (insecure transport): no principal gains access."""
    template = load(name)
    for logical_id, policy in resources(template, "AWS::S3::BucketPolicy").items():
        statements = as_list(props(policy)["PolicyDocument"]["Statement"])
        assert statements, logical_id
        assert {statement["Effect"] for statement in statements} == {"Deny"}, logical_id
