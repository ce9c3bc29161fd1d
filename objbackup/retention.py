"""Prune every object back to `retain` active copies, listing the backup bucket (never a Scan).

A lowered `retain` only takes effect at a key's next write; deploy runs this right after the
update so that, at rest, no key keeps more. Memory stays bounded: the listing streams page by page
and only the keys whose copies have not all been seen yet are held.

The listing is in ascending key order (https://docs.aws.amazon.com/AmazonS3/latest/API/
API_ListObjectsV2.html: "Objects are returned sorted in an ascending order of the respective key
names"), so every copy name that starts with `body@` lies in one contiguous stretch: a key's
copies are contiguous except for copies of keys that themselves start with `key@`, which nest
inside that stretch. A stack of open runs follows that nesting. A key with more copies in the
bucket than `retain` is looked up (one Query) and pruned by the replicator's own prune: the object
first, then its record, so a crash and rerun converge, and any concurrent write prunes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from objbackup.core.config import Settings
from objbackup.core.naming import ParsedCopyName, key_digest, parse_copy_name
from objbackup.core.replicate import Replicator
from objbackup.core.table import CopyTable
from objbackup.progress import Progress, no_progress

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


@dataclass
class PruneReport:
    """What one pass did: copies listed, keys looked up, copies pruned, keys left for verify."""

    listed: int = 0
    checked: int = 0
    pruned: int = 0
    pruned_objects: int = 0
    # Keys too long to be spelled in their copy names (hashed) and no longer in the source: their
    # records cannot be looked up here; `objbackup verify --repair` says what it can do.
    left: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "checked": self.checked,
            "pruned": self.pruned,
            "pruned_objects": self.pruned_objects,
            "left": self.left,
        }


@dataclass
class _Run:
    body: str  # the copy name before `@<timestamp>`: the key, or a hashed key's head#digest
    parsed: ParsedCopyName
    copies: int = 0


def prune_over_retention(
    settings: Settings,
    s3: S3Client,
    table: CopyTable,
    resume: bool = False,
    progress: Progress = no_progress,
) -> PruneReport:
    """Keep the newest `settings.retain` active copies of every key that has more in the bucket.

    With `resume` (an earlier pass stopped), keys holding exactly `retain` copies are looked up
    too: the key it stopped at may keep a record whose copy it had deleted already.
    """
    report = PruneReport()
    replicator = Replicator(settings, s3, table)
    open_runs: list[_Run] = []
    # A prune never deletes the newest `retain` copies, so a key cut short still holds that many.
    threshold = settings.retain - 1 if resume else settings.retain

    def close(run: _Run) -> None:
        if run.copies <= threshold:
            return
        key = run.parsed.key or _hashed_key(s3, settings.source_bucket, run.parsed)
        if key is None:
            report.left += run.copies > settings.retain
            return
        report.checked += 1
        pruned = replicator.prune(table.copies(key))
        report.pruned += pruned
        report.pruned_objects += pruned > 0

    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.backup_bucket):
        for item in page.get("Contents", []):
            name = str(item["Key"])
            report.listed += 1
            parsed = parse_copy_name(name)
            if parsed is None:
                continue  # not a copy: verify reports it as a foreign object
            body = name[: name.rindex("@")]
            while open_runs and not name.startswith(open_runs[-1].body + "@"):
                close(open_runs.pop())
            if not open_runs or open_runs[-1].body != body:
                open_runs.append(_Run(body, parsed))
            open_runs[-1].copies += 1
        progress("pruning", report.listed, None)
    while open_runs:
        close(open_runs.pop())
    return report


def _hashed_key(s3: S3Client, source_bucket: str, parsed: ParsedCopyName) -> str | None:
    """The source key a hashed copy name stands for: the object under its kept head whose digest
    matches (a few objects at most share a ~990-byte prefix), or None when it is gone."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=source_bucket, Prefix=parsed.head):
        for item in page.get("Contents", []):
            if key_digest(str(item["Key"])) == parsed.digest:
                return str(item["Key"])
    return None
