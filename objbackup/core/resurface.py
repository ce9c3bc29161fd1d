"""Which disowned copies come back when an older version of a key becomes current again.

On a versioned source an object can return with no Object Created event: removing its delete
marker (a DELETE naming the marker's version id) or deleting its current version makes an older
version current, and S3 sends only an Object Deleted event (EventBridge deletion-type "Permanently
Deleted", classic `s3:ObjectRemoved:Delete`; S3 user guide, "Using EventBridge" and "Working with
delete markers"). The copies the hiding deletes disowned are those disowned after the now current
version's first copy was recorded; copies disowned before that belong to an earlier life of the
key (deleted, then written anew) and stay disowned, as they would had the version never been hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

from objbackup.core.records import DISOWNED, CopyRecord

# Writes while versioning is suspended all get the version id "null": it tells nothing apart.
_NULL_VERSION = "null"
_SECOND = len("2026-01-01T00:00:00")  # the whole-second prefix of a copy_timestamp


def came_back(
    records: Sequence[CopyRecord], version_id: str | None, etag: str | None
) -> list[CopyRecord]:
    """The disowned records to make active again now that `version_id` (`etag`) is current.

    `records` are one key's, newest first; so is the answer. Empty unless a record holds that very
    version (same version id and ETag): only then is the current version known to have come back.
    """
    if not version_id or version_id == _NULL_VERSION:
        return []
    # When its first copy was recorded (the replicator's clock, like `disowned_at`, to the
    # microsecond): a copy disowned later was disowned while this version was, or after.
    held = [_recorded(r) for r in records if r.version_id == version_id and r.etag == etag]
    if not held:
        return []
    written = min(held)
    return [
        r
        for r in records
        if r.status == DISOWNED and r.disowned_at is not None and r.disowned_at >= written
    ]


def _recorded(record: CopyRecord) -> str:
    # Records always carry created_at; the second of the write stands in should one not.
    return record.created_at or record.copy_timestamp[:_SECOND]
