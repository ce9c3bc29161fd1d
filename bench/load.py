"""Load through the sandbox, checked: a burst of writes over fewer keys (so most keys are
overwritten several times), then deletes, then a clean; at rest invariants 1 to 3 of DESIGN.md
must hold for every key, checked against the source and backup buckets, not only the table.

    .venv/bin/python -m bench.load [--writes 10000] [--keys 2000] [--deletes 1000]
                                   [--fault-rate 0.05] [--threads 16] [--json]

Reports throughput, write-to-copy latency percentiles, the sandbox's peak memory and, with a
fault rate, how many faults were injected. Exits 1 if any invariant fails.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Figure, emit
from bench.sandbox import deployed_sandbox
from bench.sandbox_throughput import _percentile


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _at_rest(sqs: Any, url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def _wait(probe: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def measure(
    writes: int, keys: int, deletes: int, threads: int, fault_rate: float
) -> tuple[list[Figure], dict[str, Any]]:
    fault_log = Path(tempfile.mkdtemp()) / "faults.jsonl"
    faulty = ["--fault-rate", str(fault_rate), "--fault-log", str(fault_log)] if fault_rate else []
    with deployed_sandbox("load", threads, faulty) as sandbox:
        status = sandbox.status
        s3, sqs = sandbox.client("s3"), sandbox.client("sqs")
        dynamodb = sandbox.client("dynamodb")
        source = status["source_bucket"]
        names = [f"load/{n:05d}/object {n}.bin" for n in range(keys)]
        chooser = random.Random(7)
        plan = [names[n] if n < keys else chooser.choice(names) for n in range(writes)]
        last_write: dict[str, float] = {}
        last_body: dict[str, bytes] = {}

        def put(item: tuple[int, str]) -> None:
            n, key = item
            body = f"{key} write {n}".encode()
            s3.put_object(Bucket=source, Key=key, Body=body)
            last_write[key], last_body[key] = time.time(), body

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, enumerate(plan)))
        _wait(lambda: _at_rest(sqs, status["queue_url"]), 1800, "the writes to be handled")
        write_phase = time.monotonic() - started
        deleted = set(chooser.sample(names, deletes))
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: s3.delete_object(Bucket=source, Key=k), deleted))
        _wait(lambda: _at_rest(sqs, status["queue_url"]), 1800, "the deletes to be handled")
        time.sleep(float(status["grace_seconds"]) + 1)  # let the grace period pass, then clean
        clean_started = time.monotonic()
        report = json.loads(sandbox.run("clean", "--now", "--json"))
        clean_seconds = time.monotonic() - clean_started
        problems, latencies = _check(s3, dynamodb, status, names, deleted, last_body, last_write)
        dlq = sqs.get_queue_attributes(
            QueueUrl=status["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        peak = _peak_rss_mib(sandbox.pid)
        sandbox.run("teardown", "--yes")
    faults = fault_log.read_text().count("\n") if fault_log.exists() else 0
    figures = [
        Figure("writes", writes, "writes", detail=f"over {keys} keys, {threads} client threads"),
        Figure("writes handled after", round(write_phase, 1), "s"),
        Figure("write throughput", round(writes / write_phase, 1), "events/s"),
        Figure("p50 write-to-copy (last write)", round(statistics.median(latencies) * 1000), "ms"),
        Figure("p99 write-to-copy (last write)", round(_percentile(latencies, 0.99) * 1000), "ms"),
        Figure("deletes", deletes, "deletes"),
        Figure("clean", report["deleted"], "copies", detail=f"in {clean_seconds:.1f} s"),
        Figure("sandbox peak memory", round(peak), "MiB", detail="VmHWM of the server process"),
        Figure("faults injected", faults, "faults", detail=f"rate {fault_rate:g}"),
        Figure("messages in the DLQ", int(dlq), "messages", target=0),
        Figure("invariant violations", len(problems), "keys", target=0),
    ]
    return figures, {"problems": problems[:10]}


def _check(
    s3: Any,
    dynamodb: Any,
    status: dict[str, Any],
    names: list[str],
    deleted: set[str],
    last_body: dict[str, bytes],
    last_write: dict[str, float],
) -> tuple[list[str], list[float]]:
    """Invariants 1 to 3 for every key, against both buckets; write-to-copy of each last write."""
    problems: list[str] = []
    latencies: list[float] = []
    record_names: set[str] = set()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=status["source_bucket"])
    present = {o["Key"] for page in pages for o in page.get("Contents", [])}
    if present != set(names) - deleted:
        problems.append("the source bucket is not what was written")
    for key in names:
        items = dynamodb.query(
            TableName=status["table"],
            KeyConditionExpression="source_object = :k",
            ExpressionAttributeValues={":k": {"S": key}},
            ConsistentRead=True,
            ScanIndexForward=False,
        )["Items"]
        record_names |= {i["copy_name"]["S"] for i in items}
        active = [i for i in items if i["status"]["S"] == "active"]
        if key in deleted:
            if active:
                problems.append(f"{key}: deleted but {len(active)} active copies")
            continue
        if not 1 <= len(active) <= int(status["retain"]):
            problems.append(f"{key}: {len(active)} active copies")
            continue
        newest = s3.get_object(Bucket=status["backup_bucket"], Key=active[0]["copy_name"]["S"])
        if newest["Body"].read() != last_body[key]:
            problems.append(f"{key}: the newest copy is not the current bytes")
        created = datetime.fromisoformat(active[0]["created_at"]["S"].replace("Z", "+00:00"))
        latencies.append(created.timestamp() - last_write[key])
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
