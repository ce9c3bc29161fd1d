"""The operator CLI: how fast `objbackup --help` answers, and how long deploy and teardown take
against moto in process (the in-process figures show the tool's own overhead, not AWS's).

`--help` is timed as a user runs it: the venv's `objbackup` console script in a fresh process,
`--runs` times; the figure is the median. boto3, rich's tables and the deploy core are imported
by the commands only, so `--help` pays for Python, Typer and Typer's rich help formatting.

    .venv/bin/python -m bench.cli [--runs 15] [--json]

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.report import Figure, emit

HELP_TARGET_MS = 300.0
DEFAULT_RUNS = 15


def help_times(runs: int) -> list[float]:
    """Wall-clock milliseconds of `objbackup --help`, one fresh process each."""
    script = Path(sys.executable).with_name("objbackup")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(script), "--help"], capture_output=True, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def moto_round_trip() -> dict[str, float]:
    """Seconds for deploy, a second (no-change) deploy, and teardown --yes, in moto."""
    from moto import mock_aws
    from typer.testing import CliRunner

    from objbackup.cli.app import app
    from objbackup.sandbox.patches import install_all

    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "OBJBACKUP_NAME"):
        os.environ.pop(name, None)
    install_all()
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
    runner = CliRunner()

    def timed(*args: str) -> float:
        started = time.perf_counter()
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.stderr)
        return time.perf_counter() - started

    figures: dict[str, float] = {}
    with mock_aws():
        steps: list[tuple[str, Callable[[], float]]] = [
            ("deploy", lambda: timed("deploy", "--yes")),
            ("deploy, no changes", lambda: timed("deploy", "--yes")),
            ("status --json", lambda: timed("status", "--json")),
            ("teardown", lambda: timed("teardown", "--yes")),
        ]
        for name, step in steps:
            figures[name] = step()
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli", description=__doc__)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="runs of --help")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    times = help_times(args.runs)
    figures = [
        Figure(
            "objbackup --help (median)",
            round(statistics.median(times), 1),
            "ms",
            HELP_TARGET_MS,
            detail=f"{args.runs} runs, min {min(times):.0f} ms, max {max(times):.0f} ms",
            extra={"runs_ms": [round(t, 1) for t in times]},
        )
    ]
    for name, seconds in moto_round_trip().items():
        figures.append(Figure(f"{name} in moto", round(seconds * 1000, 1), "ms"))
    return emit("cli", "objbackup CLI", figures, args.json, cores=os.cpu_count())


if __name__ == "__main__":
    sys.exit(main())
