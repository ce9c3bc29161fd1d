"""Undelete: inside the grace period, bring a deleted object back from its newest disowned copy.

Atomic with respect to the cleaner through one condition on each side: undelete makes a record
active again only while it is `disowned` (`CopyTable.reactivate`), and the cleaner claims a record
for deletion only while it is still `disowned` since the time it read (`CopyTable.claim`). A record
is therefore either reclaimed or cleaned, never both.

Steps, each safe to repeat:
1. Refuse if the source object exists (that is `restore`'s job).
2. Reclaim the newest disowned copy; if the cleaner took it, the next newest, and so on.
3. Reclaim the older disowned copies, up to `retain` active copies in all.
4. Copy the newest reclaimed copy back to the source key (content type, metadata and tags kept),
   only if the key is still absent: a write since step 1 wins, and undelete says so.

A run that stopped before step 4 leaves active copies and no source object; the next run restores
from the newest active copy (and reclaims what step 3 had not). The copy-back fires an Object
Created event like any write: the replicator adds a copy of the restored bytes and prunes back to
`retain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from objbackup.core.copier import TargetCondition
from objbackup.core.records import ACTIVE, CLEANING, DISOWNED, CopyRecord
from objbackup.restore import RestoreError, Restorer


@dataclass
class UndeleteResult:
    """What an undelete did, or on a dry run would do."""

    source_object: str
    dry_run: bool
    restored_from: CopyRecord | None = None
    reactivated: list[CopyRecord] = field(default_factory=list)
    resumed: bool = False  # restored from an active copy a stopped undelete had reclaimed
    version_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.source_object,
            "dry_run": self.dry_run,
            "restored": not self.dry_run and self.restored_from is not None,
            "copy": None if self.restored_from is None else self.restored_from.to_json(),
            "reactivated": [r.copy_name for r in self.reactivated],
            "resumed": self.resumed,
            "version_id": self.version_id,
        }


class Undeleter:
    """Brings deleted objects back from their disowned copies, racing the cleaner safely."""

    def __init__(self, restorer: Restorer, retain: int) -> None:
        self.restorer = restorer
        self.table = restorer.table
        self.retain = retain

    def run(self, source_object: str, dry_run: bool = False) -> UndeleteResult:
        """Undelete `source_object`; RestoreError with a hint when it cannot be done."""
        if self.restorer.exists(source_object):
            raise RestoreError(
                f"{source_object} exists in the source bucket; there is nothing to undelete",
                f"to bring back an older content, run `objbackup restore {source_object}`",
            )
        records = self.table.copies(source_object)  # newest first
        active = [r for r in records if r.status == ACTIVE]
        disowned = [r for r in records if r.status == DISOWNED]
        result = UndeleteResult(source_object, dry_run)
        if active:
            # An undelete that stopped after reclaiming (or a delete not yet handled by the
            # replicator): the newest active copy is the content to bring back.
            result.restored_from, result.resumed = active[0], True
        elif dry_run:
            result.restored_from = disowned[0] if disowned else None
            result.reactivated = disowned[: self.retain]
        else:
            # The newest copy the cleaner has not taken comes back, then older ones up to retain.
            # Everything is reclaimed before the copy-back: a run that stops half way leaves
            # active copies and no source object, which the next run recognises and finishes.
            result.reactivated = self.table.reactivate_newest(disowned, self.retain)
            result.restored_from = next(iter(result.reactivated), None)
        if result.restored_from is None:
            raise _nothing_to_undelete(source_object, records)
        if dry_run:
            return result
        if result.resumed:
            newest = result.restored_from.copy_timestamp
            older = [r for r in disowned if r.copy_timestamp < newest]
            result.reactivated = self.table.reactivate_newest(older, self.retain - len(active))
        # Only while the key is still absent: a write since step 1 is newer than the delete.
        result.version_id = self.restorer.copy_back(
            result.restored_from, source_object, TargetCondition()
        )
        return result


def _nothing_to_undelete(source_object: str, records: list[CopyRecord]) -> RestoreError:
    being_cleaned = any(r.status == CLEANING for r in records)
    if being_cleaned:
        return RestoreError(
            f"{source_object} cannot be undeleted: the cleaner is deleting its copies",
            "the grace period is over; no copy of it will remain",
        )
    if not records:
        # No record at all: the table cannot tell a key objbackup never backed up from one whose
        # copies the cleaner deleted (records go with them), so both are named.
        return RestoreError(
            f"{source_object} has no copy to undelete: objbackup never backed it up, or the grace "
            "period is over and its copies were cleaned",
            "no copy of it remains; check the key (keys are case-sensitive) and "
            "`objbackup list --disowned` for what can still be undeleted",
        )
    return RestoreError(
        f"{source_object} has no disowned copy to undelete: the grace period is over",
        "no copy of it remains; `objbackup list --disowned` shows what can still be undeleted",
    )
