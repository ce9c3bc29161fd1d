"""The functions' log lines for `objbackup logs`, as `sam logs` fetches them: read from each
function's log group with FilterLogEvents, both functions interleaved by time, and followed by
polling. CLI-side only (objbackup/deploy is left out of the Lambda bundle).

FilterLogEvents returns a group's events of all its streams in time order, a page at a time
(`nextToken`), from `startTime` (epoch milliseconds) on
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html);
`sam logs` reads `/aws/lambda/<function name>` the same way and tails it with `--tail`
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-logs.html).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.deploy.deployment import Deployment

if TYPE_CHECKING:
    from types_boto3_logs import CloudWatchLogsClient

FUNCTIONS = ("replicator", "cleaner")
DEFAULT_SINCE = "10m"
POLL_SECONDS = 1.0
# A poll re-reads this much before the newest line seen: a line can become searchable after
# lines stamped later than it (its stream was sent later). Lines seen already are skipped.
LOOKBACK_MS = 10_000
_RELATIVE = re.compile(r"(\d+)\s*(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: datetime) -> datetime:
    """`--since`: a duration back from `now` (90s, 10m, 2h, 1d) or an ISO 8601 time (UTC unless
    it names its offset). ValueError for anything else."""
    text = value.strip().lower()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - timedelta(seconds=int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)])
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (10m, 2h, 1d) nor an ISO time (2026-01-31T12:00:00Z)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def log_group(function_name: str) -> str:
    """The log group Lambda writes a function's output to (the templates create it)."""
    return f"/aws/lambda/{function_name}"


@dataclass(frozen=True)
class Source:
    """One function whose log group is read: its role in the deployment and its name."""

    function: str
    function_name: str

    @property
    def group(self) -> str:
        return log_group(self.function_name)


def sources(deployment: Deployment, only: str | None = None) -> tuple[list[Source], list[str]]:
    """The functions to read (`only` one, or both), and the roles whose function is not there
    (its stack is missing or has no function output)."""
    names = {
        "replicator": deployment.replicator_function,
        "cleaner": deployment.cleaner_function,
    }
    found, absent = [], []
    for function in FUNCTIONS:
        if only is not None and function != only:
            continue
        name = names[function]
        if name:
            found.append(Source(function, name))
        else:
            absent.append(function)
    return found, absent


@dataclass(frozen=True)
class LogLine:
    """One log event of a function."""

    timestamp_ms: int
    function: str
    function_name: str
    stream: str
    message: str
    event_id: str = ""

    @property
    def time(self) -> str:
        when = datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def emf(self) -> dict[str, Any] | None:
        """The line's embedded-metric-format document, when it is one (a JSON object with an
        `_aws` member holding `CloudWatchMetrics`: the Amazon CloudWatch user guide,
        "Specification: Embedded metric format")."""
        text = self.message.strip()
        if not text.startswith("{") or '"_aws"' not in text:
            return None
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        meta = document.get("_aws")
        if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
            return None
        return document

    def to_json(self) -> dict[str, Any]:
        """`logs --json`: one object per line, on a line of its own."""
        return {
            "timestamp": self.time,
            "function": self.function,
            "function_name": self.function_name,
            "log_stream": self.stream,
            "message": self.message,
            "emf": self.emf(),
        }

    def text(self) -> str:
        return f"{self.time} {self.function:<10} {self.message.rstrip()}"


@dataclass
class Batch:
    """What one read found: the lines (by time) and the sources whose log group is missing."""

    lines: list[LogLine] = field(default_factory=list)
    missing: list[Source] = field(default_factory=list)


def read(
    logs: CloudWatchLogsClient, chosen: Iterable[Source], start_ms: int, end_ms: int | None = None
) -> Batch:
    """Every line of the `chosen` functions from `start_ms` on, interleaved by time; a function
    whose log group does not exist (it never ran) is listed in `missing`, not an error."""
    batch = Batch()
    for source in chosen:
        arguments: dict[str, Any] = {"logGroupName": source.group, "startTime": start_ms}
        if end_ms is not None:
            arguments["endTime"] = end_ms
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**arguments):
                batch.lines += [
                    LogLine(
                        timestamp_ms=int(event["timestamp"]),
                        function=source.function,
                        function_name=source.function_name,
                        stream=str(event.get("logStreamName", "")),
                        message=str(event.get("message", "")),
                        event_id=str(event.get("eventId", "")),
                    )
                    for event in page.get("events", [])
                ]
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            batch.missing.append(source)
    # Stable: one group's lines of the same millisecond keep FilterLogEvents' order.
    batch.lines.sort(key=lambda line: line.timestamp_ms)
    return batch


class Follower:
    """Reads new lines on each poll: from the start time first, then from a little before the
    newest line seen, skipping lines already returned."""

    def __init__(self, logs: CloudWatchLogsClient, chosen: list[Source], start_ms: int) -> None:
        self._logs = logs
        self._chosen = chosen
        self._from = start_ms
        self._newest = start_ms
        self._seen: dict[tuple[str, str, str, int], int] = {}

    def poll(self) -> Batch:
        batch = read(self._logs, self._chosen, self._from)
        fresh = []
        for line in batch.lines:
            key = (line.function, line.stream, line.event_id or line.message, line.timestamp_ms)
            if key in self._seen:
                continue
            self._seen[key] = line.timestamp_ms
            fresh.append(line)
            self._newest = max(self._newest, line.timestamp_ms)
        self._from = max(self._from, self._newest - LOOKBACK_MS)
        # What is older than the next read's start can never come back.
        self._seen = {k: t for k, t in self._seen.items() if t >= self._from}
        batch.lines = fresh
        return batch


def wait(seconds: float) -> None:
    """The pause between two polls of `follow` (tests replace it: they never sleep)."""
    time.sleep(seconds)


def follow(
    logs: CloudWatchLogsClient,
    chosen: list[Source],
    start_ms: int,
    emit: Callable[[LogLine], None],
    missing: Callable[[Source], None],
    wait: Callable[[float], None] = wait,
    rounds: int | None = None,
    every: float = POLL_SECONDS,
) -> None:
    """Emit every line from `start_ms` on, then poll for more every `every` seconds, until
    `rounds` polls were made (forever without it; the caller stops it with Ctrl-C). `missing` is
    told once of each log group that does not exist yet."""
    follower = Follower(logs, chosen, start_ms)
    told: set[str] = set()
    done = 0
    while True:
        batch = follower.poll()
        for source in batch.missing:
            if source.group not in told:
                told.add(source.group)
                missing(source)
        for line in batch.lines:
            emit(line)
        done += 1
        if rounds is not None and done >= rounds:
            return
        wait(every)


def since_ms(value: str, now: datetime | None = None) -> int:
    """`--since` as epoch milliseconds."""
    return int(parse_since(value, now or datetime.now(UTC)).timestamp() * 1000)


def print_lines(lines: Iterable[LogLine], as_json: bool, write: Callable[[str], Any]) -> None:
    """Each line as text (time, function, message) or as a JSON object, one per line."""
    for line in lines:
        write(_rendered(line, as_json))


def _rendered(line: LogLine, as_json: bool) -> str:
    if as_json:
        return json.dumps(line.to_json(), ensure_ascii=False, default=str) + "\n"
    return line.text() + "\n"


def missing_note(source: Source) -> str:
    return f"No log group {source.group} yet: the {source.function} has not run."


def absent_note(function: str) -> str:
    return f"The deployment has no {function} function: its stack is missing or incomplete."
