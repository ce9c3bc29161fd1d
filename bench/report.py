"""Figures, their targets, and printing them as a table or as JSON."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure; `target` is the largest value that meets it (None: no target), or
    with `at_least` the smallest."""

    name: str
    value: float
    unit: str
    target: float | None = None
    detail: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    at_least: bool = False

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.at_least else self.value <= self.target

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "met": self.met,
            "detail": self.detail,
            **self.extra,
        }


def breakdown(counts: Mapping[str, int]) -> str:
    """`dynamodb.Query 1, s3.CopyObject 1, ...`, operations in the order they were first called."""
    return ", ".join(f"{op} {n}" for op, n in counts.items()) or "none"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def render(title: str, figures: Sequence[Figure]) -> str:
    """A plain-text table: figure, value, target, verdict, detail."""
    rows = [("figure", "value", "target", "", "detail")]
    for f in figures:
        bound = ">=" if f.at_least else "<="
        target = "" if f.target is None else f"{bound} {_number(f.target)} {f.unit}"
        verdict = {None: "", True: "ok", False: "MISSED"}[f.met]
        rows.append((f.name, f"{_number(f.value)} {f.unit}", target, verdict, f.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [title, ""]
    for n, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ------")
    return "\n".join(lines)


def emit(benchmark: str, title: str, figures: Sequence[Figure], as_json: bool, **info: Any) -> int:
    """Print the figures; return the exit code: 1 if any target is missed, else 0."""
    missed = [f.name for f in figures if f.met is False]
    if as_json:
        document = {
            "benchmark": benchmark,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "python": platform.python_version(),
            "all_met": not missed,
            "missed": missed,
            **info,
            "figures": [f.to_json() for f in figures],
        }
        print(json.dumps(document, indent=2))
    else:
        print(render(title, figures))
        for name, value in info.items():
            print(f"{name}: {value}")
        print("all targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0
