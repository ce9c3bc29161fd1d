"""`objbackup estimate`: what a deployment would cost a month, by line (no AWS call)."""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.core.config import DEFAULT_RETAIN, MAX_RETAIN, MIN_RETAIN


def command(
    writes_per_day: Annotated[
        int,
        typer.Option(
            "--writes-per-day", min=0, metavar="N", help="Objects written a day (new or rewritten)."
        ),
    ],
    deletes_per_day: Annotated[
        int, typer.Option("--deletes-per-day", min=0, metavar="N", help="Objects deleted a day.")
    ],
    average_size: Annotated[
        str,
        options.checked_option(
            "--average-size",
            "SIZE",
            options.size,
            "Average object size: bytes, or 512KiB, 1MB, 2.5GB (units of 1,024).",
        ),
    ],
    storage_class: Annotated[
        str,
        options.checked_option(
            "--storage-class",
            "CLASS",
            options.storage_class,
            "STANDARD, STANDARD_IA, INTELLIGENT_TIERING or GLACIER_IR.",
        ),
    ] = "STANDARD",
    stored: Annotated[
        str | None,
        options.checked_option(
            "--stored",
            "SIZE",
            options.size,
            "Bytes in the source bucket (default: 30 days of writes); the backup keeps "
            "--retain copies of them, and how often a key is rewritten decides how long a "
            "copy lives.",
        ),
    ] = None,
    retain: Annotated[
        int,
        typer.Option(
            min=MIN_RETAIN, max=MAX_RETAIN, help="Copies kept per object (deploy --retain)."
        ),
    ] = DEFAULT_RETAIN,
    as_json: options.AsJson = False,
) -> None:
    """A month's cost by line at us-east-1 list prices (arithmetic: docs/COSTS.md)."""
    from objbackup.cli import render_estimate
    from objbackup.estimate import estimate

    try:
        result = estimate(
            writes_per_day,
            deletes_per_day,
            int(average_size),
            storage_class,
            None if stored is None else int(stored),
            retain,
        )
    except ValueError as exc:  # what parsing lets through (an average size of 0)
        raise typer.BadParameter(str(exc)) from None
    if as_json:
        from objbackup.cli.render import print_json

        print_json(result.to_json())
    else:
        render_estimate.estimate(result)
