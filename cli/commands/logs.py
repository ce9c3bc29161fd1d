"""`objbackup logs`: the functions' log lines, both interleaved by time, as `sam logs` shows them;
`--follow` keeps polling until Ctrl-C."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options


class Function(StrEnum):
    """The functions whose logs can be read."""

    replicator = "replicator"
    cleaner = "cleaner"


def command(
    ctx: typer.Context,
    function: Annotated[
        Function | None,
        typer.Argument(help="Only this function's lines (default: both, interleaved by time)."),
    ] = None,
    since: Annotated[
        str,
        options.checked_option(
            "--since",
            None,
            options.since,
            "From this long ago (90s, 10m, 2h, 1d) or this ISO time (2026-01-31T12:00Z).",
        ),
    ] = "10m",
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    as_json: options.AsJson = False,
) -> None:
    """Print the replicator's and the cleaner's log lines from CloudWatch Logs.

    With --json: one JSON object per line.
    """
    run(global_options(ctx), function.value if function else None, since, follow, as_json)


def run(
    global_opts: GlobalOptions, only: str | None, since: str, follow: bool, as_json: bool
) -> None:
    """Read (or follow) the chosen functions' log groups; notes on stderr, lines on stdout."""
    from objbackup.cli import render
    from objbackup.deploy import function_logs
    from objbackup.deploy.deployment import find_deployment

    connection = global_opts.connection()
    chosen, absent = function_logs.sources(find_deployment(connection), only)
    for function in absent:
        render.message(function_logs.absent_note(function), "yellow")
    logs = connection.client("logs")
    start = function_logs.since_ms(since)

    def emit(line: function_logs.LogLine) -> None:
        function_logs.print_lines([line], as_json, sys.stdout.write)
        sys.stdout.flush()

    def missing(source: function_logs.Source) -> None:
        render.message(function_logs.missing_note(source), "yellow")

    if not follow:
        batch = function_logs.read(logs, chosen, start)
        for source in batch.missing:
            missing(source)
        function_logs.print_lines(batch.lines, as_json, sys.stdout.write)
        sys.stdout.flush()
        return
    try:
        function_logs.follow(logs, chosen, start, emit, missing, wait=function_logs.wait)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
