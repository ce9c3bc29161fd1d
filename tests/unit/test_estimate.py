"""`objbackup estimate`'s arithmetic (objbackup/estimate.py): the README's per-class table and
docs/COSTS.md are what it computes, its figures follow the S3 billing rules it cites, and the total
only grows with the traffic."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from objbackup import estimate
from objbackup.core.storage_class import STORAGE_CLASSES

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024**2


def _between(text: str, marker: str) -> str:
    match = re.search(
        rf"<!-- {re.escape(marker)} -->\n?(.*?)\n?<!-- /{re.escape(marker)} -->", text, re.S
    )
    assert match, f"no {marker} markers"
    return match.group(1).strip()


def test_the_readme_class_table_is_what_the_function_computes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert _between(readme, "estimate:classes") == estimate.class_table()
    assert f"a million deletes cost {estimate.usd(estimate.per_million_deletes())}" in readme


def test_docs_costs_are_what_the_function_computes() -> None:
    costs = (ROOT / "docs" / "COSTS.md").read_text()
    assert _between(costs, "estimate:lines:STANDARD") == estimate.lines_table("STANDARD")
    assert _between(costs, "estimate:deletes") == estimate.usd(estimate.per_million_deletes())
    totals = ", ".join(
        f"{c} {estimate.usd(estimate.estimate(100_000, 10_000, MiB, c, stored=1024**4).total)}"
        for c in STORAGE_CLASSES
    )
    assert _between(costs, "estimate:example") == totals


def test_a_million_small_writes_line_by_line() -> None:
    """The figures the README had, with the Lambda line from the benchmark's 40,150 GB-s."""
    lines = {
        line.what.split(" (")[0]: estimate.usd(line.usd) for line in estimate.per_million_writes()
    }
    assert lines == {
        "S3 copy requests": "$5.00",
        "DynamoDB Query": "$0.13",
        "DynamoDB PutItem + DeleteItem of the pruned copy": "$1.25",
        "SQS send, receive and delete": "$0.48",
        "Lambda duration": "$0.54",
        "Lambda requests": "$0.02",
        "CloudWatch Logs, one ~1,000-byte line per object": "$0.50",
    }
    per_class = {
        c: estimate.usd(sum(x.usd for x in estimate.per_million_writes(c))) for c in STORAGE_CLASSES
    }
    assert per_class == {
        "STANDARD": "$7.91",
        "STANDARD_IA": "$12.91",
        "INTELLIGENT_TIERING": "$7.91",
        "GLACIER_IR": "$22.91",
    }


def _line(result: estimate.Estimate, starts: str) -> estimate.Line:
    [line] = [x for x in result.lines if x.what.startswith(starts)]
    return line


def test_a_copy_pruned_after_a_week_on_standard_ia_is_billed_for_30_days() -> None:
    # 1,000 writes a day of 1 MiB over 7/3 days of data: every key is rewritten every 7/3 days, so
    # with 3 copies a copy is pruned 7 days after it was written.
    stored = 1000 * MiB * 7 // 3
    result = estimate.estimate(1000, 0, MiB, "STANDARD_IA", stored=stored)
    assert result.copy_lifetime_days == pytest.approx(7)
    extra = _line(result, "minimum storage duration")
    # 30,000 copies a month, each billed 23 days more: 23/30 of a GB-month per GiB.
    assert extra.usd == pytest.approx(30_000 * 23 / 30 * MiB / 1024**3 * 0.0125)
    assert _line(result, "S3 storage").usd == pytest.approx(3 * stored / 1024**3 * 0.0125)
    standard = estimate.estimate(1000, 0, MiB, "STANDARD", stored=stored)
    assert not [x for x in standard.lines if x.what.startswith("minimum")]


def test_glacier_ir_bills_90_days_and_deleted_copies_their_mean_remainder() -> None:
    stored = 1000 * MiB * 10  # rewritten every 10 days: copies live 30
    result = estimate.estimate(1000, 100, MiB, "GLACIER_IR", stored=stored)
    pruned = 30_000 * 60  # 60 days more each
    deleted = 3_000 * 3 * (90 - 30 / 2)  # 3 copies, aged 0 to 30 days
    expected = (pruned + deleted) / 30 * MiB / 1024**3 * 0.004
    assert _line(result, "minimum storage duration").usd == pytest.approx(expected)
    assert result.retrieval_per_gb == 0.03
    assert estimate.mean_early_delete_days(120, 30) == pytest.approx(30 * 30 / 2 / 120)
    assert estimate.mean_early_delete_days(math.inf, 30) == 0


def test_small_copies_are_billed_as_128_kb_in_ia_and_glacier_ir() -> None:
    assert estimate.billable_bytes(1024, "STANDARD_IA") == 128 * 1024
    assert estimate.billable_bytes(1024, "GLACIER_IR") == 128 * 1024
    assert estimate.billable_bytes(1024, "STANDARD") == 1024
    small = estimate.estimate(1000, 0, 1024, "STANDARD_IA", stored=1000 * 1024 * 365)
    storage = _line(small, "S3 storage")
    assert storage.usd == pytest.approx(3 * 1000 * 365 * 128 * 1024 / 1024**3 * 0.0125)


def test_intelligent_tiering_monitors_only_copies_of_128_kb_or_more() -> None:
    big = estimate.estimate(1000, 0, MiB, "INTELLIGENT_TIERING", stored=1000 * MiB * 40)
    assert _line(big, "Intelligent-Tiering monitoring").usd == pytest.approx(
        3 * 40_000 * 0.0025 / 1000
    )
    # Copies live 120 days: 30 in Frequent, 60 in Infrequent, 30 in Archive Instant Access.
    rate = (30 * 0.023 + 60 * 0.0125 + 30 * 0.004) / 120
    assert estimate.it_price_gb_month(120) == pytest.approx(rate)
    assert _line(big, "S3 storage").usd == pytest.approx(3 * 40_000 * MiB / 1024**3 * rate)
    small = estimate.estimate(1000, 0, 64 * 1024, "INTELLIGENT_TIERING")
    assert not [x for x in small.lines if "monitoring" in x.what]
    assert "$0.023" in _line(small, "S3 storage").arithmetic


def test_a_multipart_copy_counts_its_parts() -> None:
    assert estimate.copy_requests(1024) == (1, 0)
    assert estimate.copy_requests(1024**3) == (2 + 16, 2)  # 64 MiB parts
    huge = estimate.estimate(10, 0, 1024**3, "STANDARD")
    assert _line(huge, "S3 copy requests").usd == pytest.approx(300 * 18 * 0.005 / 1000)


@pytest.mark.parametrize(
    ("text", "size"),
    [("2048", 2048), ("1MB", MiB), ("512KiB", 512 * 1024), ("1.5 GB", 1536 * MiB), ("7b", 7)],
)
def test_sizes_parse(text: str, size: int) -> None:
    assert estimate.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1MB", "1XB", "MB", "1 MB MB", "1e3"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        estimate.parse_size(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"writes_per_day": -1},
        {"deletes_per_day": -1},
        {"average_size": -1},
        {"average_size": 0},
        {"retain": 0},
        {"storage_class": "GLACIER"},
    ],
)
def test_bad_inputs_are_refused(kwargs: dict[str, object]) -> None:
    given_args: dict[str, object] = {"writes_per_day": 1, "deletes_per_day": 1, "average_size": 1}
    with pytest.raises(ValueError):
        estimate.estimate(**(given_args | kwargs))  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    writes=st.integers(0, 10**7),
    more=st.integers(1, 10**6),
    deletes=st.integers(0, 10**6),
    size=st.integers(1, 5 * 1024**3),
    stored=st.integers(0, 10**15),
    storage_class=st.sampled_from(STORAGE_CLASSES),
)
def test_more_writes_or_deletes_never_cost_less(
    writes: int, more: int, deletes: int, size: int, stored: int, storage_class: str
) -> None:
    base = estimate.estimate(writes, deletes, size, storage_class, stored=stored)
    assert base.total >= 0 and all(line.usd >= 0 for line in base.lines)
    tolerance = 1e-9 * max(1.0, base.total)
    assert estimate.estimate(writes + more, deletes, size, storage_class, stored=stored).total >= (
        base.total - tolerance
    )
    assert estimate.estimate(writes, deletes + more, size, storage_class, stored=stored).total >= (
        base.total - tolerance
    )
