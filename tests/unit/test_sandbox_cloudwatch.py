"""The sandbox's stand-in for CloudWatch Logs' metric extraction and PutLogEvents batching: EMF
documents become the metrics the specification says, invalid ones none; batches stay within
PutLogEvents' limits; the handlers' own metric lines extract as the dashboard expects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from objbackup.core import metrics
from objbackup.sandbox.cloudwatch import _chunks, emf_metrics
from objbackup.sandbox.sqs_metrics import queue_data


def _document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": 1_764_590_400_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "ns",
                    "Dimensions": [["A"], ["A", "B"]],
                    "Metrics": [{"Name": "M", "Unit": "Count"}],
                }
            ],
        },
        "A": "a",
        "B": "b",
        "M": 2,
    }
    return document | overrides


def test_each_dimension_set_gives_one_metric() -> None:
    found = emf_metrics(json.dumps(_document()))
    when = datetime(2025, 12, 1, 12, tzinfo=UTC)
    assert found == [
        {
            "Namespace": "ns",
            "MetricName": "M",
            "Timestamp": when,
            "Value": 2.0,
            "Unit": "Count",
            "Dimensions": [{"Name": "A", "Value": "a"}],
        },
        {
            "Namespace": "ns",
            "MetricName": "M",
            "Timestamp": when,
            "Value": 2.0,
            "Unit": "Count",
            "Dimensions": [{"Name": "A", "Value": "a"}, {"Name": "B", "Value": "b"}],
        },
    ]


def test_values_arrays_and_no_dimensions() -> None:
    document = _document(M=[1, 2.5])
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = []
    (found,) = emf_metrics(json.dumps(document))
    assert found["Values"] == [1.0, 2.5] and found["Dimensions"] == []


@pytest.mark.parametrize(
    "message",
    [
        "plain text",
        '{"event": "x"}',
        json.dumps(_document(M="2")),  # a metric's value must be a number
        json.dumps(_document(A=3)),  # a dimension's value must be a string
        json.dumps({k: v for k, v in _document().items() if k != "M"}),  # the member is missing
        json.dumps(_document(M=True)),
        json.dumps(_document(M=list(range(101)))),  # at most 100 values
        json.dumps(_document(_aws={"CloudWatchMetrics": []})),  # no Timestamp
        "prefix " + json.dumps(_document()),  # the message must be the JSON object alone
        '{"_aws": ',
    ],
)
def test_what_is_not_a_valid_emf_document_gives_no_metric(message: str) -> None:
    assert emf_metrics(message) == []


def test_the_handlers_metric_lines_extract_as_emitted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.DEPLOYMENT_ENV, "prod")
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    line = {"event": "object"} | metrics.object_metrics("copied", now, now, 10, 0, 0)
    found = {(m["MetricName"], len(m["Dimensions"])): m for m in emf_metrics(json.dumps(line))}
    assert set(found) == {("Events", 2), ("Copies", 1), ("BytesCopied", 1), ("CopyLagSeconds", 1)}
    assert found[("Events", 2)]["Dimensions"] == [
        {"Name": "Deployment", "Value": "prod"},
        {"Name": "Outcome", "Value": "copied"},
    ]
    assert found[("BytesCopied", 1)]["Value"] == 10.0
    assert all(m["Namespace"] == "objbackup" and m["Timestamp"] == now for m in found.values())


def test_batches_stay_within_put_log_events_limits() -> None:
    many = [(i, "x") for i in range(25_000)]
    assert [len(c) for c in _chunks(many)] == [10_000, 10_000, 5_000]
    big = [(i, "y" * 300_000) for i in range(7)]
    chunks = _chunks(big)
    assert all(sum(len(m) + 26 for _, m in c) <= 1_048_576 for c in chunks)
    assert sum(len(c) for c in chunks) == 7
    (huge,) = _chunks([(0, "z" * 2_000_000)])
    assert len(huge[0][1]) + 26 <= 1_048_576


def test_queue_metrics_give_the_oldest_messages_age_only_when_there_is_one() -> None:
    def message(sent: int, visible_at: int = 0) -> Any:
        return SimpleNamespace(sent_timestamp=sent, visible_at=visible_at, delayed_until=0)

    busy = SimpleNamespace(name="q", _messages=[message(1_000), message(4_000, visible_at=9_999)])
    idle = SimpleNamespace(name="dlq", _messages=[])
    data = {
        (d["MetricName"], d["Dimensions"][0]["Value"]): d for d in queue_data([busy, idle], 5_000)
    }
    assert data[("ApproximateAgeOfOldestMessage", "q")]["Value"] == 4.0
    assert data[("ApproximateNumberOfMessagesVisible", "q")]["Value"] == 1.0
    assert data[("ApproximateNumberOfMessagesVisible", "dlq")]["Value"] == 0.0
    assert ("ApproximateAgeOfOldestMessage", "dlq") not in data
