"""deploy -> list -> status -> clean --now -> teardown, against moto in process.

Objects written to the source bucket travel S3 -> EventBridge -> the deployed queue (the
sandbox's gap closers route them); the test then plays the event source mapping, handing the
queued messages to the deployed replicator through Lambda Invoke, which runs in process.
"""

from __future__ import annotations

import json
import time
from typing import Any

from objbackup.deploy.connection import ServiceClients
from tests.cli.conftest import Cli


def drain_queue(cli: ServiceClients, status: dict[str, Any]) -> int:
    """Deliver every queued message to the replicator function, as the event source mapping
    would; returns how many were handled."""
    sqs, lam = cli.client("sqs"), cli.client("lambda")
    handled = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=status["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return handled
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
            }
            for m in messages
        ]
        response = lam.invoke(
            FunctionName=status["replicator_function"],
            Payload=json.dumps({"Records": records}).encode(),
        )
        assert "FunctionError" not in response, response["Payload"].read()
        answer = json.loads(response["Payload"].read())
        assert answer == {"batchItemFailures": []}
        for m in messages:
            sqs.delete_message(QueueUrl=status["queue_url"], ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)


def test_deploy_list_status_clean_teardown(cli: Cli) -> None:
    started = time.perf_counter()
    deployed = cli.ok("deploy", "--yes", "--grace", "0", "--retain", "2")
    assert "Deployed objbackup in us-east-1" in deployed.stderr
    assert "SourceBucketName" in deployed.stdout and "QueueUrl" in deployed.stdout
    again = cli.ok("deploy", "--yes", "--grace", "0", "--retain", "2")
    assert "No changes" in again.stderr

    status = cli.json("status")
    assert status["stacks"] == dict.fromkeys(
        ("storage", "replicator", "cleaner"), "CREATE_COMPLETE"
    )
    assert (status["retain"], status["grace_seconds"], status["schedule"]) == (
        2,
        0.0,
        "rate(1 minute)",
    )
    s3, source = cli.client("s3"), status["source_bucket"]

    s3.put_object(Bucket=source, Key="keep.txt", Body=b"kept")
    s3.put_object(Bucket=source, Key="reports/q4 summary.csv", Body=b"one")
    assert cli.json("status")["queue_depth"] == 2  # the rule delivered both events
    assert drain_queue(cli, status) == 2
    for version in (b"two", b"three"):  # each version is backed up before the next is written
        s3.put_object(Bucket=source, Key="reports/q4 summary.csv", Body=version)
        assert drain_queue(cli, status) == 1
    assert cli.json("status")["queue_depth"] == 0

    listed = cli.json("list", "reports/q4 summary.csv")
    assert listed["object"] == "reports/q4 summary.csv"
    assert [c["status"] for c in listed["copies"]] == ["active", "active"]  # retain 2
    newest = listed["copies"][0]
    assert s3.get_object(Bucket=status["backup_bucket"], Key=newest["copy_name"])[
        "Body"
    ].read() == (b"three")
    table = cli.ok("list", "reports/q4 summary.csv")
    assert newest["copy_name"] in table.stdout

    s3.delete_object(Bucket=source, Key="reports/q4 summary.csv")
    assert drain_queue(cli, status) == 1
    disowned = cli.json("list", "--disowned")["disowned"]
    assert sorted(c["copy_name"] for c in disowned) == sorted(
        c["copy_name"] for c in listed["copies"]
    )
    assert all(c["status"] == "disowned" and c["disowned_at"] for c in disowned)

    dry = cli.json("clean", "--now", "--dry-run")
    assert dry["dry_run"] is True and dry["deleted"] == 0
    assert sorted(dry["copies"]) == sorted(c["copy_name"] for c in disowned)
    assert len(cli.json("list", "--disowned")["disowned"]) == 2

    report = cli.json("clean", "--now")
    assert (report["dry_run"], report["deleted"], report["failed"]) == (False, 2, 0)
    assert cli.json("list", "reports/q4 summary.csv")["copies"] == []
    assert cli.json("list", "--disowned") == {"disowned": []}
    assert len(cli.json("list", "keep.txt")["copies"]) == 1

    gone = cli.ok("teardown", "--yes")
    assert "is gone (3 stacks deleted)" in gone.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
    assert s3.list_buckets()["Buckets"] == []
    assert cli.client("dynamodb").list_tables()["TableNames"] == []
    missing = cli("status")
    assert missing.exit_code == 1
    assert "no objbackup deployment named objbackup in region us-east-1" in missing.stderr
    assert "objbackup deploy" in missing.stderr
    print(f"round trip in moto: {time.perf_counter() - started:.2f} s")
