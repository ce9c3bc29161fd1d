"""AWS API calls per replicated object and per clean, counted with botocore `before-call` events.

Runs the core against moto in process (the test Harness) and counts, by `service.Operation`, every
call the replicator or the cleaner makes while handling one event or one clean. Retries inside
botocore are not extra calls here: `before-call` fires once per API call, before any attempt.

    .venv/bin/python -m bench.api_calls [--json]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from moto import mock_aws

from bench.report import Figure, breakdown, emit
from objbackup.core.clean import DELETE_OBJECTS_LIMIT
from objbackup.core.events import ObjectEvent
from objbackup.core.naming import copy_name, copy_timestamp, iso_now
from objbackup.core.records import DISOWNED, CopyRecord
from objbackup.core.replicate import Outcome
from objbackup.core.table import BATCH_WRITE_LIMIT, TRANSACT_WRITE_LIMIT
from tests.harness import FAKE_AWS_ENV, Harness, counting_calls

# Targets of the issue.
STEADY_STATE_MAX = 5
BELOW_LIMIT_MAX = 3
CLEAN_COPIES = 10_000
# The 420 covered the Query pages and the batch deletes (10 DeleteObjects + 400
# BatchWriteItem + up to 10 pages). Claiming each record before its copy is deleted, so that an
# undelete can never lose a copy to the cleaner, adds one TransactWriteItems per 100 records and
# one Query of the index's (normally empty) `cleaning` partition: 420 + 100 + 1.
CLEAN_MAX = 420 + -(-CLEAN_COPIES // TRANSACT_WRITE_LIMIT) + 1

# DynamoDB stops a Query page at 1 MB of items read; moto 5.2 stops at 1,000,000 bytes
# (moto/dynamodb/models/table.py: RESULT_SIZE_LIMIT) and sizes items with its own rule.
DYNAMODB_PAGE_BYTES = 1024 * 1024
MOTO_PAGE_BYTES = 1_000_000

KEY = "data/2026/11/25/customer-{customer}/invoice-{invoice}.pdf"


class BenchError(Exception):
    """A scenario did not do what the benchmark set it up to do: its count would mean nothing."""


# --- one event at a time ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventCount:
    name: str
    outcome: Outcome
    calls: dict[str, int]
    target: int | None

    def figure(self) -> Figure:
        return Figure(
            name=self.name,
            value=sum(self.calls.values()),
            unit="calls",
            target=self.target,
            detail=f"{breakdown(self.calls)} ({self.outcome.outcome})",
            extra={"calls": self.calls, "outcome": self.outcome.outcome},
        )


def _counted(h: Harness, handle: Callable[[], Outcome]) -> tuple[dict[str, int], Outcome]:
    with counting_calls(h.s3, h.dynamodb) as counts:
        outcome = handle()
    return dict(counts), outcome


def _expect(outcome: Outcome, wanted: str, **fields: int) -> None:
    got = {name: getattr(outcome, name) for name in fields}
    if outcome.outcome != wanted or got != fields:
        raise BenchError(f"expected {wanted} {fields}, got {outcome}")


def _write(h: Harness, key: str, n: int) -> ObjectEvent:
    """Overwrite `key` one second later than the last write, with distinct content."""
    h.clock.advance(1)
    return h.put(key, f"%PDF-1.7 invoice {key} version {n}\n".encode() * 64)


def _object_with_copies(h: Harness, key: str, copies: int) -> list[ObjectEvent]:
    events = []
    for n in range(copies):
        events.append(_write(h, key, n))
        h.replicator.handle(events[-1])
    if len(h.active(key)) != min(copies, h.settings.retain):
        raise BenchError(f"{key}: set-up left {len(h.active(key))} active copies")
    return events


def count_events(h: Harness) -> list[EventCount]:
    """Each scenario on its own key, counting only the handling of the event under test."""
    results: list[EventCount] = []
    retain = h.settings.retain

    for existing in range(retain):
        key = KEY.format(customer=100 + existing, invoice=1000 + existing)
        _object_with_copies(h, key, existing)
        event = _write(h, key, 99)
        calls, outcome = _counted(h, partial(h.replicator.handle, event))
        _expect(outcome, "copied", pruned=0)
        copies = "copy" if existing == 1 else "copies"
        results.append(
            EventCount(f"replicate, {existing} {copies} before", outcome, calls, BELOW_LIMIT_MAX)
        )

    key = KEY.format(customer=200, invoice=2000)
    _object_with_copies(h, key, retain)
    steady = _write(h, key, 99)
    calls, outcome = _counted(h, lambda: h.replicator.handle(steady))
    _expect(outcome, "copied", pruned=1)
    results.append(
        EventCount(f"replicate, steady state ({retain} copies)", outcome, calls, STEADY_STATE_MAX)
    )

    calls, outcome = _counted(h, lambda: h.replicator.handle(steady))
    _expect(outcome, "duplicate", pruned=0)
    results.append(EventCount("duplicate delivery of a handled create", outcome, calls, None))

    key = KEY.format(customer=300, invoice=3000)
    older = _write(h, key, 90)
    for version in range(91, 91 + retain):  # `retain` newer writes, each handled
        h.replicator.handle(_write(h, key, version))
    calls, outcome = _counted(h, lambda: h.replicator.handle(older))
    _expect(outcome, "stale")
    results.append(EventCount(f"stale create ({retain} newer copies kept)", outcome, calls, None))

    key = KEY.format(customer=400, invoice=4000)
    _object_with_copies(h, key, retain)
    overwritten = _write(h, key, 98)
    _write(h, key, 99)  # its event is still on its way
    calls, outcome = _counted(h, lambda: h.replicator.handle(overwritten))
    _expect(outcome, "superseded")
    results.append(EventCount("create whose source was overwritten", outcome, calls, None))

    key = KEY.format(customer=500, invoice=5000)
    _object_with_copies(h, key, retain)
    h.clock.advance(1)
    deleted = h.delete(key)
    calls, outcome = _counted(h, lambda: h.replicator.handle(deleted))
    _expect(outcome, "disowned", disowned=retain)
    results.append(EventCount(f"delete (disown) of {retain} copies", outcome, calls, None))

    calls, outcome = _counted(h, lambda: h.replicator.handle(deleted))
    _expect(outcome, "disowned", disowned=0)
    results.append(EventCount("duplicate delivery of that delete", outcome, calls, None))
    return results


# --- one clean of many expired copies -----------------------------------------------------------


def dynamodb_item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it: attribute name bytes plus value bytes.

    Strings count their UTF-8 bytes; numbers about one byte per two significant digits, plus one.
    """
    total = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        if kind == "S":
            size = len(str(raw).encode("utf-8"))
        elif kind == "N":
            digits = str(raw).lstrip("-").replace(".", "").strip("0") or "0"
            size = math.ceil(len(digits) / 2) + 1
        elif kind in ("BOOL", "NULL"):
            size = 1
        else:
            raise ValueError(f"no size rule for attribute type {kind}")
        total += len(name.encode("utf-8")) + size
    return total


def moto_item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as moto 5.2 counts it (`Item.size`): numbers count their decimal string."""
    return sum(
        len(name.encode("utf-8")) + len(str(raw).encode("utf-8"))
        for name, value in item.items()
        for raw in value.values()
    )


def pages(sizes: Iterable[int], limit: int) -> list[int]:
    """Items per Query page when a page ends before the item that would take it over `limit`."""
    counts: list[int] = []
    used = 0
    for size in sizes:
        if not counts or used + size > limit:
            counts.append(0)
            used = 0
        counts[-1] += 1
        used += size
    return counts or [0]


def seed_expired(h: Harness, copies: int, seed: int = 20261125) -> list[CopyRecord]:
    """`copies` disowned copies and their records, as a mass delete of invoices leaves them.

    Objects carry 3 copies each (the retention limit), named and timed the way the replicator
    names them; records carry what the replicator writes (size, ETag, creation time). The copies'
    bodies are small: the cleaner never reads them.
    """
    rng = random.Random(seed)
    now = h.clock()
    records: list[CopyRecord] = []
    for number in range(math.ceil(copies / 3)):
        key = KEY.format(customer=10_000 + number // 4, invoice=2_600_000 + number)
        disowned_at = iso_now(now - timedelta(seconds=3_600 - number * 0.3))
        for version in range(min(3, copies - len(records))):
            written = now - timedelta(days=30 - 10 * version, seconds=rng.randrange(86_400))
            sequencer = f"00{rng.getrandbits(64):016X}"
            position = copy_timestamp(written, sequencer)
            records.append(
                CopyRecord(
                    source_object=key,
                    copy_timestamp=position,
                    copy_name=copy_name(key, position),
                    status=DISOWNED,
                    disowned_at=disowned_at,
                    size=rng.randrange(20_000, 2_000_000),
                    etag=hashlib.md5(f"{key}{version}".encode()).hexdigest(),
                    created_at=iso_now(written + timedelta(seconds=rng.uniform(0.05, 2.0))),
                )
            )
    for record in records:
        h.s3.put_object(Bucket=h.settings.backup_bucket, Key=record.copy_name, Body=b"%PDF-1.7")
    for start in range(0, len(records), BATCH_WRITE_LIMIT):
        batch = records[start : start + BATCH_WRITE_LIMIT]
        h.dynamodb.batch_write_item(
            RequestItems={h.settings.table: [{"PutRequest": {"Item": r.to_item()}} for r in batch]}
        )
    return records


@dataclass(frozen=True)
class CleanCount:
    copies: int
    calls: dict[str, int]
    page_items: list[int]
    seconds: float
    item_bytes: list[int]  # DynamoDB's sizes, in the index's order
    moto_bytes: list[int]

    @property
    def measured(self) -> int:
        return sum(self.calls.values())

    @property
    def real_pages(self) -> list[int]:
        return pages(self.item_bytes, DYNAMODB_PAGE_BYTES)

    @property
    def moto_pages(self) -> list[int]:
        return pages(self.moto_bytes, MOTO_PAGE_BYTES)

    @property
    def batch_calls(self) -> int:
        return (
            math.ceil(self.copies / TRANSACT_WRITE_LIMIT)
            + math.ceil(self.copies / DELETE_OBJECTS_LIMIT)
            + math.ceil(self.copies / BATCH_WRITE_LIMIT)
        )

    @property
    def computed_real(self) -> int:
        # + 1: the Query of the `cleaning` partition (one empty page when no run was interrupted)
        return len(self.real_pages) + 1 + self.batch_calls

    def figures(self) -> list[Figure]:
        n = f"{self.copies:,}"
        real_calls = {
            "dynamodb.Query": len(self.real_pages) + 1,
            "dynamodb.TransactWriteItems": math.ceil(self.copies / TRANSACT_WRITE_LIMIT),
            "s3.DeleteObjects": math.ceil(self.copies / DELETE_OBJECTS_LIMIT),
            "dynamodb.BatchWriteItem": math.ceil(self.copies / BATCH_WRITE_LIMIT),
        }
        naive = {
            "dynamodb.Query": len(self.real_pages),
            "s3.DeleteObject": self.copies,
            "dynamodb.DeleteItem": self.copies,
        }
        mean = sum(self.item_bytes) / len(self.item_bytes)
        return [
            Figure(
                f"clean {n} expired copies, measured (moto)",
                self.measured,
                "calls",
                CLEAN_MAX,
                breakdown(self.calls),
                {"calls": self.calls, "seconds": round(self.seconds, 2)},
            ),
            Figure(
                f"clean {n} expired copies, computed for DynamoDB",
                self.computed_real,
                "calls",
                CLEAN_MAX,
                breakdown(real_calls),
                {"calls": real_calls},
            ),
            Figure(
                "Query pages, measured (moto)",
                len(self.page_items),
                "pages",
                detail=(
                    f"items per page {self.page_items} (the last: the empty `cleaning` partition)"
                ),
                extra={"items_per_page": self.page_items},
            ),
            Figure(
                "Query pages, moto's rule predicted",
                len(self.moto_pages),
                "pages",
                detail=f"items per page {self.moto_pages} (1,000,000 B, moto's item sizes)",
                extra={"items_per_page": self.moto_pages},
            ),
            Figure(
                "Query pages, computed for DynamoDB",
                len(self.real_pages),
                "pages",
                detail=f"items per page {self.real_pages} (1 MiB pages)",
                extra={"items_per_page": self.real_pages},
            ),
            Figure(
                "record size (DynamoDB's rule)",
                round(mean, 1),
                "bytes",
                detail=(
                    f"min {min(self.item_bytes)}, max {max(self.item_bytes)}, "
                    f"total {sum(self.item_bytes):,} B; moto counts "
                    f"{sum(self.moto_bytes):,} B"
                ),
                extra={"total_bytes": sum(self.item_bytes), "moto_bytes": sum(self.moto_bytes)},
            ),
            Figure(
                f"naive per-copy clean of {n}, computed",
                sum(naive.values()),
                "calls",
                detail=breakdown(naive),
                extra={"calls": naive},
            ),
        ]


def count_clean(h: Harness, copies: int = CLEAN_COPIES) -> CleanCount:
    records = seed_expired(h, copies)
    h.clock.advance(h.settings.grace_seconds + 1)
    in_index_order = sorted(
        records, key=lambda r: (r.disowned_at or "", r.source_object, r.copy_timestamp)
    )
    page_items: list[int] = []

    def page(parsed: Mapping[str, Any], **_: Any) -> None:
        page_items.append(len(parsed.get("Items", [])))

    h.dynamodb.meta.events.register("after-call.dynamodb.Query", page)
    try:
        started = time.perf_counter()
        with counting_calls(h.s3, h.dynamodb) as counts:
            report = h.cleaner.run()
        seconds = time.perf_counter() - started
    finally:
        h.dynamodb.meta.events.unregister("after-call.dynamodb.Query", page)
    if (report.deleted, report.failed) != (copies, 0):
        raise BenchError(f"clean deleted {report.deleted}, failed {report.failed}: {report.errors}")
    if h.backup_keys() or list(h.table.disowned()):
        raise BenchError("the clean left copies or records behind")
    return CleanCount(
        copies=copies,
        calls=dict(counts),
        page_items=page_items,
        seconds=seconds,
        item_bytes=[dynamodb_item_bytes(r.to_item()) for r in in_index_order],
        moto_bytes=[moto_item_bytes(r.to_item()) for r in in_index_order],
    )


# --- entry point --------------------------------------------------------------------------------


def _fake_aws() -> None:
    """Fake credentials, and no endpoint override: every call must stay inside moto."""
    for name, value in FAKE_AWS_ENV.items():
        os.environ.setdefault(name, value)
    # An endpoint override would send the calls past moto's interception, to a real service.
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_calls", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    _fake_aws()
    with mock_aws():  # each mock starts empty
        events = count_events(Harness.create())
    with mock_aws():
        clean = count_clean(Harness.create())
    figures = [e.figure() for e in events] + clean.figures()
    return emit(
        "api_calls",
        "AWS API calls (botocore before-call events, moto in process)",
        figures,
        args.json,
        clean_seconds=round(clean.seconds, 2),
    )


if __name__ == "__main__":
    sys.exit(main())
