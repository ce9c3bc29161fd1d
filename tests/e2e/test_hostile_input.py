"""End to end: hostile keys and objects written to `objbackup sandbox` with a real client
each end in a correct copy, and hostile events sent to the replicator's queue end in the
dead-letter queue with a JSON line in the function log naming the message and the reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from objbackup.core.naming import MAX_KEY_BYTES
from tests.e2e.conftest import Tools
from tests.e2e.events import object_created
from tests.polling import wait_for

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

pytestmark = pytest.mark.e2e

# Deployed with a small threshold, so a 200 KiB object takes the multipart (UploadPartCopy) path.
THRESHOLD = 64 * 1024
BIG = 200 * 1024


@dataclass(frozen=True)
class Hostile:
    """One hostile write: the key, the bytes, and what else the writer attached."""

    name: str
    key: str
    body: bytes
    extra: dict[str, Any] = field(default_factory=dict)


DESCRIBED: dict[str, Any] = {
    "ContentType": "application/x-ndjson",
    "CacheControl": "max-age=60",
    "Metadata": {"owner": "ops", "ticket": "42"},
    "Tagging": "team=platform&tier=gold",
}
LONG_KEY = "long/" + "k" * (MAX_KEY_BYTES - len("long/"))
HOSTILE: list[Any] = [
    Hostile("dot-dot", "../../etc/passwd", b"root:x:0:0"),
    Hostile("dot-dot-inside", "a/../b/./c/..", b"dots"),
    Hostile("tab", "ctl/tab\there", b"tab"),
    Hostile("soh", "ctl/soh\x01here", b"soh"),
    Hostile("del", "ctl/del\x7fhere", b"del"),
    pytest.param(
        Hostile("newline", "ctl/new\nline", b"newline"),
        marks=pytest.mark.xfail(
            strict=True,
            raises=ClientError,
            reason="moto's server routes no key with a line break (PutObject answers 404); "
            "S3 and in-process moto accept it",
        ),
    ),
    Hostile("percent-plus-space", "odd/100% + done .txt", b"plus"),
    Hostile("1024-bytes", LONG_KEY, b"long"),
    Hostile("1024-bytes-multibyte", "é" * (MAX_KEY_BYTES // 2), b"accents"),
    Hostile("zero-bytes", "empty/zero", b""),
    Hostile("single-copy-described", "described/small.ndjson", b"s" * 1000, DESCRIBED),
    Hostile(
        "multipart-described", "described/big.ndjson", bytes(range(256)) * (BIG // 256), DESCRIBED
    ),
]


def _name(case: Any) -> str:
    return str(case.name if isinstance(case, Hostile) else case.values[0].name)


@pytest.fixture(scope="module")
def deployed(tools: Tools) -> dict[str, Any]:
    tools.objbackup("deploy", "--yes", "--multipart-threshold", str(THRESHOLD))
    status: dict[str, Any] = tools.objbackup_json("status")
    assert set(status["stacks"].values()) == {"CREATE_COMPLETE"}
    return status


@pytest.fixture(scope="module")
def s3(tools: Tools) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=tools.endpoint_url,
        region_name=tools.env["AWS_REGION"],
        aws_access_key_id=tools.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=tools.env["AWS_SECRET_ACCESS_KEY"],
    )


def _tags(s3: S3Client, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def _function_log(tools: Tools) -> list[dict[str, Any]]:
    """The JSON lines the deployed functions wrote (the sandbox's stderr, where they go)."""
    lines = []
    for line in tools.sandbox_log.read_text(errors="replace").splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


@pytest.mark.parametrize("case", HOSTILE, ids=[_name(case) for case in HOSTILE])
def test_hostile_object_is_backed_up_exactly(
    tools: Tools, deployed: dict[str, Any], s3: S3Client, case: Hostile
) -> None:
    source, backup = deployed["source_bucket"], deployed["backup_bucket"]
    put = s3.put_object(Bucket=source, Key=case.key, Body=case.body, **case.extra)
    etag = put["ETag"].strip('"')
    [copy] = wait_for(
        lambda: (a := tools.table_active(case.key)) and a[0]["etag"] == etag and a,
        what=f"the copy of {case.key[:40]!r}",
    )
    assert tools.active(case.key) == [copy], "`objbackup list` shows what the table holds"
    assert copy["size"] == len(case.body)
    name = copy["copy_name"]
    assert len(name.encode("utf-8")) <= MAX_KEY_BYTES
    if len(case.key.encode("utf-8")) >= MAX_KEY_BYTES - 64:
        assert "#" in name, "a key too long for the suffix is hashed"
    else:
        assert name.startswith(case.key + "@"), "the copy sits under the key, verbatim"
    got = s3.get_object(Bucket=backup, Key=name)
    assert got["Body"].read() == case.body
    if case.extra:
        assert got["ContentType"] == DESCRIBED["ContentType"]
        assert got["CacheControl"] == DESCRIBED["CacheControl"]
        assert got["Metadata"] == DESCRIBED["Metadata"]
        assert _tags(s3, backup, name) == {"team": "platform", "tier": "gold"}
        # A multipart copy's ETag is "<md5 of part md5s>-<parts>"; a CopyObject's is the source's.
        multipart = len(case.body) >= THRESHOLD
        assert got["ETag"].strip('"').endswith("-1") == multipart
        assert (got["ETag"].strip('"') == etag) == (not multipart)
    log = wait_for(
        lambda: [
            line
            for line in _function_log(tools)
            if line.get("event") == "object" and line.get("copy_name") == name
        ],
        what="the replicator's log line",
    )
    assert log[0]["outcome"] == "copied" and log[0]["key"] == case.key


def _no_key(bucket: str) -> str:
    event = object_created(bucket, "x")
    del event["detail"]["object"]["key"]
    return json.dumps(event)


REFUSED: list[tuple[str, Callable[[str], str], str]] = [
    (
        "another-bucket",
        lambda source: json.dumps(object_created("someone-elses-bucket", "refused/other.txt")),
        "is not the source bucket",
    ),
    ("not-json", lambda source: "{not json", "body is not JSON"),
    ("no-key", _no_key, "key"),
    ("not-an-s3-event", lambda source: json.dumps({"hello": "world"}), "neither an EventBridge"),
]


@pytest.fixture(scope="module")
def short_visibility(tools: Tools, deployed: dict[str, Any]) -> None:
    """AWS retries a failed message after the visibility timeout (30 min here): make it 1 s."""
    tools.aws(
        "sqs",
        "set-queue-attributes",
        "--queue-url",
        deployed["queue_url"],
        "--attributes",
        "VisibilityTimeout=1",
    )


def _dead_letters(tools: Tools, dlq: str) -> dict[str, str]:
    """Message id -> body of the dead-letter queue's messages (left visible for the next look)."""
    received = tools.client("sqs").receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return {m["MessageId"]: m["Body"] for m in received.get("Messages", [])}


@pytest.mark.parametrize(
    ("body_of", "reason"), [(b, r) for _, b, r in REFUSED], ids=[n for n, _, _ in REFUSED]
)
def test_refused_event_reaches_the_dead_letter_queue_with_a_log_line(
    tools: Tools,
    deployed: dict[str, Any],
    short_visibility: None,
    s3: S3Client,
    body_of: Callable[[str], str],
    reason: str,
) -> None:
    body = body_of(deployed["source_bucket"])
    sent = tools.aws_json(
        "sqs", "send-message", "--queue-url", deployed["queue_url"], "--message-body", body
    )
    message_id = sent["MessageId"]
    dead: dict[str, str] = wait_for(
        lambda: d if message_id in (d := _dead_letters(tools, deployed["dlq_url"])) else None,
        timeout=90,
        what=f"message {message_id} in the dead-letter queue",
    )
    assert dead[message_id] == body
    rejected = [
        line
        for line in _function_log(tools)
        if line.get("message_id") == message_id and line.get("event") == "rejected"
    ]
    # one line per delivery, each naming the message and the reason, none an unexpected failure
    assert len(rejected) >= 1
    assert all(reason in line["reason"] for line in rejected), rejected
    assert all(line["error"] in {"MalformedEvent", "ForeignBucket"} for line in rejected)
    assert not [
        line
        for line in _function_log(tools)
        if line.get("message_id") == message_id and line.get("event") != "rejected"
    ]
    # nothing was copied for a refused event
    assert tools.active("refused/other.txt") == []
    listed = s3.list_objects_v2(Bucket=deployed["backup_bucket"], Prefix="refused/")
    assert listed.get("KeyCount", 0) == 0


def test_teardown_empties_and_deletes_buckets_holding_keys_xml_cannot_carry(
    tools: Tools, deployed: dict[str, Any]
) -> None:
    """Runs last in the module (it removes the deployment). A `\\x01` key written with
    the AWS CLI, its copy and (on a versioned source) its versions no longer sink teardown."""
    source, backup = deployed["source_bucket"], deployed["backup_bucket"]
    key = "teardown/soh\x01cr\r.txt"
    tools.aws(
        "s3api", "put-bucket-versioning", "--bucket", source,
        "--versioning-configuration", "Status=Enabled",
    )  # fmt: skip
    for _ in range(2):  # two versions of the key
        tools.aws("s3api", "put-object", "--bucket", source, "--key", key)
    wait_for(lambda: len(tools.table_copies(key)) >= 1, what="a copy of the \\x01 key")
    tools.objbackup("teardown", "--yes")
    buckets = {b["Name"] for b in tools.aws_json("s3api", "list-buckets").get("Buckets", [])}
    assert not buckets & {source, backup}
    stacks = tools.aws_json("cloudformation", "describe-stacks").get("Stacks", [])
    assert tools.own([s["StackName"] for s in stacks]) == []
