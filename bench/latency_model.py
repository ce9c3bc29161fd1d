"""The replicator against a model of AWS latency: a batch one event at a time, or keys in parallel.

No AWS account is at hand, so the real handler (ReplicatorApp) runs against moto in process and
every AWS call first sleeps for a latency drawn per operation from a lognormal distribution
(median and p99 below), injected at the HTTP layer: a botocore `before-send` handler registered
ahead of moto's own. Both ways of handling a batch run in the same process, interleaved:

* today: the events of a batch one after another (`process_sqs_batch(workers=1)`, the loop the
  replicator ran before keys were handled concurrently);
* new: ReplicatorApp itself, which runs keys on the bounded pool (`workers=KEY_WORKERS`).

Every object is at steady state (3 copies kept: Query, CopyObject, PutItem, DeleteObject,
DeleteItem). Figures: the wall time of one object alone and of a batch of 10 distinct keys,
objects a second per function instance, billed Lambda GB-seconds per million objects, and the
throughput a deployment projects to at the default and the maximum --concurrency.

    .venv/bin/python -m bench.latency_model [--runs 20] [--seed 1] [--json]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from bench.report import Figure, emit
from objbackup.core.batch import KEY_WORKERS, process_sqs_batch
from objbackup.core.events import ObjectEvent
from objbackup.core.runtime import ReplicatorApp
from objbackup.deploy.scale import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from tests.harness import Harness
from tests.unit.test_batch import sqs_batch

# Per-operation latency: (median ms, p99 ms) of a lognormal. Medians are the round figures;
# they sit inside what AWS documents: DynamoDB "single-digit millisecond performance at any scale"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Introduction.html), and S3
# small-object latencies "of roughly 100-200 milliseconds" first byte out, a COPY of a small object
# being one server-side request (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
# optimizing-performance-design-patterns.html). The tails are assumptions: p99 = 4 x the median for
# S3 (reaching the documented 100-200 ms), 2.5 x for DynamoDB (still single-digit to low double).
LATENCY_MS: dict[str, tuple[float, float]] = {
    "dynamodb.Query": (6, 15),
    "dynamodb.PutItem": (6, 15),
    "dynamodb.DeleteItem": (6, 15),
    "dynamodb.UpdateItem": (6, 15),
    "s3.CopyObject": (50, 200),
    "s3.DeleteObject": (20, 80),
    "s3.HeadObject": (15, 60),
}
DEFAULT_LATENCY_MS = (20.0, 80.0)
Z99 = 2.326  # the standard normal's 99th percentile

# Lambda, us-east-1 list prices (https://aws.amazon.com/lambda/pricing/): arm64 duration per GB-s,
# billed in 1 ms steps, and requests; the replicator's default memory (deploy --replicator-memory).
GB_SECOND_USD = 0.0000133334
REQUEST_USD = 0.20 / 1_000_000
MEMORY_GB = 0.5
# Between two batches an instance waits for Lambda's poller: an SQS ReceiveMessage and, after the
# answer, a DeleteMessageBatch. SQS publishes no latency figure; 20 ms for the pair is assumed.
POLL_OVERHEAD_S = 0.020
# Where the next limits are (per second):
# DynamoDB on-demand: 40,000 write request units per table by default
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html); an object
# at steady state writes 2 (PutItem, DeleteItem of the pruned record).
DYNAMODB_TABLE_WRITES = 40_000
WRITES_PER_OBJECT = 2
# S3: 3,500 PUT/COPY/POST/DELETE per second per partitioned prefix
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html); a copy name
# keeps its key's prefix, and each object costs one CopyObject and one DeleteObject there.
S3_PREFIX_WRITES = 3_500
# Lambda: 1,000 concurrent executions per Region by default, shared by every function
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
ACCOUNT_CONCURRENCY = 1_000

KEYS = [f"data/customer-{n}/invoice.pdf" for n in range(DEFAULT_BATCH_SIZE)]
SOLO = "data/solo/invoice.pdf"


class Latency:
    """A `before-send` handler that sleeps as AWS would answer; on only while `on` is set."""

    def __init__(self, seed: int) -> None:
        self.on = threading.Event()
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self, operation: str) -> float:
        median, p99 = LATENCY_MS.get(operation, DEFAULT_LATENCY_MS)
        sigma = math.log(p99 / median) / Z99
        with self._lock:
            return median * math.exp(sigma * self._random.gauss(0, 1)) / 1000

    def __call__(self, event_name: str, **_: Any) -> None:
        if self.on.is_set():  # event_name: before-send.<service id>.<operation>
            _event, service, operation = event_name.split(".", 2)
            time.sleep(self.draw(f"{service.lower()}.{operation}"))


def _attach(system: Harness, latency: Latency) -> None:
    for client in (system.s3, system.dynamodb):
        # First, so that it runs before moto's own before-send handler answers the request.
        client.meta.events.register_first("before-send.*.*", latency)


@dataclass
class Runs:
    solo: list[float]
    batch: list[float]
    cpu: float = 0.0  # process CPU seconds of the timed batches
    emulator_cpu: float = 0.0  # of which moto's own, answering the requests


class EmulatorCpu:
    """CPU seconds moto spends answering requests, counted per thread while it runs: the rest of
    the process's CPU is the handler's own (botocore, our code), which Lambda would spend too."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    @contextmanager
    def counting(self) -> Iterator[None]:
        original = BotocoreStubber.__call__

        def timed(stubber: BotocoreStubber, event_name: str, request: Any, **kw: Any) -> Any:
            started = time.thread_time()
            try:
                return original(stubber, event_name, request, **kw)
            finally:
                with self._lock:
                    self.seconds += time.thread_time() - started

        BotocoreStubber.__call__ = timed  # type: ignore[method-assign, assignment]
        try:
            yield
        finally:
            BotocoreStubber.__call__ = original  # type: ignore[method-assign]


def _steady(system: Harness, keys: Sequence[str]) -> None:
    for key in keys:
        for n in range(3):
            system.clock.advance(1)
            system.replicator.handle(system.put(key, f"{key} v{n}".encode()))


def _timed(latency: Latency, run: Callable[[dict[str, Any]], Any], batch: dict[str, Any]) -> float:
    latency.on.set()
    started = time.perf_counter()
    try:
        answer = run(batch)
    finally:
        latency.on.clear()
    elapsed = time.perf_counter() - started
    if answer["batchItemFailures"]:
        raise SystemExit(f"a benchmark batch failed: {answer}")
    return elapsed


def measure(runs: int, seed: int) -> tuple[Runs, Runs]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    emulator = EmulatorCpu()
    with mock_aws(), emulator.counting():
        system = Harness.create()
        latency = Latency(seed)
        _attach(system, latency)
        _steady(system, [*KEYS, SOLO])
        app = ReplicatorApp(system.settings, system.replicator)
        source = system.settings.source_bucket
        results = {"today": Runs([], []), "new": Runs([], [])}

        def today(batch: dict[str, Any]) -> dict[str, Any]:
            return process_sqs_batch(batch, app.handle, source, workers=1)

        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {"today": today, "new": app}
        for n in range(runs):
            for mode in ("today", "new") if n % 2 == 0 else ("new", "today"):
                system.clock.advance(1)
                one = sqs_batch(("solo", system.put(SOLO, f"solo {n} {mode}".encode())))
                results[mode].solo.append(_timed(latency, handlers[mode], one))
                system.clock.advance(1)
                events: list[tuple[str, ObjectEvent]] = [
                    (f"m{i}", system.put(key, f"{key} {n} {mode}".encode()))
                    for i, key in enumerate(KEYS)
                ]
                batch = sqs_batch(*events)
                cpu, moto = time.process_time(), emulator.seconds
                results[mode].batch.append(_timed(latency, handlers[mode], batch))
                results[mode].cpu += time.process_time() - cpu
                results[mode].emulator_cpu += emulator.seconds - moto
        system.check_invariants({*KEYS, SOLO})
    return results["today"], results["new"]


STEADY_STATE = ["dynamodb.Query", "s3.CopyObject", "dynamodb.PutItem", "s3.DeleteObject"]
STEADY_STATE += ["dynamodb.DeleteItem"]


def model_only(seed: int, samples: int = 20_000) -> tuple[float, float, float]:
    """The latency model's own arithmetic, no process in the way: median time of one object, and
    of a batch of 10 one after another and concurrently (the slowest of 10 objects)."""
    latency = Latency(seed)
    one = [sum(latency.draw(op) for op in STEADY_STATE) for _ in range(samples)]
    batches = [one[i : i + DEFAULT_BATCH_SIZE] for i in range(0, samples, DEFAULT_BATCH_SIZE)]
    return (
        statistics.median(one),
        statistics.median(sum(b) for b in batches),
        statistics.median(max(b) for b in batches),
    )


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures(today: Runs, new: Runs, seed: int = 1) -> tuple[list[Figure], dict[str, Any]]:
    size = DEFAULT_BATCH_SIZE
    out: list[Figure] = []
    derived: dict[str, dict[str, float]] = {}
    for mode, runs in (("today", today), ("new", new)):
        solo = statistics.median(runs.solo)
        batch = statistics.mean(runs.batch)
        per_instance = size / (batch + POLL_OVERHEAD_S)
        billed = math.ceil(batch * 1000) / 1000  # Lambda bills duration in 1 ms steps
        gb_seconds = 1_000_000 / size * billed * MEMORY_GB
        derived[mode] = {
            "solo": solo,
            "batch": batch,
            "ratio": statistics.median(runs.batch) / solo,
            "per_instance": per_instance,
            "gb_seconds": gb_seconds,
            "usd": gb_seconds * GB_SECOND_USD,
            "cpu_ms": 1000 * runs.cpu / (len(runs.batch) * size),
            "handler_cpu_ms": 1000 * (runs.cpu - runs.emulator_cpu) / (len(runs.batch) * size),
        }
        out += [
            Figure(
                f"{mode}: one object alone",
                round(solo * 1000, 1),
                "ms",
                detail=f"median of {len(runs.solo)}, p99 {_p(runs.solo, 0.99) * 1000:.0f} ms",
            ),
            Figure(
                f"{mode}: batch of {size} distinct keys",
                round(statistics.median(runs.batch) * 1000, 1),
                "ms",
                detail=f"median; mean {batch * 1000:.0f} ms, p99 {_p(runs.batch, 0.99) * 1000:.0f}"
                f" ms; {derived[mode]['ratio']:.2f} x one object",
            ),
            Figure(
                f"{mode}: objects/s per instance",
                round(per_instance, 1),
                "objects/s",
                detail=f"{size} / (mean batch {batch * 1000:.0f} ms + {POLL_OVERHEAD_S * 1000:.0f}"
                " ms poll)",
            ),
            Figure(
                f"{mode}: Lambda GB-s per million objects",
                round(gb_seconds),
                "GB-s",
                detail=f"{1_000_000 // size:,} batches x {billed:.3f} s x {MEMORY_GB} GB = "
                f"${gb_seconds * GB_SECOND_USD:.2f} duration + "
                f"${1_000_000 / size * REQUEST_USD:.2f} requests",
            ),
        ]
    t, n = derived["today"], derived["new"]
    alone, in_turn, together = model_only(seed)
    # On Lambda the handler's own CPU runs on the share of a vCPU its memory buys (1,769 MB = one
    # vCPU: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html); a batch
    # takes at least its CPU time at that share, and at least the model's latency.
    vcpu = MEMORY_GB * 1024 / 1769
    cpu_floor = size * n["handler_cpu_ms"] / 1000 / vcpu
    on_lambda = max(together, cpu_floor)
    lambda_rate = size / (on_lambda + POLL_OVERHEAD_S)
    out.append(
        Figure(
            "model arithmetic (no local CPU): one object; batch of 10 in turn; concurrently",
            round(alone * 1000, 1),
            "ms",
            detail=f"{in_turn * 1000:.0f} ms; {together * 1000:.0f} ms = "
            f"{together / alone:.2f} x one object: "
            f"{DEFAULT_BATCH_SIZE / (together + POLL_OVERHEAD_S):.0f} against "
            f"{DEFAULT_BATCH_SIZE / (in_turn + POLL_OVERHEAD_S):.1f} objects/s per instance",
        )
    )
    out += [
        Figure(
            "new: batch of 10 / one object",
            round(n["ratio"], 2),
            "x",
            target=2.0,
            detail="medians",
        ),
        Figure(
            "per-instance throughput, new / today",
            round(n["per_instance"] / t["per_instance"], 1),
            "x",
            target=5.0,
            at_least=True,
        ),
        Figure(
            "Lambda duration per million objects, new / today",
            round(n["gb_seconds"] / t["gb_seconds"], 2),
            "x",
            target=0.5,
        ),
    ]
    out.append(
        Figure(
            "handler CPU per object (process CPU less moto's)",
            round(n["handler_cpu_ms"], 2),
            "ms",
            detail=f"today {t['handler_cpu_ms']:.2f} ms; moto's own: "
            f"{n['cpu_ms'] - n['handler_cpu_ms']:.1f} ms; at {MEMORY_GB * 1024:.0f} MB "
            f"({vcpu:.2f} vCPU) a batch of {size} needs {cpu_floor * 1000:.0f} ms of CPU",
        )
    )
    out.append(
        Figure(
            "on Lambda: objects/s per instance (model latency, CPU floor)",
            round(lambda_rate, 1),
            "objects/s",
            detail=f"{size} / (max({together * 1000:.0f} ms latency, {cpu_floor * 1000:.0f} ms "
            f"CPU) + {POLL_OVERHEAD_S * 1000:.0f} ms poll); today "
            f"{size / (in_turn + POLL_OVERHEAD_S):.1f}",
        )
    )
    for label, instances, rate in (
        ("measured, default --concurrency", DEFAULT_CONCURRENCY, n["per_instance"]),
        ("on Lambda, default --concurrency", DEFAULT_CONCURRENCY, lambda_rate),
        ("on Lambda, maximum --concurrency", MAX_CONCURRENCY, lambda_rate),
        ("measured, today (fixed 10, one at a time)", 10, t["per_instance"]),
        ("on Lambda, today (fixed 10, one at a time)", 10, size / (in_turn + POLL_OVERHEAD_S)),
    ):
        out.append(
            Figure(
                f"deployment {label}",
                round(instances * rate),
                "objects/s",
                target=1000 if instances == DEFAULT_CONCURRENCY else None,
                at_least=True,
                detail=f"{instances} instances x {rate:.1f} objects/s",
            )
        )
    dynamo = DYNAMODB_TABLE_WRITES / WRITES_PER_OBJECT
    out += [
        Figure(
            "next limit: DynamoDB table writes",
            round(dynamo),
            "objects/s",
            detail=f"{DYNAMODB_TABLE_WRITES:,} WRU/s on-demand default / {WRITES_PER_OBJECT} "
            f"per object: reached at --concurrency {math.ceil(dynamo / lambda_rate)}",
        ),
        Figure(
            "next limit: S3 writes per backup prefix",
            S3_PREFIX_WRITES // 2,
            "objects/s",
            detail=f"{S3_PREFIX_WRITES:,} PUT/COPY/DELETE per prefix / 2 per object "
            "(S3 adds partitions as a prefix stays busy)",
        ),
        Figure(
            "next limit: Lambda account concurrency",
            round(ACCOUNT_CONCURRENCY * lambda_rate),
            "objects/s",
            detail=f"{ACCOUNT_CONCURRENCY:,} concurrent executions per Region by default, shared",
        ),
    ]
    return out, {"latency_ms": {k: list(v) for k, v in LATENCY_MS.items()}, "runs": len(new.batch)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency_model", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="measurements of each figure")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    today, new = measure(args.runs, args.seed)
    out, info = figures(today, new, args.seed)
    title = f"Replicator against a latency model of AWS ({args.runs} runs of each)"
    return emit("latency_model", title, out, args.json, workers=KEY_WORKERS, **info)


if __name__ == "__main__":
    sys.exit(main())
