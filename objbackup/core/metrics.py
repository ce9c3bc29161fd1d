"""CloudWatch metrics in the handlers' own log lines (embedded metric format), not PutMetricData.

CloudWatch Logs extracts the metrics of a JSON log line that carries an `_aws` member:
`{"_aws": {"Timestamp": <ms>, "CloudWatchMetrics": [{"Namespace", "Dimensions": [[...]],
"Metrics": [{"Name", "Unit"}]}]}, "<Name>": <value>, "<dimension>": "<value>"}` (Amazon
CloudWatch user guide, "Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
Lambda sends stdout to CloudWatch Logs, so the hot path makes no extra call and needs no
cloudwatch:PutMetricData permission. Dimensions stay few (the deployment, the outcome), never a key:
each distinct set of dimension values is a metric of its own, billed as such.

The deployment's name comes from OBJBACKUP_DEPLOYMENT (set by the templates); without it (the CLI,
tests) no metrics are embedded and the log lines are as before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

NAMESPACE = "objbackup"
DEPLOYMENT_ENV = "OBJBACKUP_DEPLOYMENT"
DEPLOYMENT = "Deployment"
OUTCOME = "Outcome"

# Metric name -> unit; the dashboard and the alarms name only these (tests check it).
EVENTS = "Events"  # one per event, by Outcome (copied, duplicate, filtered, unsupported, ...)
COPIES = "Copies"
BYTES_COPIED = "BytesCopied"
PRUNED = "Pruned"
DISOWNED = "Disowned"
COPY_LAG = "CopyLagSeconds"
CLEANED = "Cleaned"
CLEAN_FAILED = "CleanFailed"
CLEAN_SUCCEEDED = "CleanSucceeded"
UNITS: dict[str, str] = {
    EVENTS: "Count",
    COPIES: "Count",
    BYTES_COPIED: "Bytes",
    PRUNED: "Count",
    DISOWNED: "Count",
    COPY_LAG: "Seconds",
    CLEANED: "Count",
    CLEAN_FAILED: "Count",
    CLEAN_SUCCEEDED: "Count",
}
# Outcomes whose copy was made now (a resurfaced version is copied on its delete event).
COPIED_OUTCOMES = frozenset({"copied", "resurfaced-copied"})


def deployment() -> str | None:
    """The deployment the metrics belong to, or None outside a deployed function."""
    return os.environ.get(DEPLOYMENT_ENV) or None


def _directive(dimensions: list[str], names: list[str]) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "Dimensions": [dimensions],
        "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in names],
    }


def embed(
    at: datetime,
    values: Mapping[str, float],
    outcome: str | None = None,
) -> dict[str, Any]:
    """The members to add to a log line so that it carries `values` as metrics at time `at`.

    With `outcome`, an `Events` count of 1 is embedded under the Outcome dimension as well.
    Empty outside a deployed function.
    """
    name = deployment()
    if name is None:
        return {}
    directives = []
    members: dict[str, Any] = {DEPLOYMENT: name}
    if outcome is not None:
        directives.append(_directive([DEPLOYMENT, OUTCOME], [EVENTS]))
        members |= {OUTCOME: outcome, EVENTS: 1}
    if values:
        directives.append(_directive([DEPLOYMENT], list(values)))
        members |= dict(values)
    timestamp = int(at.timestamp() * 1000)
    return members | {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": directives}}


def object_metrics(
    outcome: str,
    now: datetime,
    event_time: datetime,
    size: int,
    pruned: int,
    disowned: int,
) -> dict[str, Any]:
    """The metrics of the replicator's line about one event: its outcome, and for a copy made
    now its bytes and its write-to-copy lag (from the event's time, as S3 reports it)."""
    values: dict[str, float] = {}
    if outcome in COPIED_OUTCOMES:
        lag = max(0.0, (now - event_time).total_seconds())
        values |= {COPIES: 1, BYTES_COPIED: size, COPY_LAG: round(lag, 3)}
    if pruned:
        values[PRUNED] = pruned
    if disowned:
        values[DISOWNED] = disowned
    return embed(now, values, outcome)


def clean_metrics(now: datetime, cleaned: int, failed: int) -> dict[str, Any]:
    """The metrics of the cleaner's report line: CleanSucceeded is 1 for a run that deleted every
    expired copy it claimed, so "no successful clean for N periods" can be alarmed on."""
    return embed(
        now,
        {CLEANED: cleaned, CLEAN_FAILED: failed, CLEAN_SUCCEEDED: 0 if failed else 1},
    )
