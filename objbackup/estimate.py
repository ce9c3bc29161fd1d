"""What a deployment costs a month, by line: the arithmetic of `objbackup estimate`, of the README's
per-class table and of docs/COSTS.md, which tests/unit/test_estimate.py holds equal to it.

Pure (no AWS call) and CLI-only: objbackup/bundle.py leaves it out of the Lambda bundle.

Prices are us-east-1 list prices, read on 2026-12-01 from the Amazon S3 pricing page
(https://aws.amazon.com/s3/pricing/: storage per GB-month, first 50 TB; "PUT, COPY, POST, LIST
requests" and "GET, SELECT, and all other requests" per 1,000; data retrievals per GB;
Intelligent-Tiering's monitoring and automation per 1,000 objects, charged only on objects of
128 KB or more, smaller ones "always charged at the Frequent Access tier rates"), AWS Lambda
pricing (https://aws.amazon.com/lambda/pricing/, arm64), Amazon DynamoDB on-demand pricing, Amazon
SQS pricing and Amazon CloudWatch pricing (Logs ingestion). Only part of the S3 page's stored copy
was readable here (its Intelligent-Tiering notes); the S3 figures were checked against guides
quoting it in 2026 (usage.ai's "S3 Cost Calculator Guide", c3x.dev's "S3 request fees
explained"), and are the figures the README used before. Minimum storage durations (30 days
STANDARD_IA, 90 days GLACIER_IR) and the 128 KB minimum billable object size: S3 User Guide,
"Understanding and managing Amazon S3 storage classes"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html#sc-compare): an
object deleted sooner is billed for the rest of the minimum. Intelligent-Tiering moves an object
not accessed for 30 consecutive days to its Infrequent Access tier and after 90 days to Archive
Instant Access (same page, "Storage class for automatically optimizing data").

The model, per month of 30 days, at steady state: the backup holds `retain` copies of the source's
bytes; every write copies one object and prunes its key's oldest copy; a delete removes the key's
`retain` copies (after `grace`, taken as short beside a month). With writes spread evenly over the
keys, a key is rewritten every stored / (writes x size) days, so a copy lives `retain` times that
before it is pruned: a copy of a key rewritten every 2 days lives 6 days and STANDARD_IA bills it
for 30. The copies are never read except by a restore, so Intelligent-Tiering moves them down.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from objbackup.core.config import DEFAULT_MULTIPART_THRESHOLD, DEFAULT_RETAIN
from objbackup.core.copier import DEFAULT_PART_BYTES, MAX_PARTS
from objbackup.core.storage_class import DEFAULT_STORAGE_CLASS, STORAGE_CLASSES

DAYS_PER_MONTH = 30
GB = 1024**3  # S3 bills GB as 2^30 bytes
KB = 1024
PRICES_READ = "2026-12-01"


@dataclass(frozen=True)
class ClassPrices:
    """One storage class's prices (USD) and billing rules."""

    storage_gb_month: float
    put_per_1000: float
    retrieval_per_gb: float = 0.0
    minimum_days: int = 0
    minimum_bytes: int = 0


# https://aws.amazon.com/s3/pricing/ (us-east-1, 2026-12-01).
CLASS_PRICES = {
    "STANDARD": ClassPrices(0.023, 0.005),
    "STANDARD_IA": ClassPrices(0.0125, 0.01, 0.01, 30, 128 * KB),
    # Frequent Access tier; the lower tiers are IT_TIERS. No retrieval fee, no minimum duration.
    "INTELLIGENT_TIERING": ClassPrices(0.023, 0.005),
    "GLACIER_IR": ClassPrices(0.004, 0.02, 0.03, 90, 128 * KB),
}
# Intelligent-Tiering: (first day of the tier, USD per GB-month): Frequent, Infrequent (30 days
# without access), Archive Instant Access (90 days). The opt-in archive tiers stay off.
IT_TIERS = ((0, 0.023), (30, 0.0125), (90, 0.004))
IT_MONITORING_PER_1000 = 0.0025
IT_MONITORED_BYTES = 128 * KB
S3_GET_PER_1000 = 0.0004  # HEAD and GetObjectTagging of a multipart copy's source
S3_HEAD_PER_1000 = 0.0004  # the HEAD of a deleted object
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
SQS_REQUEST = 0.40 / 1_000_000
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND = 0.0000133334  # arm64
LOGS_PER_GB = 0.50
# Lambda GB-s per million objects of the replicator at 512 MB, batches of 10 keys handled
# concurrently, measured by bench/latency_model.py (docs/BENCHMARKS.md, "Latency model").
LAMBDA_GB_S_PER_MILLION = 40_150
BATCH_SIZE = 10
# SQS per object: a send (EventBridge's target), and a receive and a delete per batch of 10.
SQS_REQUESTS_PER_OBJECT = 1 + 2 / BATCH_SIZE
LOG_BYTES_PER_OBJECT = 1000  # one line per object, its embedded metrics included
# A write: one consistent Query (1 read unit), a PutItem and the pruned copy's DeleteItem.
WRITE_READ_UNITS, WRITE_WRITE_UNITS = 1, 2
# A delete: a Query, then per copy an UpdateItem that writes the index too (2 units) and the
# cleaner's delete of record and index entry (2 units).
DELETE_WRITE_UNITS_PER_COPY = 4


@dataclass(frozen=True)
class Line:
    what: str
    arithmetic: str
    usd: float
    # "requests": paid per object handled; "storage": per byte kept (and its minimums).
    kind: str = "requests"


@dataclass(frozen=True)
class Estimate:
    """A month's cost by line, with the inputs and assumptions it was computed from."""

    storage_class: str
    writes_per_day: int
    deletes_per_day: int
    average_size: int
    stored_bytes: int
    retain: int
    copy_lifetime_days: float
    lines: tuple[Line, ...]
    retrieval_per_gb: float

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        """`estimate --json` (keys may be added, not renamed)."""
        return {
            "storage_class": self.storage_class,
            "writes_per_day": self.writes_per_day,
            "deletes_per_day": self.deletes_per_day,
            "average_size": self.average_size,
            "stored_bytes": self.stored_bytes,
            "retain": self.retain,
            "copy_lifetime_days": (
                None if math.isinf(self.copy_lifetime_days) else self.copy_lifetime_days
            ),
            "lines": [
                {"what": x.what, "arithmetic": x.arithmetic, "usd": x.usd, "kind": x.kind}
                for x in self.lines
            ],
            "total_usd": self.total,
            "restore_retrieval_per_gb_usd": self.retrieval_per_gb,
            "prices": f"us-east-1 list prices read {PRICES_READ}",
        }


def copy_requests(size: int, threshold: int = DEFAULT_MULTIPART_THRESHOLD) -> tuple[int, int]:
    """(PUT-class, GET-class) requests of one copy: a CopyObject; or CreateMultipartUpload, one
    UploadPartCopy per part and CompleteMultipartUpload, after a HEAD and a GetObjectTagging."""
    if size < threshold:
        return 1, 0
    part = max(DEFAULT_PART_BYTES, -(-size // MAX_PARTS))
    return 2 + -(-size // part), 2


def billable_bytes(size: int, storage_class: str) -> int:
    """What one copy of `size` bytes is billed as: at least the class's minimum size."""
    return max(size, CLASS_PRICES[storage_class].minimum_bytes)


def copy_lifetime_days(writes_per_day: int, average_size: int, stored: int, retain: int) -> float:
    """Days a copy lives before a later write of its key prunes it (inf: never rewritten)."""
    written = writes_per_day * average_size
    return math.inf if written == 0 else retain * stored / written


def it_price_gb_month(lifetime_days: float) -> float:
    """Intelligent-Tiering's mean price over a copy's life, its age spread evenly over it."""
    if math.isinf(lifetime_days):
        return IT_TIERS[-1][1]
    if lifetime_days <= 0:
        return IT_TIERS[0][1]
    total = 0.0
    for n, (start, price) in enumerate(IT_TIERS):
        end = IT_TIERS[n + 1][0] if n + 1 < len(IT_TIERS) else math.inf
        total += price * max(0.0, min(end, lifetime_days) - start)
    return total / lifetime_days


def early_delete_days(age: float, minimum: int) -> float:
    """Days billed beyond `age` for a copy removed at that age."""
    return max(0.0, minimum - age)


def mean_early_delete_days(lifetime: float, minimum: int) -> float:
    """The same for a copy whose age is spread evenly over [0, lifetime] (a deleted key's)."""
    if minimum == 0 or math.isinf(lifetime):
        return 0.0
    if lifetime <= minimum:
        return minimum - lifetime / 2
    return minimum * minimum / 2 / lifetime


def per_object_lines(count: float, *, deletes: bool = False) -> list[tuple[str, str, float]]:
    """The lines every handled object costs besides S3: DynamoDB, SQS, Lambda and Logs."""
    lines: list[tuple[str, str, float]] = []
    n = _count(count)
    if not deletes:
        lines.append(
            (
                "DynamoDB Query (1 read unit)",
                f"{n} x $0.125 / 1,000,000",
                count * WRITE_READ_UNITS * DYNAMODB_READ_UNIT,
            )
        )
        lines.append(
            (
                "DynamoDB PutItem + DeleteItem of the pruned copy",
                f"{_count(count * WRITE_WRITE_UNITS)} x $0.625 / 1,000,000",
                count * WRITE_WRITE_UNITS * DYNAMODB_WRITE_UNIT,
            )
        )
    sqs = count * SQS_REQUESTS_PER_OBJECT
    gb_s = count * LAMBDA_GB_S_PER_MILLION / 1_000_000
    batches = count / BATCH_SIZE
    logs_gb = count * LOG_BYTES_PER_OBJECT / 1e9
    return [
        *lines,
        (
            "SQS send, receive and delete (batches of 10)",
            f"{_count(sqs)} x $0.40 / 1,000,000",
            sqs * SQS_REQUEST,
        ),
        (
            "Lambda duration (bench/latency_model.py: 40,150 GB-s per million)",
            f"{_count(gb_s)} GB-s x $0.0000133334",
            gb_s * LAMBDA_GB_SECOND,
        ),
        (
            "Lambda requests",
            f"{_count(batches)} batches x $0.20 / 1,000,000",
            batches * LAMBDA_REQUEST,
        ),
        (
            "CloudWatch Logs, one ~1,000-byte line per object",
            f"{logs_gb:g} GB x $0.50",
            logs_gb * LOGS_PER_GB,
        ),
    ]


def estimate(
    writes_per_day: int,
    deletes_per_day: int,
    average_size: int,
    storage_class: str = DEFAULT_STORAGE_CLASS,
    stored: int | None = None,
    retain: int = DEFAULT_RETAIN,
) -> Estimate:
    """A month's cost by line. `stored` is the source's bytes (default: 30 days of writes, each
    key rewritten about monthly); the backup keeps `retain` copies of them."""
    for name, value in (
        ("writes_per_day", writes_per_day),
        ("deletes_per_day", deletes_per_day),
        ("average_size", average_size),
        ("stored", stored or 0),
    ):
        if value < 0:
            raise ValueError(f"{name} must be 0 or more, got {value}")
    if retain < 1:
        raise ValueError(f"retain must be 1 or more, got {retain}")
    if average_size < 1:
        raise ValueError(f"average size must be at least 1 byte, got {average_size}")
    if storage_class not in STORAGE_CLASSES:
        raise ValueError(f"storage class must be one of {', '.join(STORAGE_CLASSES)}")
    if stored is None:
        stored = writes_per_day * DAYS_PER_MONTH * average_size
    result = _month(
        writes_per_day * DAYS_PER_MONTH,
        deletes_per_day * DAYS_PER_MONTH,
        average_size,
        storage_class,
        stored,
        retain,
    )
    return Estimate(
        storage_class,
        writes_per_day,
        deletes_per_day,
        average_size,
        stored,
        retain,
        copy_lifetime_days(writes_per_day, average_size, stored, retain),
        result,
        CLASS_PRICES[storage_class].retrieval_per_gb,
    )


def _month(
    writes: int, deletes: int, average_size: int, storage_class: str, stored: int, retain: int
) -> tuple[Line, ...]:
    prices = CLASS_PRICES[storage_class]
    lifetime = copy_lifetime_days(writes, average_size, stored * DAYS_PER_MONTH, retain)
    lines: list[tuple[str, str, float]] = []
    kept: list[tuple[str, str, float]] = []

    puts, gets = copy_requests(average_size)
    lines.append(
        (
            f"S3 copy requests ({storage_class}: ${prices.put_per_1000:g} per 1,000)",
            f"{_count(writes * puts)} x ${prices.put_per_1000:g} / 1,000",
            writes * puts * prices.put_per_1000 / 1000,
        )
    )
    if gets:
        lines.append(
            (
                "S3 HEAD + GetObjectTagging of multipart sources",
                f"{_count(writes * gets)} x $0.0004 / 1,000",
                writes * gets * S3_GET_PER_1000 / 1000,
            )
        )
    lines += per_object_lines(writes)

    if deletes:
        lines.append(
            (
                "deletes: S3 HEAD",
                f"{_count(deletes)} x $0.0004 / 1,000",
                deletes * S3_HEAD_PER_1000 / 1000,
            )
        )
        units = deletes * (WRITE_READ_UNITS * DYNAMODB_READ_UNIT)
        units += deletes * retain * DELETE_WRITE_UNITS_PER_COPY * DYNAMODB_WRITE_UNIT
        lines.append(
            (
                "deletes: DynamoDB Query + 4 write units per copy",
                f"{_count(deletes)} x ($0.125 + {retain} x 4 x $0.625) / 1,000,000",
                units,
            )
        )
        lines += [
            (f"deletes: {w}", a, usd) for w, a, usd in per_object_lines(deletes, deletes=True)
        ]

    objects = stored / average_size
    copies = retain * objects
    if storage_class == "INTELLIGENT_TIERING" and average_size >= IT_MONITORED_BYTES:
        rate = it_price_gb_month(lifetime)
        kept_gb = retain * stored / GB
        kept.append(
            (
                "S3 storage, Intelligent-Tiering (mean over a copy's life)",
                f"{kept_gb:,.1f} GB x ${rate:.5f}",
                kept_gb * rate,
            )
        )
        kept.append(
            (
                "Intelligent-Tiering monitoring (objects of 128 KB or more)",
                f"{_count(copies)} copies x $0.0025 / 1,000",
                copies * IT_MONITORING_PER_1000 / 1000,
            )
        )
    else:
        billed = copies * billable_bytes(average_size, storage_class) / GB
        floor = f", {prices.minimum_bytes // KB} KB each at least" if prices.minimum_bytes else ""
        kept.append(
            (
                f"S3 storage, {retain} copies of the source{floor}",
                f"{billed:,.1f} GB x ${prices.storage_gb_month:g}",
                billed * prices.storage_gb_month,
            )
        )
    if prices.minimum_days:
        size_gb = billable_bytes(average_size, storage_class) / GB
        pruned = writes * early_delete_days(lifetime, prices.minimum_days)
        deleted = deletes * retain * mean_early_delete_days(lifetime, prices.minimum_days)
        extra_gb_month = (pruned + deleted) * size_gb / DAYS_PER_MONTH
        kept.append(
            (
                f"minimum storage duration ({prices.minimum_days} days; copies live "
                f"{_days(lifetime)})",
                f"{extra_gb_month:,.1f} GB-month x ${prices.storage_gb_month:g}",
                extra_gb_month * prices.storage_gb_month,
            )
        )
    return tuple(Line(w, a, usd) for w, a, usd in lines) + tuple(
        Line(w, a, usd, "storage") for w, a, usd in kept
    )


def per_million_writes(storage_class: str = DEFAULT_STORAGE_CLASS) -> tuple[Line, ...]:
    """The request lines of a million small (1 KiB) writes: what the README's table sums."""
    lines = _month(1_000_000, 0, KB, storage_class, 0, DEFAULT_RETAIN)
    return tuple(line for line in lines if line.kind == "requests")


def per_million_deletes(storage_class: str = DEFAULT_STORAGE_CLASS) -> float:
    """What a million deletes cost in requests (their copies' minimums aside)."""
    lines = _month(0, 1_000_000, KB, storage_class, 0, DEFAULT_RETAIN)
    return sum(line.usd for line in lines if line.what.startswith("deletes"))


def class_table() -> str:
    """The README's per-class table (tests/unit/test_estimate.py holds the README to it)."""
    rows = [
        "| storage class | per million writes | per GB-month kept (x 3 copies) | billed at least "
        "| restore (copy back) |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for name in STORAGE_CLASSES:
        prices = CLASS_PRICES[name]
        writes = _requests_per_million(name)
        if name == "INTELLIGENT_TIERING":
            first, last = IT_TIERS[0], IT_TIERS[-1]
            kept = (
                f"${first[1] * DEFAULT_RETAIN:.4g}, ${last[1] * DEFAULT_RETAIN:.4g} after "
                f"{last[0]} days; + ${IT_MONITORING_PER_1000:g} per 1,000 copies"
            )
            floor = "-; under 128 KB: Frequent tier, no monitoring"
        else:
            kept = f"${prices.storage_gb_month * DEFAULT_RETAIN:.4g}"
            floor = (
                f"{prices.minimum_days} days, {prices.minimum_bytes // KB} KB"
                if prices.minimum_days
                else "-"
            )
        restore = (
            f"at once, ${prices.retrieval_per_gb:g} per GB read"
            if prices.retrieval_per_gb
            else "at once, no fee"
        )
        rows.append(f"| {name} | {usd(writes)} | {kept} | {floor} | {restore} |")
    return "\n".join(rows)


def lines_table(storage_class: str = DEFAULT_STORAGE_CLASS) -> str:
    """docs/COSTS.md's per-million-writes lines for one class, with their arithmetic."""
    rows = ["| per million writes | arithmetic | cost |", "| --- | --- | ---: |"]
    for line in per_million_writes(storage_class):
        rows.append(f"| {line.what} | {line.arithmetic} | {usd(line.usd)} |")
    rows.append(f"| **total** | | **{usd(_requests_per_million(storage_class))}** |")
    return "\n".join(rows)


def _requests_per_million(storage_class: str) -> float:
    return sum(line.usd for line in per_million_writes(storage_class))


def usd(value: float) -> str:
    """Dollars to the cent, halves rounded up as a bill does ($0.125 is $0.13)."""
    cents = Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${cents:,}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _days(value: float) -> str:
    return "until deleted" if math.isinf(value) else f"{value:,.1f} days"


def parse_size(text: str) -> int:
    """A size in bytes from `1MB`, `512KiB`, `1.5 GB` or `2048` (KB/MB/GB are taken as KiB/MiB/GiB,
    as S3 bills them); ValueError for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?\s*", text.upper())
    if not match:
        raise ValueError(f"{text!r} is not a size: use bytes or a unit, like 1MB or 512KiB")
    number, unit, _ = match.groups()
    scale = 1024 ** "_KMGT".index(unit) if unit else 1
    return round(float(number) * scale)
