"""The handlers' log lines carry CloudWatch metrics in the embedded metric format (EMF).

Each line is checked against the EMF specification's structure (Amazon CloudWatch user guide,
"Specification: Embedded metric format"): a root `_aws` object with a millisecond Timestamp and
MetricDirectives whose every metric and dimension is a root member of the right type.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from objbackup.core import metrics
from objbackup.core.config import Settings
from objbackup.core.events import Kind
from objbackup.core.filters import KeyFilter
from objbackup.core.replicate import Replicator
from objbackup.core.runtime import ReplicatorApp
from tests.harness import Harness

UNITS = {"Count", "Bytes", "Seconds"}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.DEPLOYMENT_ENV, "prod")


class Lines:
    """The `objbackup` logger's JSON lines so far."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __call__(self, event: str = "object") -> list[dict[str, Any]]:
        parsed = [json.loads(r.getMessage()) for r in self.caplog.records if r.name == "objbackup"]
        return [line for line in parsed if line.get("event") == event]


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    with caplog.at_level(logging.INFO, logger="objbackup"):
        yield Lines(caplog)


def emf_metrics(line: dict[str, Any]) -> dict[str, tuple[float, str, tuple[str, ...]]]:
    """Validate `line` as an EMF document; its metrics: name -> (value, unit, dimensions)."""
    meta = line["_aws"]
    assert set(meta) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    found: dict[str, tuple[float, str, tuple[str, ...]]] = {}
    for directive in meta["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert directive["Namespace"] == metrics.NAMESPACE
        (dimensions,) = directive["Dimensions"]  # one dimension set per directive
        assert 1 <= len(dimensions) <= 30
        for dimension in dimensions:
            assert isinstance(line[dimension], str) and line[dimension]
        for metric in directive["Metrics"]:
            assert set(metric) == {"Name", "Unit"} and metric["Unit"] in UNITS
            value = line[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert metric["Name"] not in found
            found[metric["Name"]] = (value, metric["Unit"], tuple(dimensions))
    return found


def test_a_copy_line_carries_outcome_bytes_and_write_to_copy_lag(
    system: Harness, deployed: None, lines: Lines
) -> None:
    event = system.put("k", b"12345")
    system.clock.advance(42.5)  # the copy is made 42.5 s after the write
    system.replicator.handle(event)
    (line,) = lines()
    assert line["outcome"] == "copied" and line["key"] == "k"  # the line is as before
    assert line["Deployment"] == "prod" and line["Outcome"] == "copied"
    assert "k" not in {line["Deployment"], line["Outcome"]}  # never the key as a dimension
    assert emf_metrics(line) == {
        "Events": (1, "Count", ("Deployment", "Outcome")),
        "Copies": (1, "Count", ("Deployment",)),
        "BytesCopied": (5, "Bytes", ("Deployment",)),
        "CopyLagSeconds": (42.5, "Seconds", ("Deployment",)),
    }
    assert line["_aws"]["Timestamp"] == int(system.clock().timestamp() * 1000)


def test_prune_disown_duplicate_and_filtered_lines(
    system: Harness, deployed: None, lines: Lines
) -> None:
    events = []
    for n in range(4):
        system.clock.advance(1)
        events.append(system.put("k", f"{n}".encode()))
        system.replicator.handle(events[-1])
    system.replicator.handle(events[-1])  # a duplicate
    system.replicator.handle(system.delete("k"))
    app = ReplicatorApp(
        Settings("src", "bak", "copies", key_filter=KeyFilter(("keep/",))), system.replicator
    )
    app.handle(system.event(Kind.CREATED, "other/x", etag="e", size=1))
    found = [emf_metrics(line) for line in lines()]
    assert [line["Outcome"] for line in lines()] == [
        "copied",
        "copied",
        "copied",
        "copied",
        "duplicate",
        "disowned",
        "filtered",
    ]
    assert found[3]["Pruned"] == (1, "Count", ("Deployment",))
    assert "Copies" not in found[4] and "Pruned" not in found[0]
    assert found[5]["Disowned"] == (3, "Count", ("Deployment",))
    assert found[6] == {"Events": (1, "Count", ("Deployment", "Outcome"))}


def test_every_outcome_is_counted_under_its_name(
    system: Harness, deployed: None, lines: Lines
) -> None:
    event = system.put("k", b"x")
    system.s3.delete_object(Bucket="src", Key="k")
    system.replicator.handle(event)
    (line,) = lines()
    assert line["Outcome"] == line["outcome"] == "source-gone"
    assert emf_metrics(line) == {"Events": (1, "Count", ("Deployment", "Outcome"))}


def test_a_failed_event_is_counted_as_error(system: Harness, deployed: None, lines: Lines) -> None:
    broken = Replicator(Settings("src", "missing-bucket", "copies"), system.s3, system.table)
    with pytest.raises(Exception):  # noqa: B017 - any failure: the line is what is tested
        broken.handle(system.put("k", b"x"))
    (line,) = lines()
    assert line["Outcome"] == "error"
    assert emf_metrics(line)["Events"] == (1, "Count", ("Deployment", "Outcome"))


def test_the_clean_report_line_counts_cleaned_failed_and_success(
    system: Harness, deployed: None, lines: Lines
) -> None:
    system.replicator.handle(system.put("k", b"x"))
    system.replicator.handle(system.delete("k"))
    system.clock.advance(11)
    system.cleaner.run(dry_run=True)
    system.cleaner.run()
    dry, real = lines("clean")
    assert "_aws" not in dry  # a dry run cleans nothing: it is no successful clean either
    assert emf_metrics(real) == {
        "Cleaned": (1, "Count", ("Deployment",)),
        "CleanFailed": (0, "Count", ("Deployment",)),
        "CleanSucceeded": (1, "Count", ("Deployment",)),
    }


def test_a_clean_with_failures_is_not_a_success() -> None:
    from datetime import UTC, datetime

    with pytest.MonkeyPatch.context() as env:
        env.setenv(metrics.DEPLOYMENT_ENV, "prod")
        embedded = metrics.clean_metrics(datetime.now(UTC), cleaned=2, failed=1)
    assert (embedded["CleanSucceeded"], embedded["CleanFailed"]) == (0, 1)


def test_no_metrics_outside_a_deployed_function(
    system: Harness, monkeypatch: pytest.MonkeyPatch, lines: Lines
) -> None:
    monkeypatch.delenv(metrics.DEPLOYMENT_ENV, raising=False)
    system.replicator.handle(system.put("k", b"x"))
    (line,) = lines()
    assert "_aws" not in line and "Deployment" not in line


def test_every_metric_has_a_unit() -> None:
    assert set(metrics.UNITS.values()) <= UNITS
