"""`status`'s health: EventBridge delivery (first, in red, when off), lag, last clean, alarms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objbackup.cli import render


def delivery_off(document: Mapping[str, Any]) -> None:
    """The warning that comes before everything else: backups have silently stopped."""
    render.error(
        f"source bucket {document['source_bucket']} no longer sends its events to EventBridge: "
        "nothing written since is backed up",
        f"turn delivery back on with: {document['eventbridge_fix']}"
        " (then `objbackup backfill` copies what was missed)",
    )


def health(document: Mapping[str, Any]) -> None:
    """Delivery, backup lag, last clean and alarm states, as a table on stdout."""
    from rich.text import Text

    table = render._table("health", "value")
    delivery = document.get("eventbridge_delivery")
    table.add_row(
        Text("EventBridge delivery"),
        Text(
            {True: "on", False: "OFF: backups have stopped", None: "unknown"}[delivery],
            {True: "green", False: "bold red", None: "dim"}[delivery],
        ),
    )
    lag = document.get("backup_lag_seconds")
    table.add_row(Text("backup lag"), Text("unknown" if lag is None else f"{lag:g} s"))
    clean = document.get("last_clean")
    table.add_row(
        Text("last clean"),
        Text(
            f"{clean['time']} ({clean['outcome']})" if clean else "unknown",
            ("green" if clean["outcome"] == "ok" else "red") if clean else "dim",
        ),
    )
    alarms = document.get("alarms")
    if alarms is None:
        table.add_row(Text("alarms"), Text("unknown", "dim"))
    elif not alarms:
        table.add_row(Text("alarms"), Text("none found", "dim"))
    for alarm in alarms or []:
        state = alarm["state"]
        style = {"OK": "green", "ALARM": "bold red"}.get(state, "yellow")
        table.add_row(Text(f"alarm {alarm['name']}"), Text(state, style))
    render._show(render.stdout(), "Health", table)
