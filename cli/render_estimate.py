"""Rendering for `estimate`: the month's lines as a table on stdout, the assumptions on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from objbackup.cli.render import _show, _table, _text, message, stdout

if TYPE_CHECKING:
    from objbackup.estimate import Estimate


def estimate(result: Estimate) -> None:
    from objbackup.estimate import PRICES_READ, usd

    table = _table("per month", "arithmetic", "USD")
    for line in result.lines:
        table.add_row(_text(line.what), _text(line.arithmetic), _text(usd(line.usd)))
    table.add_row(_text("total", "bold"), _text(""), _text(usd(result.total), "bold"))
    title = (
        f"{result.writes_per_day:,} writes and {result.deletes_per_day:,} deletes a day, "
        f"{result.storage_class}"
    )
    _show(stdout(), title, table)
    lifetime = result.copy_lifetime_days
    lived = "until deleted" if lifetime == float("inf") else f"about {lifetime:,.1f} days"
    message(
        f"assumed: {result.retain} copies of {result.stored_bytes:,} stored bytes, each copy "
        f"lives {lived}; us-east-1 list prices read {PRICES_READ}"
    )
    fee = result.retrieval_per_gb
    message(f"restore: copies are read at once, {f'${fee:g} per GB read' if fee else 'no fee'}")
