"""The specification's whole scenario, driven as a user would: the AWS CLI writes and deletes,
`objbackup` deploys, lists, cleans and tears down, all against `objbackup sandbox` over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Tools
from tests.e2e.events import object_created
from tests.polling import wait_for

pytestmark = pytest.mark.e2e
KEY = "reports/2026/q4 summary+final.csv"


@pytest.fixture(scope="module")
def deployed(tools: Tools) -> dict[str, Any]:
    tools.objbackup("deploy", "--yes")
    status: dict[str, Any] = tools.objbackup_json("status")
    assert status["stacks"] == {
        "storage": "CREATE_COMPLETE",
        "replicator": "CREATE_COMPLETE",
        "cleaner": "CREATE_COMPLETE",
    }
    return status


def test_second_deploy_changes_nothing(tools: Tools, deployed: dict[str, Any]) -> None:
    again = tools.objbackup("deploy", "--yes")
    assert "no changes" in (again.stdout + again.stderr).lower()
    assert tools.objbackup_json("status")["stacks"] == deployed["stacks"]


def test_writes_keep_three_copies_then_delete_disowns_and_clean_removes(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    source, backup = deployed["source_bucket"], deployed["backup_bucket"]
    for version in range(1, 6):
        body = tmp_path / f"v{version}.csv"
        body.write_text(f"version {version}\n")
        tools.aws("s3", "cp", str(body), f"s3://{source}/{KEY}")
        head = tools.aws_json("s3api", "head-object", "--bucket", source, "--key", KEY)
        etag = head["ETag"].strip('"')

        # each version is backed up (and the oldest pruned) before the next is written; the
        # replicator records a new copy before it prunes, so a look in between sees one more
        def backed_up(etag: str = etag) -> list[dict[str, Any]] | None:
            a = tools.table_copies(KEY)
            return a if a and a[0]["etag"] == etag and len(a) <= 3 else None

        newest = wait_for(backed_up, what=f"version {version} backed up")
        assert len(newest) == min(version, 3)
    active = tools.active(KEY)
    assert active == newest, "`objbackup list` shows what the table holds"
    assert tools.bucket_keys(backup) == sorted(c["copy_name"] for c in active)
    newest_copy = tmp_path / "newest"
    tools.aws("s3", "cp", f"s3://{backup}/{active[0]['copy_name']}", str(newest_copy))
    assert newest_copy.read_text() == "version 5\n"

    tools.aws("s3", "rm", f"s3://{source}/{KEY}")

    def all_disowned() -> list[dict[str, Any]] | None:
        c = tools.table_copies(KEY)
        return c if c and all(x["status"] == "disowned" for x in c) else None

    disowned = wait_for(all_disowned, what="copies disowned")
    assert len(disowned) == 3 and all(c["disowned_at"] for c in disowned)

    # straight after the poll: the grace period (10 s) runs from the disowning
    early = tools.objbackup_json("clean", "--now")
    assert early["deleted"] == 0 and early["dry_run"] is False
    assert tools.copies(KEY) == disowned, "`objbackup list` shows what the table holds"

    last = max(datetime.fromisoformat(c["disowned_at"].replace("Z", "+00:00")) for c in disowned)
    wait_for(
        lambda: (datetime.now(UTC) - last).total_seconds() > deployed["grace_seconds"] + 0.5,
        what="the grace period",
    )
    dry = tools.objbackup_json("clean", "--now", "--dry-run")
    assert dry["dry_run"] is True and sorted(dry["copies"]) == sorted(
        c["copy_name"] for c in disowned
    )
    assert len(tools.copies(KEY)) == 3
    report = tools.objbackup_json("clean", "--now")
    assert report["deleted"] == 3 and report["failed"] == 0
    assert tools.copies(KEY) == []
    assert tools.bucket_keys(backup) == []


def test_same_event_twice_makes_one_copy(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    source, queue = deployed["source_bucket"], deployed["queue_url"]
    key = "dup/é + ü.txt"
    body = tmp_path / "dup.txt"
    body.write_text("once")
    tools.aws("s3", "cp", str(body), f"s3://{source}/{key}")
    wait_for(lambda: len(tools.table_active(key)) == 1, what="the first copy")
    etag = tools.aws_json("s3api", "head-object", "--bucket", source, "--key", key)["ETag"]
    message = json.dumps(object_created(source, key, etag.strip('"'), 4, "FFFFFFFFFFFFFFFFFF"))
    for _ in range(2):
        tools.aws("sqs", "send-message", "--queue-url", queue, "--message-body", message)
    wait_for(lambda: len(tools.table_active(key)) == 2, what="the redelivered event's copy")
    wait_for(lambda: tools.queue_settled(queue), what="both deliveries handled")
    assert len(tools.active(key)) == 2, "the second delivery of one event made another copy"


def test_malformed_message_goes_to_the_dead_letter_queue_and_the_flow_goes_on(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    queue, source = deployed["queue_url"], deployed["source_bucket"]
    # AWS's redelivery waits for the visibility timeout (30 min here); shorten it for the test.
    tools.aws(
        "sqs", "set-queue-attributes", "--queue-url", queue, "--attributes", "VisibilityTimeout=1"
    )
    tools.aws("sqs", "send-message", "--queue-url", queue, "--message-body", "{not json")
    body = tmp_path / "after.txt"
    body.write_text("still flowing")
    tools.aws("s3", "cp", str(body), f"s3://{source}/after.txt")
    wait_for(lambda: tools.table_active("after.txt"), what="a copy despite the bad message")
    assert len(tools.active("after.txt")) == 1
    wait_for(
        lambda: tools.queue_depth(deployed["dlq_url"]) == 1,
        timeout=90,
        what="the malformed message in the dead-letter queue",
    )
    status = tools.objbackup_json("status")
    assert status["dlq_depth"] == 1 and status["queue_depth"] == 0
    dead = tools.aws_json(
        "sqs",
        "receive-message",
        "--queue-url",
        deployed["dlq_url"],
        "--max-number-of-messages",
        "10",
    )
    assert [m["Body"] for m in dead["Messages"]] == ["{not json"]


def test_teardown_leaves_no_stack_and_no_bucket(tools: Tools, deployed: dict[str, Any]) -> None:
    tools.objbackup("teardown", "--yes")
    stacks = tools.aws_json("cloudformation", "describe-stacks").get("Stacks", [])
    live = [s["StackName"] for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    assert tools.own(live) == []
    buckets = [b["Name"] for b in tools.aws_json("s3api", "list-buckets").get("Buckets", [])]
    assert tools.own(buckets) == []
    assert not {deployed["source_bucket"], deployed["backup_bucket"]} & set(buckets)
    gone = tools.objbackup("status", check=False)
    assert gone.returncode == 1
    assert f"no objbackup deployment named {tools.name}" in gone.stderr
