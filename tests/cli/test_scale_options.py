"""`deploy --concurrency/--batch-size/--batching-window/--replicator-memory`: they reach the event
source mapping and the function, stick on later deploys like --retain, show in the plan and in
`status`, and a value Lambda would refuse is refused before any AWS call."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from objbackup.cli.app import app
from tests.cli.conftest import Cli


def _deployed_scale(cli: Cli) -> tuple[int, int, int, int]:
    function = cli.json("status")["replicator_function"]
    aws = cli.client("lambda")
    [mapping] = aws.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    memory = aws.get_function_configuration(FunctionName=function)["MemorySize"]
    return (
        mapping["ScalingConfig"]["MaximumConcurrency"],
        mapping["BatchSize"],
        mapping["MaximumBatchingWindowInSeconds"],
        memory,
    )


@pytest.mark.slow  # several deploys
def test_the_scale_reaches_the_mapping_and_the_function_and_is_kept(cli: Cli) -> None:
    cli.ok("deploy", "--yes")
    assert _deployed_scale(cli) == (25, 10, 1, 512)
    scale = ("--concurrency", "200", "--batch-size", "50", "--batching-window", "3")
    planned = cli.json("deploy", "--dry-run", "--json", *scale, "--replicator-memory", "1024")
    assert {key: planned["settings"][key] for key in ("concurrency", "batch_size")} == {
        "concurrency": 200,
        "batch_size": 50,
    }
    shown = cli.ok("deploy", "--dry-run", *scale)
    assert "up to 200 replicator instances, batches of up to 50 messages" in shown.stderr
    cli.ok("deploy", "--yes", *scale, "--replicator-memory", "1024")
    assert _deployed_scale(cli) == (200, 50, 3, 1024)
    assert "No changes" in cli.ok("deploy").stderr
    cli.ok("deploy", "--yes", "--retain", "4")
    assert _deployed_scale(cli) == (200, 50, 3, 1024)
    status = cli.json("status")
    assert (status["concurrency"], status["batch_size"]) == (200, 50)
    assert (status["batching_window"], status["replicator_memory"]) == (3, 1024)
    assert "batch window (s)" in cli.ok("status").stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--concurrency", "1"],
        ["--concurrency", "1001"],
        ["--batch-size", "0"],
        ["--batching-window", "301"],
        ["--replicator-memory", "64"],
    ],
)
def test_a_scale_out_of_range_is_a_usage_error(aws_credentials: None, args: list[str]) -> None:
    result = CliRunner().invoke(app, ["deploy", *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    # The usage error is a rich panel, wrapped to the terminal: read it as one line of words.
    words = " ".join(result.output.replace("│", " ").split())
    assert f"{args[0]} must be" in words  # says the range, not just "no such option"
    assert "env var" not in words  # click 8.2.0/8.2.1 add "(env var: 'None')"


def test_a_batch_above_ten_without_a_window_is_refused(cli: Cli) -> None:
    result = cli("deploy", "--yes", "--batch-size", "11", "--batching-window", "0")
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and "--batching-window" in lines[0], lines
    assert lines[1].startswith("Hint: ") and "Traceback" not in result.output
