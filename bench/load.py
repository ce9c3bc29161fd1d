"""Load through the sandbox, checked: a burst of writes over fewer keys (so most keys are
overwritten several times), then deletes, then a clean; at rest invariants 1 to 3 of DESIGN.md
must hold for every key, checked against the source and backup buckets, not only the table.

    .venv/bin/python -m bench.load [--writes 10000] [--keys 2000] [--deletes 1000]
                                   [--fault-rate 0.05] [--threads 16] [--json]

Reports throughput, write-to-copy latency percentiles (p50, p95, p99), the sandbox's peak memory,
SQS redeliveries (message ids the functions logged twice) and, with a fault rate, how many faults
were injected and how many SDK retries rode them out (both from the sandbox's fault log). Exits 1
if any invariant fails or a message reaches the dead-letter queue.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import Figure, emit
from bench.sandbox import deployed_sandbox
from bench.sandbox_throughput import _percentile
from objbackup.core.records import ACTIVE
from objbackup.core.table import CopyTable
from tests.queue import queue_at_rest

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _nothing_to_clean(dynamodb: DynamoDBClient, table: str) -> bool:
    """No disowned record left, and none claimed by a cleaner (a scheduled run may still be
    finishing after `clean --now` returned: its records outlive their copies for a moment)."""
    return not any(
        dynamodb.query(
            TableName=table,
            IndexName="DisownedIndex",
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}},
            Limit=1,
        )["Items"]
        for status in ("disowned", "cleaning")
    )


def _wait(probe: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def deliveries(log: Path) -> dict[str, int]:
    """From the functions' JSON log lines: messages handled, SQS redeliveries (a message id
    logged again) and failed deliveries (ERROR lines, left to the visibility timeout)."""
    seen: Counter[str] = Counter()
    failed = 0
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if not line.startswith("{"):
            continue
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if "message_id" in fields:
            seen[str(fields["message_id"])] += 1
            failed += "error" in fields or fields.get("outcome") == "failed"
    return {
        "messages": len(seen),
        "redeliveries": sum(n - 1 for n in seen.values()),
        "failed": failed,
    }


def _faults(fault_log: Path) -> Counter[str]:
    lines = fault_log.read_text().splitlines() if fault_log.exists() else []
    return Counter(str(json.loads(line)["kind"]) for line in lines)


def measure(
    writes: int, keys: int, deletes: int, threads: int, fault_rate: float
) -> tuple[list[Figure], dict[str, Any]]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    fault_log, function_log = scratch / "faults.jsonl", scratch / "sandbox.log"
    faulty = ["--fault-rate", str(fault_rate), "--fault-log", str(fault_log)] if fault_rate else []
    with deployed_sandbox("load", threads, faulty, log=function_log) as sandbox:
        status = sandbox.status
        s3, sqs = sandbox.client("s3"), sandbox.client("sqs")
        dynamodb = sandbox.client("dynamodb")
        source = status["source_bucket"]
        names = [f"load/{n:05d}/object {n}.bin" for n in range(keys)]
        chooser = random.Random(7)
        plan = [names[n] if n < keys else chooser.choice(names) for n in range(writes)]
        written_at: dict[bytes, float] = {}

        def put(item: tuple[int, str]) -> None:
            n, key = item
            body = f"{key} write {n}".encode()
            s3.put_object(Bucket=source, Key=key, Body=body)
            written_at[body] = time.time()

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, enumerate(plan)))
        write_seconds = time.monotonic() - started
        _wait(lambda: queue_at_rest(sqs, status["queue_url"]), 3600, "the writes to be handled")
        write_phase = time.monotonic() - started
        deleted = set(chooser.sample(names, deletes))
        delete_started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: s3.delete_object(Bucket=source, Key=k), deleted))
        _wait(lambda: queue_at_rest(sqs, status["queue_url"]), 3600, "the deletes to be handled")
        delete_phase = time.monotonic() - delete_started
        time.sleep(float(status["grace_seconds"]) + 1)  # let the grace period pass, then clean
        clean_started = time.monotonic()
        report = json.loads(sandbox.run("clean", "--now", "--json"))
        clean_seconds = time.monotonic() - clean_started
        _wait(lambda: _nothing_to_clean(dynamodb, status["table"]), 600, "cleaning to finish")
        problems, latencies = _check(s3, dynamodb, status, names, deleted, written_at)
        dlq = sqs.get_queue_attributes(
            QueueUrl=status["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        peak = _peak_rss_mib(sandbox.pid)
        sandbox.run("teardown", "--yes")
    faults = _faults(fault_log)
    injected = sum(n for kind, n in faults.items() if kind != "retry")
    handled = deliveries(function_log)
    figures = [
        Figure("writes", writes, "writes", detail=f"over {keys} keys, {threads} client threads"),
        Figure(
            "write burst",
            round(write_seconds, 1),
            "s",
            detail=f"{writes / write_seconds:.0f} writes/s",
        ),
        Figure("writes handled after", round(write_phase, 1), "s"),
        Figure("write throughput", round(writes / write_phase, 1), "events/s"),
        Figure("p50 write-to-copy (last write)", round(_percentile(latencies, 0.50) * 1000), "ms"),
        Figure("p95 write-to-copy (last write)", round(_percentile(latencies, 0.95) * 1000), "ms"),
        Figure("p99 write-to-copy (last write)", round(_percentile(latencies, 0.99) * 1000), "ms"),
        Figure("deletes", deletes, "deletes", detail=f"handled after {delete_phase:.1f} s"),
        Figure("clean", report["deleted"], "copies", detail=f"in {clean_seconds:.1f} s"),
        Figure("sandbox peak memory", round(peak), "MiB", detail="VmHWM of the server process"),
        Figure(
            "faults injected", injected, "faults", detail=f"rate {fault_rate:g}: {dict(faults)}"
        ),
        Figure(
            "SDK retries", faults.get("retry", 0), "retries", detail="counted in fault mode only"
        ),
        Figure("messages handled", handled["messages"], "messages"),
        Figure(
            "SQS redeliveries",
            handled["redeliveries"],
            "deliveries",
            detail=f"{handled['failed']} failed deliveries logged",
        ),
        Figure("messages in the DLQ", int(dlq), "messages", target=0),
        Figure("invariant violations", len(problems), "keys", target=0),
    ]
    return figures, {"problems": problems[:10], "scratch": str(scratch)}


def _check(
    s3: S3Client,
    dynamodb: DynamoDBClient,
    status: dict[str, Any],
    names: list[str],
    deleted: set[str],
    written_at: dict[bytes, float],
) -> tuple[list[str], list[float]]:
    """Invariants 1 to 3 for every key, against both buckets; write-to-copy of each last write.

    "Current bytes" are read from the source: two writes to one key from two client threads
    may land in either order, so the client cannot know which one won."""
    problems: list[str] = []
    latencies: list[float] = []
    record_names: set[str] = set()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=status["source_bucket"])
    present = {o["Key"] for page in pages for o in page.get("Contents", [])}
    if present != set(names) - deleted:
        problems.append("the source bucket is not what was written")
    table = CopyTable(dynamodb, status["table"])
    for key in names:
        records = table.copies(key)  # newest first, consistent reads
        record_names |= {r.copy_name for r in records}
        active = [r for r in records if r.status == ACTIVE]
        if key in deleted:
            if active:
                problems.append(f"{key}: deleted but {len(active)} active copies")
            continue
        if not 1 <= len(active) <= int(status["retain"]):
            problems.append(f"{key}: {len(active)} active copies")
            continue
        current = s3.get_object(Bucket=status["source_bucket"], Key=key)["Body"].read()
        newest = s3.get_object(Bucket=status["backup_bucket"], Key=active[0].copy_name)
        if newest["Body"].read() != current:
            problems.append(f"{key}: the newest copy is not the current bytes")
        created = datetime.fromisoformat(str(active[0].created_at).replace("Z", "+00:00"))
        latencies.append(created.timestamp() - written_at[current])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=status["backup_bucket"])
    copies = {o["Key"] for page in pages for o in page.get("Contents", [])}
    if copies != record_names:
        problems.append(
            f"{len(copies - record_names)} orphan copies, "
            f"{len(record_names - copies)} records without copies"
        )
    return problems, latencies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--deletes", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures, info = measure(args.writes, args.keys, args.deletes, args.threads, args.fault_rate)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return emit("load", f"Load through the sandbox ({when})", figures, args.json, **info)


if __name__ == "__main__":
    sys.exit(main())
