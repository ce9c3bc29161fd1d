"""Restore: copy a backup copy back to the source bucket, with its content type, metadata and tags.

The copy is chosen from the object's records (a Query on the table key): an exact
`copy_timestamp` as `list` shows it, its compact form as in the copy name, or the copy name itself;
by default the newest active copy, else the newest disowned one. `cleaning` copies are being
deleted by the cleaner and are never chosen. The bytes travel server-side through the same
`Copier` the replicator uses (CopyObject, or a multipart copy above the threshold).

The copy-back is conditional on the target as the plan saw it (absent, or at the ETag the
operator agreed to overwrite): a write that lands between the check and the copy is never
overwritten, and the restore says so instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import head_or_none, is_not_found
from objbackup.core.copier import Copier, SourceChanged, TargetChanged, TargetCondition
from objbackup.core.errors import ObjbackupError
from objbackup.core.records import ACTIVE, DISOWNED, CopyRecord
from objbackup.core.table import CopyTable

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


class RestoreError(ObjbackupError):
    """A restore or an undelete that cannot be done; carries a hint for the operator."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class RestorePlan:
    """Which copy goes where, and whether an object is there already."""

    source_object: str
    copy: CopyRecord
    to: str
    target_etag: str | None  # the target's ETag when the plan was made; None when it was absent

    @property
    def overwrites(self) -> bool:
        return self.target_etag is not None

    @property
    def target(self) -> TargetCondition:
        """The copy-back's condition: the target is still as this plan saw it."""
        return TargetCondition(self.target_etag)

    def to_json(self, dry_run: bool, restored: bool, version_id: str | None) -> dict[str, Any]:
        return {
            "object": self.source_object,
            "copy": self.copy.to_json(),
            "to": self.to,
            "overwrites": self.overwrites,
            "dry_run": dry_run,
            "restored": restored,
            "version_id": version_id,
        }


def compact_timestamp(copy_timestamp: str) -> str:
    """The form a copy name ends with: `2026-11-25T05:06:12Z~SEQ` -> `20261125T050612Z-SEQ`."""
    when, _, sequencer = copy_timestamp.partition("~")
    return f"{when.replace('-', '').replace(':', '')}-{sequencer}"


def pick_copy(records: list[CopyRecord], wanted: str | None) -> CopyRecord | None:
    """The copy `wanted` names, or the default one; AmbiguousCopy when it names several.

    `wanted` is a copy timestamp, its compact form or a copy name, or any unique prefix of one
    (what a paste or a shell completion leaves). The default is the newest active copy, else the
    newest disowned one. `records` are newest first, as `CopyTable.copies` returns them.
    """
    usable = [r for r in records if r.status in (ACTIVE, DISOWNED)]
    if wanted is None:
        active = [r for r in usable if r.status == ACTIVE]
        preferred = active or usable
        return preferred[0] if preferred else None
    wanted = wanted.strip()
    if not wanted:
        return None

    def names(record: CopyRecord) -> tuple[str, str, str]:
        stamp = record.copy_timestamp
        return (stamp, compact_timestamp(stamp), record.copy_name)

    exact = [r for r in usable if wanted in names(r)]
    if exact:
        return exact[0]
    matches = [r for r in usable if any(n.startswith(wanted) for n in names(r))]
    if len(matches) > 1:
        raise AmbiguousCopy(wanted, [r.copy_timestamp for r in matches])
    return matches[0] if matches else None


class AmbiguousCopy(RestoreError):
    """`--copy` names several copies by a prefix; `candidates` are their copy timestamps."""

    def __init__(self, wanted: str, candidates: list[str]) -> None:
        super().__init__(
            f"--copy {wanted} names {len(candidates)} copies: {', '.join(candidates)}",
            "give more of the copy timestamp (as `objbackup list` shows it)",
        )
        self.candidates = candidates


class Restorer:
    """Copies backup copies back into the source bucket."""

    def __init__(
        self,
        s3: S3Client,
        table: CopyTable,
        source_bucket: str,
        backup_bucket: str,
        multipart_threshold: int,
    ) -> None:
        self.s3 = s3
        self.table = table
        self.source_bucket = source_bucket
        self.backup_bucket = backup_bucket
        # The replicator's copier, pointed the other way: backup bucket -> source bucket.
        self.copier = Copier(s3, source_bucket, multipart_threshold)

    def plan(self, source_object: str, wanted: str | None, to: str | None) -> RestorePlan:
        """Choose the copy and check the target; RestoreError when there is no such copy."""
        records = self.table.copies(source_object)
        chosen = pick_copy(records, wanted)
        if chosen is None:
            raise _no_copy(source_object, wanted, records)
        target = to or source_object
        return RestorePlan(source_object, chosen, target, self.etag(target))

    def etag(self, key: str) -> str | None:
        """The ETag of `key` in the source bucket now (a HEAD), or None when it is absent."""
        return self._etag_in(self.source_bucket, key)

    def _etag_in(self, bucket: str, key: str) -> str | None:
        head = head_or_none(self.s3, bucket, key)
        return None if head is None else str(head["ETag"])

    def exists(self, key: str) -> bool:
        """Whether the source bucket holds `key` now."""
        return self.etag(key) is not None

    def copy_back(
        self, record: CopyRecord, to: str, target: TargetCondition | None = None
    ) -> str | None:
        """Copy `record`'s copy to `to` in the source bucket; returns the new version id, if any.

        With `target`, `to` must still be as `target` says (RestoreError if not, nothing written).
        """
        try:
            head = self.s3.head_object(Bucket=self.backup_bucket, Key=record.copy_name)
            size = int(head.get("ContentLength", 0))
            self.copier.copy(self.backup_bucket, record.copy_name, to, None, size, target)
        except TargetChanged as exc:
            raise _target_changed(to) from exc
        except SourceChanged as exc:
            # S3 answers 404 both for a missing source and for If-Match on a missing target.
            if target and target.etag and self._etag_in(self.backup_bucket, record.copy_name):
                raise _target_changed(to) from exc
            raise _copy_gone(record) from exc
        except ClientError as exc:
            if is_not_found(exc):
                raise _copy_gone(record) from exc
            raise
        after = self.s3.head_object(Bucket=self.source_bucket, Key=to)
        version: str | None = after.get("VersionId")
        return version


def _target_changed(to: str) -> RestoreError:
    return RestoreError(
        f"{to} changed after it was checked; nothing was overwritten",
        "something wrote or deleted it meanwhile: look at it, then run the command again",
    )


def _copy_gone(record: CopyRecord) -> RestoreError:
    return RestoreError(
        f"copy {record.copy_name} is no longer in the backup bucket",
        "the cleaner deleted it; run `objbackup list` for the copies that remain",
    )


def _no_copy(source_object: str, wanted: str | None, records: list[CopyRecord]) -> RestoreError:
    if wanted is None:
        return RestoreError(
            f"no copy of {source_object} to restore",
            "run `objbackup list --disowned` to see the objects that still have copies",
        )
    return RestoreError(
        f"no copy of {source_object} at {wanted}",
        f"run `objbackup list {source_object}` for its copies"
        if records
        else "the object has no copies at all",
    )
