"""Throughput through the sandbox: N objects written as fast as a client can, then the time until
every one is backed up, against the raw CopyObject rate of the same emulator in the same run.

    .venv/bin/python -m bench.sandbox_throughput [--objects 1000] [--threads 16] [--json]
    .venv/bin/python -m bench.sandbox_throughput --idle-only [--idle 40]

It starts `objbackup sandbox` on a free port, deploys with `objbackup deploy --yes`, writes the
objects with boto3 from a thread pool, and waits for the backup bucket to hold one copy of each.
Write-to-copy latency is the copy record's `created_at` (stamped by the replicator right after the
copy) minus the moment the client's PutObject returned. Then it times N CopyObject calls, with the
same thread count, between two scratch buckets: the emulator's own ceiling. Last, with the
backlog gone, `--idle` single writes a moment apart, each timed the same way to its copy record:
the write-to-copy latency of an idle deployment (target p99 under 250 ms). `--idle-only` runs
that last part alone, on a fresh deployment.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.report import Figure, emit
from bench.sandbox import deployed_sandbox

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(objects: int, threads: int, idle: int = 40) -> tuple[list[Figure], dict[str, Any]]:
    with deployed_sandbox("bench", threads) as sandbox:
        status = sandbox.status
        s3, dynamodb = sandbox.client("s3"), sandbox.client("dynamodb")
        source, backup = status["source_bucket"], status["backup_bucket"]
        keys = [f"load/{n:05d}.bin" for n in range(objects)]
        written: dict[str, float] = {}

        def put(key: str) -> None:
            s3.put_object(Bucket=source, Key=key, Body=os.urandom(1024))
            written[key] = time.time()

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, keys))
        write_seconds = time.monotonic() - started
        deadline = time.monotonic() + 600
        while _count(s3, backup) < objects:
            if time.monotonic() > deadline:
                raise SystemExit("not every object was backed up within 600 s")
            time.sleep(0.25)
        all_backed_up = time.monotonic() - started
        latencies = []
        for key in keys:
            copied = _copied_at(dynamodb, status["table"], key)
            if copied is None:
                raise SystemExit(f"{key} has no copy record")
            latencies.append(copied - written[key])
        copy_rate = _raw_copy_rate(s3, objects, threads)
        quiet = _idle_latencies(s3, dynamodb, source, status["table"], idle)
        sandbox.run("teardown", "--yes")
    throughput = objects / all_backed_up
    figures = [
        Figure("objects written", objects, "objects", detail=f"{threads} client threads"),
        Figure(
            "write phase", round(write_seconds, 2), "s", detail=f"{objects / write_seconds:.0f}/s"
        ),
        Figure("all backed up after", round(all_backed_up, 2), "s", detail="from the first write"),
        Figure("backup throughput", round(throughput, 1), "objects/s"),
        Figure("p50 write-to-copy", round(statistics.median(latencies) * 1000), "ms"),
        Figure("p99 write-to-copy", round(_percentile(latencies, 0.99) * 1000), "ms"),
        Figure("raw CopyObject rate", round(copy_rate, 1), "copies/s", detail="same emulator"),
        *_idle_figures(quiet),
        Figure(
            "throughput / CopyObject rate",
            round(100 * throughput / copy_rate, 1),
            "%",
            detail="each backup costs 4-6 emulator calls plus the queue's",
        ),
    ]
    return figures, {"threads": threads, "cpu_count": os.cpu_count()}


def measure_idle(idle: int) -> tuple[list[Figure], dict[str, Any]]:
    """Only the idle part: `idle` single writes on a freshly deployed, otherwise idle sandbox,
    after one untimed write that starts the function's first instance (its cold start), as the
    backlog does before the idle part of the full run."""
    load = os.getloadavg()[0]
    with deployed_sandbox("bench", 1) as sandbox:
        status = sandbox.status
        s3, dynamodb = sandbox.client("s3"), sandbox.client("dynamodb")
        _idle_latencies(s3, dynamodb, status["source_bucket"], status["table"], 1, "warm")
        quiet = _idle_latencies(s3, dynamodb, status["source_bucket"], status["table"], idle)
        sandbox.run("teardown", "--yes")
    figures = [
        *_idle_figures(quiet),
        Figure("idle max write-to-copy", round(max(quiet) * 1000), "ms"),
    ]
    loads = f"{load:.2f} before, {os.getloadavg()[0]:.2f} after"
    return figures, {"cpu_count": os.cpu_count(), "load_average_1min": loads}


def _idle_figures(quiet: list[float]) -> list[Figure]:
    """p50 and p99 of the idle single writes' write-to-copy latencies."""
    return [
        Figure("idle p50 write-to-copy", round(statistics.median(quiet) * 1000), "ms"),
        Figure(
            "idle p99 write-to-copy",
            round(_percentile(quiet, 0.99) * 1000),
            "ms",
            target=250,
            detail=f"{len(quiet)} single writes, 0.3 to 1 s apart",
        ),
    ]


def _copied_at(dynamodb: DynamoDBClient, table: str, key: str) -> float | None:
    """When the replicator recorded the key's first copy record (epoch seconds); None: none yet."""
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="source_object = :k",
        ExpressionAttributeValues={":k": {"S": key}},
    )["Items"]
    if not items:
        return None
    return datetime.fromisoformat(items[0]["created_at"]["S"].replace("Z", "+00:00")).timestamp()


def _idle_latencies(
    s3: S3Client,
    dynamodb: DynamoDBClient,
    source: str,
    table: str,
    count: int,
    prefix: str = "idle",
) -> list[float]:
    """Write-to-copy of `count` single writes on the idle sandbox, each waited for in turn."""
    pause = random.Random(1)
    latencies = []
    for n in range(count):
        time.sleep(pause.uniform(0.3, 1.0))  # let the pollers go idle, as between user writes
        key = f"{prefix}/{n:04d}.bin"
        s3.put_object(Bucket=source, Key=key, Body=os.urandom(1024))
        written = time.time()
        deadline = time.monotonic() + 60
        while True:
            copied = _copied_at(dynamodb, table, key)
            if copied is not None:
                latencies.append(copied - written)
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{key} was not backed up within 60 s")
            time.sleep(0.01)
    return latencies


def _count(s3: S3Client, bucket: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(page.get("KeyCount", 0) for page in pages)


def _raw_copy_rate(s3: S3Client, objects: int, threads: int) -> float:
    s3.create_bucket(Bucket="bench-raw-source")
    s3.create_bucket(Bucket="bench-raw-target")
    keys = [f"raw/{n:05d}" for n in range(objects)]
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda k: s3.put_object(Bucket="bench-raw-source", Key=k, Body=b"x" * 1024), keys
            )
        )
        started = time.monotonic()
        list(
            pool.map(
                lambda k: s3.copy_object(
                    Bucket="bench-raw-target",
                    Key=k,
                    CopySource={"Bucket": "bench-raw-source", "Key": k},
                ),
                keys,
            )
        )
        return objects / (time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_throughput", description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--idle", type=int, default=40, help="single writes on the idle sandbox")
    parser.add_argument(
        "--idle-only", action="store_true", help="only the idle single writes, no backlog"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.idle_only:
        figures, info = measure_idle(args.idle)
    else:
        figures, info = measure(args.objects, args.threads, args.idle)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return emit("sandbox_throughput", f"Sandbox throughput ({when})", figures, args.json, **info)


if __name__ == "__main__":
    sys.exit(main())
