"""Rendering of `restore` and `undelete`: what was (or would be) restored, on stdout and stderr."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objbackup.cli import render


def _out(line: str) -> None:
    """A data line on stdout, never wrapped and never read as markup (keys may hold brackets)."""
    render.stdout().print(line, soft_wrap=True, markup=False, highlight=False)


def _copy_line(copy: Mapping[str, Any]) -> str:
    state = copy["status"]
    if copy.get("disowned_at"):
        state += f" since {copy['disowned_at']}"
    return f"{copy['copy_timestamp']} ({state}, {copy.get('size', '?')} bytes) {copy['copy_name']}"


def restore(document: Mapping[str, Any]) -> None:
    """`restore`: the copy, the target, and what happened."""
    copy, target = document["copy"], document["to"]
    _out(f"copy   {_copy_line(copy)}")
    _out(f"to     {target}")
    over = " (over the existing object)" if document["overwrites"] else ""
    if document["dry_run"]:
        render.message(f"Would restore {document['object']} to {target}{over}.", "bold")
    elif document["restored"]:
        version = f", version {document['version_id']}" if document.get("version_id") else ""
        render.message(f"Restored {document['object']} to {target}{over}{version}.", "bold green")


def undelete(document: Mapping[str, Any]) -> None:
    """`undelete`: the copy brought back and the copies made active again."""
    copy = document["copy"]
    if copy is not None:
        _out(f"copy        {_copy_line(copy)}")
    for name in document["reactivated"]:
        _out(f"reactivate  {name}")
    count = len(document["reactivated"])
    copies = render.counted(count, "copy", "copies")
    if document["dry_run"]:
        render.message(f"Would undelete {document['object']} and reactivate {copies}.", "bold")
    elif document["restored"]:
        resumed = " (finishing an earlier undelete)" if document["resumed"] else ""
        render.message(
            f"Undeleted {document['object']}{resumed}; {copies} active again.", "bold green"
        )
