"""`objbackup logs` against moto: both functions' log groups interleaved by time, `--since`,
one function, `--json` (with the EMF document), a missing log group, and `--follow` stopped by
Ctrl-C, polled without sleeping."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from objbackup.deploy import function_logs
from tests.cli.conftest import Cli
from tests.harness import REGION

EMF = {
    "event": "object",
    "Deployment": "objbackup",
    "Copies": 1,
    "_aws": {
        "Timestamp": 1,
        "CloudWatchMetrics": [
            {
                "Namespace": "objbackup",
                "Dimensions": [["Deployment"]],
                "Metrics": [{"Name": "Copies", "Unit": "Count"}],
            }
        ],
    },
}


@pytest.fixture
def deployed(cli: Cli) -> dict[str, Any]:
    cli.ok("deploy", "--yes")
    status: dict[str, Any] = cli.json("status")
    return status


def put(cli: Cli, function: str, stream: str, events: list[tuple[int, str]]) -> None:
    logs = cli.client("logs")
    group = f"/aws/lambda/{function}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": t, "message": m} for t, m in events],
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def test_logs_interleaves_both_functions_by_time_from_since(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    t = now_ms() - 60_000
    replicator, cleaner = deployed["replicator_function"], deployed["cleaner_function"]
    put(cli, replicator, "2026/01/01/[$LATEST]a", [(t, "r one"), (t + 2000, "r two")])
    put(cli, cleaner, "2026/01/01/[$LATEST]b", [(t - 3 * 3600_000, "c old"), (t + 1000, "c one")])

    out = cli.ok("logs").stdout.splitlines()
    assert [line.split(maxsplit=2)[1:] for line in out] == [
        ["replicator", "r one"],
        ["cleaner", "c one"],
        ["replicator", "r two"],
    ]
    assert out[0].startswith(datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    assert "c old" in cli.ok("logs", "--since", "4h").stdout
    assert "c old" in cli.ok("logs", "--since", "1d").stdout
    old = datetime.fromtimestamp((t - 3 * 3600_000 - 1000) / 1000, UTC)
    assert "c old" in cli.ok("logs", "--since", old.isoformat()).stdout
    assert "c old" not in cli.ok("logs", "--since", "2h").stdout
    only = cli.ok("logs", "cleaner").stdout.splitlines()
    assert [line.split(maxsplit=2)[2] for line in only] == ["c one"]


def test_logs_json_gives_one_object_per_line_with_the_emf_document(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    t = now_ms() - 5000
    put(
        cli,
        deployed["replicator_function"],
        "s",
        [(t, "START RequestId: x Version: $LATEST"), (t + 1, json.dumps(EMF))],
    )
    lines = [
        json.loads(line) for line in cli.ok("logs", "replicator", "--json").stdout.splitlines()
    ]
    assert [set(line) for line in lines] == [
        {"timestamp", "function", "function_name", "log_stream", "message", "emf"}
    ] * 2
    assert lines[0]["emf"] is None and lines[0]["message"].startswith("START")
    assert lines[1]["emf"] == EMF
    assert lines[1]["function"] == "replicator"
    assert lines[1]["function_name"] == deployed["replicator_function"]
    assert lines[1]["log_stream"] == "s"
    stamp = datetime.fromisoformat(lines[1]["timestamp"].replace("Z", "+00:00"))
    assert int(stamp.timestamp() * 1000) == t + 1


def test_a_missing_log_group_is_said_on_stderr_not_an_error(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    logs = cli.client("logs")
    for function in (deployed["replicator_function"], deployed["cleaner_function"]):
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            logs.delete_log_group(logGroupName=f"/aws/lambda/{function}")
    put(cli, deployed["cleaner_function"], "s", [(now_ms() - 1000, "cleaned")])
    result = cli.ok("logs")
    assert result.stdout.splitlines()[0].endswith("cleaner    cleaned")
    group = f"/aws/lambda/{deployed['replicator_function']}"
    assert f"No log group {group} yet: the replicator has not run." in result.stderr
    assert "Error" not in result.stderr


@pytest.mark.parametrize("since", ["5x", "10 minutes", "", "-1h", "yesterday", "2026-13-01"])
def test_since_refuses_what_it_cannot_read_while_parsing(cli: Cli, since: str) -> None:
    result = cli("logs", "--since", since)
    assert result.exit_code == 2, result.output
    assert "--since" in result.stderr


def test_follow_prints_new_lines_once_and_ctrl_c_exits_0(
    cli: Cli, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    replicator = deployed["replicator_function"]
    t = now_ms() - 5000
    put(cli, replicator, "s", [(t, "before")])
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            put(cli, replicator, "s", [(t + 1000, "during")])
        elif len(waits) == 2:
            put(cli, deployed["cleaner_function"], "s2", [(t + 2000, "cleaner during")])
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(function_logs, "wait", wait)
    result = cli("logs", "--follow")
    assert result.exit_code == 0, result.output
    messages = [line.split(maxsplit=2)[2] for line in result.stdout.splitlines()]
    assert messages == ["before", "during", "cleaner during"]
    assert waits == [function_logs.POLL_SECONDS] * 3


def test_read_pages_through_a_group_and_follow_stops_after_its_rounds(moto_aws: None) -> None:
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName="/aws/lambda/fn")
    logs.create_log_stream(logGroupName="/aws/lambda/fn", logStreamName="s")
    t = now_ms() - 60_000
    # FilterLogEvents answers at most 10,000 events a page: one more needs a second page.
    for start in (0, 10_000):
        count = 10_000 if start == 0 else 1
        logs.put_log_events(
            logGroupName="/aws/lambda/fn",
            logStreamName="s",
            logEvents=[
                {"timestamp": t + i, "message": f"m{i}"} for i in range(start, start + count)
            ],
        )
    chosen = [function_logs.Source("replicator", "fn")]
    batch = function_logs.read(logs, chosen, t)
    assert len(batch.lines) == 10_001 and batch.lines[-1].message == "m10000"
    seen: list[str] = []
    function_logs.follow(
        logs, chosen, t + 9_999, lambda line: seen.append(line.message), print, rounds=3
    )
    assert seen == ["m9999", "m10000"]


def test_parse_since_reads_durations_and_iso_times() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert function_logs.parse_since("10m", now) == now - timedelta(minutes=10)
    assert function_logs.parse_since("2h", now) == now - timedelta(hours=2)
    assert function_logs.parse_since("1d", now) == now - timedelta(days=1)
    assert function_logs.parse_since("90s", now) == now - timedelta(seconds=90)
    assert function_logs.parse_since("2026-11-30T08:00:00Z", now) == datetime(
        2026, 11, 30, 8, tzinfo=UTC
    )
    assert function_logs.parse_since("2026-11-30T08:00", now) == datetime(
        2026, 11, 30, 8, tzinfo=UTC
    )
    assert function_logs.parse_since("2026-11-30T10:00+02:00", now) == datetime(
        2026, 11, 30, 8, tzinfo=UTC
    )
    for bad in ("10", "m", "1w", "10 m s", "now"):
        with pytest.raises(ValueError, match="neither a duration"):
            function_logs.parse_since(bad, now)
