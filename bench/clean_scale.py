"""The cleaner against a backlog of expired copies: peak memory, time and calls, per backlog size.

    .venv/bin/python -m bench.clean_scale [--copies 10000 100000] [--json]

moto runs in a child process (a threaded moto server with the sandbox's gap closers), seeded
through its backends directly, so this process holds only the cleaner and its clients: the peak is
tracemalloc's highest traced memory during a run above what was traced when it began, the
cleaner's own with botocore's parsing (moto in process would add its own O(table) Query answers).
Runs repeat as the schedule would (each stops before its deadline)
until nothing is left; calls are counted with botocore `before-call` events (retries inside
botocore are not in them; there are none without faults).
"""

from __future__ import annotations

import argparse
import gc
import logging
import multiprocessing
import os
import socket
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bench.report import Figure, breakdown, emit
from objbackup.core.aws import RETRY_CONFIG
from objbackup.core.clean import Cleaner
from objbackup.core.config import Settings
from objbackup.core.naming import iso_now
from objbackup.core.records import DISOWNED, CopyRecord, Status
from objbackup.core.table import CopyTable
from objbackup.sandbox import partition_limit
from tests.harness import REGION, counting_calls, create_table

ACCOUNT = "123456789012"  # moto's default account
SETTINGS = Settings(source_bucket="src", backup_bucket="bak", table="copies")


def _credentials() -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def _records(copies: int, status: Status = DISOWNED) -> list[CopyRecord]:
    """`copies` records of invoices, 3 copies each: expired (disowned an hour ago), or active."""
    disowned_at = iso_now(datetime.now(UTC) - timedelta(hours=1)) if status == DISOWNED else None
    return [
        CopyRecord(
            source_object=f"invoices/{n // 3:07d}.pdf",
            copy_timestamp=f"2026-10-0{1 + n % 3}T08:00:00Z~{n:032X}",
            copy_name=f"invoices/{n // 3:07d}.pdf@2026100{1 + n % 3}T080000Z-{n:032X}",
            status=status,
            disowned_at=disowned_at,
            size=250_000,
            etag=f"{n:032x}",
            created_at="2026-10-01T08:00:01.000000Z",
        )
        for n in range(copies)
    ]


def _serve(
    port: int,
    copies: int,
    ready: Any,
    status: Status = DISOWNED,
    rate: float | None = None,
    burst: float | None = None,
) -> None:
    """The child: a moto server holding `copies` copies and their records (expired, or active
    for a mass delete to disown); if `rate` is given, every index partition takes `rate` writes
    a second, `burst` banked (objbackup.sandbox.partition_limit, switched on as the sandbox's)."""
    _credentials()
    if rate:
        os.environ[partition_limit.ENV_RATE] = repr(rate)
        if burst:
            os.environ[partition_limit.ENV_BURST] = repr(burst)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    from objbackup.sandbox.patches import install_all

    install_all()
    server = ThreadedMotoServer(port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for bucket in (SETTINGS.source_bucket, SETTINGS.backup_bucket):
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=bucket)
    create_table(boto3.client("dynamodb", endpoint_url=url), SETTINGS.table)
    # Straight into moto's backends: through the clients the seeding would take long.
    s3 = s3_backends[ACCOUNT]["global"]
    dynamodb = dynamodb_backends[ACCOUNT][REGION]
    for record in _records(copies, status):
        s3.put_object(SETTINGS.backup_bucket, record.copy_name, b"%PDF")
        dynamodb.put_item(SETTINGS.table, record.to_item())
    ready.put(True)
    threading.Event().wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(copies: int) -> dict[str, Any]:
    """Clean a backlog of `copies` in a fresh moto server; the cleaner's figures."""
    port = _free_port()
    ready: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_serve, args=(port, copies, ready), daemon=True)
    child.start()
    try:
        ready.get(timeout=3600)
        url = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=url, config=RETRY_CONFIG)
        dynamodb = boto3.client("dynamodb", endpoint_url=url, config=RETRY_CONFIG)
        # Load the service models and paginators first: a one-off cost, not the backlog's.
        s3.head_bucket(Bucket=SETTINGS.backup_bucket)
        dynamodb.get_paginator("query")
        cleaner = Cleaner(SETTINGS, s3, CopyTable(dynamodb, SETTINGS.table))
        deleted = failed = runs = peak = 0
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        with counting_calls(s3, dynamodb) as calls:
            while True:
                base = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                report = cleaner.run()
                peak = max(peak, tracemalloc.get_traced_memory()[1] - base)
                runs += 1
                deleted, failed = deleted + report.deleted, failed + report.failed
                if not report.stopped_early:
                    break
        seconds = time.perf_counter() - started
        tracemalloc.stop()
    finally:
        child.terminate()
        child.join()
    if deleted != copies:
        raise SystemExit(f"clean of {copies} deleted {deleted}, failed {failed}")
    return {
        "copies": copies,
        "deleted": deleted,
        "failed": failed,
        "runs": runs,
        "seconds": round(seconds, 1),
        "peak_mib": round(peak / 2**20, 2),
        "calls": dict(Counter(calls)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clean_scale", description=__doc__)
    parser.add_argument("--copies", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    _credentials()
    figures: list[Figure] = []
    results = []
    for n in args.copies:
        results.append(measure(n))
        print(results[-1], file=sys.stderr, flush=True)
    for result in results:
        n, total = result["copies"], sum(result["calls"].values())
        figures.append(
            Figure(
                f"clean {n:,} expired copies",
                result["peak_mib"],
                "MiB peak",
                detail=(
                    f"{result['seconds']} s, {result['runs']} run(s), {total:,} calls "
                    f"({total / n:.4f} per copy: {breakdown(result['calls'])}); "
                    f"deleted {result['deleted']:,}, failed {result['failed']}"
                ),
                extra=result,
            )
        )
    if len(results) > 1:
        ratio = results[-1]["peak_mib"] / max(results[0]["peak_mib"], 1e-9)
        figures.append(Figure("peak memory, largest / smallest backlog", round(ratio, 2), "x", 1.2))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return emit("clean_scale", f"The cleaner at scale ({when})", figures, args.json)


if __name__ == "__main__":
    sys.exit(main())
