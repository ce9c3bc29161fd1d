"""`verify --repair` and `backfill`: one repair or one event that fails never stops the others;
each failure is reported with its reason and the exit code is 1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from objbackup.core.naming import copy_name
from objbackup.deploy.connection import Connection
from tests.cli.conftest import Cli

STUCK = "stuck"
KEYS = ("plain", "soh\x01v", "cr\rv", STUCK)
STAMP = "2020-01-01T00:00:00Z~" + "0" * 32


@pytest.fixture
def deployed(cli: Cli) -> dict[str, Any]:
    cli.ok("deploy", "--yes", "--grace", "0")
    status: dict[str, Any] = cli.json("status")
    s3 = cli.client("s3")
    for key in KEYS:
        s3.put_object(Bucket=status["source_bucket"], Key=key, Body=b"1")
    # Their events are lost, as for objects written before the deployment.
    cli.client("sqs").purge_queue(QueueUrl=status["queue_url"])
    return status


def refuse(monkeypatch: pytest.MonkeyPatch, operation: str, code: str, names: Any) -> None:
    """Clients the CLI builds refuse `operation` whenever `names(params)` holds."""

    def check(params: dict[str, Any], **_: Any) -> None:
        if names(params):
            raise ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)

    original = Connection._client

    def client(self: Connection, service: str) -> BaseClient:
        made = original(self, service)
        made.meta.events.register(f"before-parameter-build.*.{operation}", check)
        return made

    monkeypatch.setattr(Connection, "_client", client)


def names_stuck(params: dict[str, Any]) -> bool:
    return any(f'"key":"{STUCK}"' in e["MessageBody"] for e in params["Entries"])


def queued(cli: Cli, status: dict[str, Any]) -> int:
    attributes = cli.client("sqs").get_queue_attributes(
        QueueUrl=status["queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_backfill_sends_every_other_object_and_names_the_one_it_could_not(
    cli: Cli, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse(monkeypatch, "SendMessageBatch", "InvalidMessageContents", names_stuck)
    result = cli("backfill", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["sent"] == len(KEYS) - 1
    assert report["failed"] == [{"object": STUCK, "reason": "InvalidMessageContents"}]
    text = " ".join(result.stderr.split())
    assert "Error: 1 object could not be sent" in text and "'stuck': InvalidMessageContents" in text
    assert "Hint: run backfill again: it sends only what is still missing" in text
    assert "Traceback" not in result.stderr
    assert queued(cli, deployed) == len(KEYS) - 1


def test_each_repair_is_isolated_and_a_failed_one_says_why(
    cli: Cli, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, backup = cli.client("s3"), deployed["backup_bucket"]
    orphans = {key: copy_name(key, STAMP) for key in KEYS}
    for name in orphans.values():
        s3.put_object(Bucket=backup, Key=name, Body=b"stray")
    refuse(monkeypatch, "SendMessageBatch", "InvalidMessageContents", names_stuck)
    with monkeypatch.context() as patch:
        refuse(patch, "DeleteObject", "AccessDenied", lambda p: p.get("Key") == orphans[STUCK])
        result = cli("verify", "--repair", "--json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    failed = [f for f in findings if not f["repaired"]]
    assert {(f["kind"], f["object"]) for f in failed} == {
        ("orphan-copy", STUCK),
        ("missing-copy", STUCK),
    }
    reasons = {f["kind"]: f["action"] for f in failed}
    assert "AccessDenied" in reasons["orphan-copy"]
    assert "InvalidMessageContents" in reasons["missing-copy"]
    assert len([f for f in findings if f["repaired"]]) == 2 * (len(KEYS) - 1)
    assert "2 findings remain unrepaired" in " ".join(result.stderr.split())
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=backup).get("Contents", [])]
    assert left == [orphans[STUCK]]
    assert queued(cli, deployed) == len(KEYS) - 1
