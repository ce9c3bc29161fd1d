"""Listing copies in the CLI contract's JSON shapes: one object's copies, or every disowned copy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from objbackup.core.naming import iso_now
from objbackup.core.records import CLEANING, CopyRecord
from objbackup.core.table import CopyTable


def list_copies(table: CopyTable, source_object: str) -> dict[str, Any]:
    """`{"object": key, "copies": [...]}`, newest first (a Query on the table key)."""
    return {
        "object": source_object,
        "copies": [r.to_json() for r in table.copies(source_object)],
    }


def list_disowned(
    table: CopyTable, older_than: float | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """`{"disowned": [...]}`, oldest first (Queries on `DisownedIndex`, every page of them).

    Copies the cleaner has claimed (status `cleaning`: being deleted, no longer undeletable) are
    listed too, in disowned-time order. With `older_than`, only copies disowned more than that
    many seconds before `now`.
    """
    before = None
    if older_than is not None:
        if now is None:
            raise ValueError("older_than needs now")
        before = iso_now(now - timedelta(seconds=older_than))
    records: list[CopyRecord] = sorted(
        [*table.disowned(before=before), *table.disowned(before=before, status=CLEANING)],
        key=lambda r: (r.disowned_at or "", r.source_object, r.copy_timestamp),
    )
    return {"disowned": [r.to_json() for r in records]}
