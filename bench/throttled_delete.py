"""A mass delete under DynamoDB's per-partition write limit on `DisownedIndex`: how long the
disowns and the clean of N copies take when each index partition takes R writes a second.

    .venv/bin/python -m bench.throttled_delete [--copies 3000] [--rate 20] [--burst 100] [--json]

moto runs in a child process as in bench.clean_scale, seeded with N active copies (3 per
object) and with the sandbox's partition limit switched on at R writes a second
(OBJBACKUP_SANDBOX_INDEX_WRITE_RATE), B of them banked (_BURST: at least 100, as the cleaner's
claims are 100-item transactions; on AWS a second's worth, 1,000). Then, timed: a delete event per
object handled by the replicator on `--threads` threads (each with its own clients, as concurrent
Lambda instances have; an event whose disown fails past botocore's retries is handled again, as
SQS would redeliver it), then cleaner runs until nothing is left. The arithmetic: a disown is a
write into the `disowned` partition; a claim one out of it and one into `cleaning`; a record's
delete one out of `cleaning`: (N - B) / R seconds of disowns, then (2N - B) / R of cleaning.
R must stay well below what moto does here unthrottled (about 45 disowns a second on the shared
machine), so that the limit, not moto, is what the figures measure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

from bench.clean_scale import SETTINGS, _credentials, _free_port, _records, _serve
from bench.report import Figure, emit
from objbackup.core.aws import RETRY_CONFIG
from objbackup.core.clean import Cleaner
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.records import ACTIVE, CLEANING, DISOWNED
from objbackup.core.replicate import Replicator
from objbackup.core.table import CopyTable

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient

THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException"}


class Throttles:
    """Throttling answers the clients saw: by error code, transactions cancelled for
    ThrottlingError, and BatchWriteItem requests handed back unprocessed."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def watch(self, client: DynamoDBClient) -> DynamoDBClient:
        client.meta.events.register("needs-retry.dynamodb", self._answer)
        client.meta.events.register("after-call.dynamodb.BatchWriteItem", self._batch)
        return client

    def _answer(self, response: Any = None, **_: Any) -> None:
        parsed = response[1] if response else {}
        found = parsed.get("Error", {}).get("Code")
        reasons = [r.get("Code") for r in parsed.get("CancellationReasons", [])]
        with self._lock:
            if found in THROTTLING:
                self.counts[found] += 1
            elif "ThrottlingError" in reasons:
                self.counts["TransactionCanceledException (ThrottlingError)"] += 1

    def _batch(self, parsed: Any = None, **_: Any) -> None:
        left = sum(len(v) for v in (parsed or {}).get("UnprocessedItems", {}).values())
        with self._lock:
            self.counts["BatchWriteItem unprocessed items"] += left


def _clients(url: str, throttles: Throttles) -> tuple[Any, Any]:
    session = boto3.session.Session()
    s3 = session.client("s3", endpoint_url=url, config=RETRY_CONFIG)
    dynamodb = session.client("dynamodb", endpoint_url=url, config=RETRY_CONFIG)
    return s3, throttles.watch(dynamodb)


def _disown_all(replicators: list[Replicator], objects: list[str]) -> int:
    """Handle a delete event per object, a thread per replicator; returns the redeliveries."""
    now = datetime.now(UTC)
    events: queue.Queue[ObjectEvent] = queue.Queue()
    for n, key in enumerate(objects):
        events.put(
            ObjectEvent(
                kind=Kind.DELETED,
                bucket=SETTINGS.source_bucket,
                key=key,
                time=now,
                sequencer=f"{n + 1:016X}",
                event_id=f"bench-{n}",
                reason="DeleteObject",
                deletion_type="Permanently Deleted",
            )
        )
    redelivered = Counter[str]()
    lock = threading.Lock()

    def work(replicator: Replicator) -> None:
        while True:
            try:
                event = events.get_nowait()
            except queue.Empty:
                return
            try:
                replicator.handle(event)
            except Exception:  # past the SDK's retries: SQS would redeliver it
                with lock:
                    redelivered[event.key] += 1
                events.put(event)

    workers = [threading.Thread(target=work, args=(r,)) for r in replicators]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(redelivered.values())


def measure(copies: int, rate: float, burst: float, threads: int) -> dict[str, Any]:
    port = _free_port()
    ready: Any = multiprocessing.Queue()
    child = multiprocessing.Process(
        target=_serve, args=(port, copies, ready, ACTIVE, rate, burst), daemon=True
    )
    child.start()
    throttles = Throttles()
    try:
        ready.get(timeout=3600)
        url = f"http://127.0.0.1:{port}"
        objects = sorted({r.source_object for r in _records(copies, ACTIVE)})
        replicators = []  # built first: making clients is not the disowns' time
        for _ in range(threads):
            s3, dynamodb = _clients(url, throttles)
            replicators.append(Replicator(SETTINGS, s3, CopyTable(dynamodb, SETTINGS.table)))
        started = time.perf_counter()
        redelivered = _disown_all(replicators, objects)
        disown_seconds = time.perf_counter() - started
        s3, dynamodb = _clients(url, throttles)
        table = CopyTable(dynamodb, SETTINGS.table)
        disowned = sum(1 for _ in table.disowned())
        cleaner = Cleaner(SETTINGS, s3, table)
        deleted = failed = runs = 0
        started = time.perf_counter()
        while True:
            report = cleaner.run(grace_seconds=0)
            runs += 1
            deleted, failed = deleted + report.deleted, failed + report.failed
            if not report.stopped_early and not any(True for _ in table.disowned()):
                break
        clean_seconds = time.perf_counter() - started
        left = sum(1 for status in (DISOWNED, CLEANING) for _ in table.disowned(status=status))
        in_bucket = s3.list_objects_v2(Bucket=SETTINGS.backup_bucket).get("KeyCount", 0)
    finally:
        child.terminate()
        child.join()
    if disowned != copies or deleted != copies or left or in_bucket:
        raise SystemExit(
            f"{copies} copies: {disowned} disowned, {deleted} deleted, {failed} failed, "
            f"{left} records and {in_bucket} copies left"
        )
    return {
        "copies": copies,
        "objects": len(objects),
        "rate": rate,
        "burst": burst,
        "threads": threads,
        "disown_seconds": round(disown_seconds, 1),
        "clean_seconds": round(clean_seconds, 1),
        "clean_runs": runs,
        "clean_failed": failed,
        "redelivered": redelivered,
        "throttles": dict(throttles.counts),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throttled_delete", description=__doc__)
    parser.add_argument("--copies", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=20.0, help="writes/s per index partition")
    parser.add_argument("--burst", type=float, default=100.0, help="writes banked per partition")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    _credentials()
    result = measure(args.copies, args.rate, args.burst, args.threads)
    print(result, file=sys.stderr, flush=True)
    n, rate, burst = result["copies"], result["rate"], result["burst"]
    disown_expected, clean_expected = (n - burst) / rate, (2 * n - burst) / rate
    total = result["disown_seconds"] + result["clean_seconds"]
    ratio = total / (disown_expected + clean_expected)
    throttles = ", ".join(f"{k} {v:,}" for k, v in result["throttles"].items()) or "none"
    figures = [
        Figure(
            "disown of every copy",
            result["disown_seconds"],
            "s",
            detail=(
                f"({n:,} writes into `disowned` - {burst:g} banked) / {rate:g} per s = "
                f"{disown_expected:,.1f} s; "
                f"{result['objects']:,} delete events on {result['threads']} threads, "
                f"{result['redelivered']} redelivered"
            ),
        ),
        Figure(
            "clean of every copy",
            result["clean_seconds"],
            "s",
            detail=(
                f"({2 * n:,} writes on `cleaning` (claim in, delete out) - {burst:g}) / "
                f"{rate:g} per s = {clean_expected:,.1f} s; {result['clean_runs']} run(s), "
                f"{result['clean_failed']} failures retried by the next run"
            ),
        ),
        Figure(
            "mass delete, measured / arithmetic",
            round(ratio, 2),
            "x",
            detail=f"{total:,.1f} s measured, {disown_expected + clean_expected:,.1f} s computed",
        ),
        Figure("throttling answers", sum(result["throttles"].values()), "", detail=throttles),
    ]
    # The same arithmetic for AWS: 1,000,000 objects, 3 copies each, 1,000 writes/s a partition.
    aws = 3_000_000 * 3 / 1_000 * ratio
    figures.append(
        Figure(
            "1,000,000 objects (3,000,000 copies) at 1,000 writes/s, scaled by the ratio",
            round(aws / 3600, 2),
            "h",
            detail=f"3 x 3,000,000 / 1,000 = 9,000 s x {ratio:.2f}",
        )
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return emit(
        "throttled_delete",
        f"Mass delete under the index partition limit ({when})",
        figures,
        args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
