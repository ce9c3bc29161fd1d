"""The copy record: one row of the table per backup copy, and its JSON shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["active", "disowned", "cleaning"]
ACTIVE: Status = "active"
DISOWNED: Status = "disowned"
# Claimed by the cleaner (conditionally, from disowned): its copy is being deleted, and nothing
# may take it back. `disowned_at` stays, so a crashed clean finds it again on `DisownedIndex`.
CLEANING: Status = "cleaning"


@dataclass(frozen=True)
class CopyRecord:
    """A backup copy of `source_object`, stored in the backup bucket under `copy_name`."""

    source_object: str
    copy_timestamp: str
    copy_name: str
    status: Status = ACTIVE
    disowned_at: str | None = None
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    created_at: str | None = None
    # Until when the cleaner run that claimed it owns it (a `cleaning` record); None: no lease.
    claimed_until: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The copy's JSON shape of the CLI contract (keys may be added, never renamed)."""
        return {
            "source_object": self.source_object,
            "copy_timestamp": self.copy_timestamp,
            "copy_name": self.copy_name,
            "status": self.status,
            "disowned_at": self.disowned_at,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "created_at": self.created_at,
        }

    def to_item(self) -> dict[str, dict[str, str]]:
        """The DynamoDB item (low-level attribute values)."""
        item: dict[str, dict[str, str]] = {
            "source_object": {"S": self.source_object},
            "copy_timestamp": {"S": self.copy_timestamp},
            "copy_name": {"S": self.copy_name},
            "status": {"S": self.status},
        }
        for name, value in (
            ("disowned_at", self.disowned_at),
            ("etag", self.etag),
            ("version_id", self.version_id),
            ("created_at", self.created_at),
            ("claimed_until", self.claimed_until),
        ):
            if value is not None:
                item[name] = {"S": value}
        if self.size is not None:
            item["size"] = {"N": str(self.size)}
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CopyRecord:
        def text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value["S"])

        status = text("status")
        size = item.get("size")
        return cls(
            source_object=str(item["source_object"]["S"]),
            copy_timestamp=str(item["copy_timestamp"]["S"]),
            copy_name=str(item["copy_name"]["S"]),
            status=DISOWNED if status == DISOWNED else CLEANING if status == CLEANING else ACTIVE,
            disowned_at=text("disowned_at"),
            size=None if size is None else int(size["N"]),
            etag=text("etag"),
            version_id=text("version_id"),
            created_at=text("created_at"),
            claimed_until=text("claimed_until"),
        )

    def key(self) -> dict[str, dict[str, str]]:
        return {
            "source_object": {"S": self.source_object},
            "copy_timestamp": {"S": self.copy_timestamp},
        }
