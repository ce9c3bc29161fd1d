"""Verify: compare the source bucket, the backup bucket and the table; optionally repair.

Everything is enumerated without a Scan. The buckets are listed (ListObjectsV2, and on a versioned
source ListObjectVersions for its deleted keys); the table is read per key, by a Query on the table
key for every key the source names and every key a copy name spells (`naming.parse_copy_name`),
plus Queries on `DisownedIndex` for disowned (and cleaner-claimed) records. A long key is hashed in
its copy names; such a copy is resolved through a key with the same hash found in those places.
On an unversioned source two things cannot be seen without a Scan, and are documented as verify's
gaps: an active record whose object is gone from the source and whose copy is gone from the backup
bucket, and the record of a hashed copy whose key is gone (reported as unresolved, left alone).

Repairs re-check what they act on first, because the replicator may be running:
* orphan copy -> deleted, unless its key's records now name it;
* record without copy -> deleted, unless the copy is there now;
* active copies of an object absent from the source -> disowned (the cleaner deletes them after
  the grace), unless a HEAD finds the object;
* disowned copies of an object that came back on a versioned source (`resurface.came_back`) ->
  reactivated as the replicator does, and its event sent if the newest is not its current content;
* more active copies than `retain` -> the oldest pruned by the replicator's own prune;
* an object with no active copy, or whose newest copy is not its current content -> an Object
  Created event through the replicator queue, exactly as backfill sends it.

Only such objects are HEADed, to tell those S3 cannot copy as they are (archived and not restored,
or SSE-C: objbackup.core.unsupported): they are `unsupported-object` findings, left alone. Those and
`foreign-object` are warnings, which no repair can or should fix; every other kind is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from objbackup.backfill import QueueSender, SourceObject, created_event, list_objects
from objbackup.core.aws import error_code, head_or_none
from objbackup.core.config import Settings
from objbackup.core.errors import ObjbackupError
from objbackup.core.filters import KeyFilter
from objbackup.core.naming import ParsedCopyName, iso_now, key_digest, parse_copy_name
from objbackup.core.records import ACTIVE, CLEANING, DISOWNED, CopyRecord
from objbackup.core.replicate import Replicator
from objbackup.core.resurface import came_back
from objbackup.core.table import CopyTable
from objbackup.core.unsupported import check_source, refusal
from objbackup.parallel import DEFAULT_WORKERS, ordered_map
from objbackup.progress import Progress, no_progress

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_sqs import SQSClient


class FindingKind(StrEnum):
    """What a finding is about. Members are listed in the order repairs run: the source bucket's
    delivery first, then copies and records agree, then counts, then new copies."""

    # The source bucket no longer sends its events to EventBridge: nothing written since is
    # backed up.
    DELIVERY_OFF = "eventbridge-delivery-off"
    ORPHAN_COPY = "orphan-copy"
    RECORD_WITHOUT_COPY = "record-without-copy"
    ABSENT_OBJECT = "copies-of-absent-object"
    CAME_BACK = "disowned-copies-of-present-object"
    OVER_RETENTION = "over-retention"
    MISSING_COPY = "missing-copy"
    STALE_COPY = "stale-copy"
    UNSUPPORTED_OBJECT = "unsupported-object"
    UNRESOLVED_COPY = "unresolved-copy"
    FOREIGN_OBJECT = "foreign-object"


# Findings no repair can or should fix: reported, but the deployment is not in error for them.
WARNINGS = frozenset({FindingKind.UNSUPPORTED_OBJECT, FindingKind.FOREIGN_OBJECT})
# Findings a new copy of the object repairs.
_NEEDS_A_COPY = frozenset({FindingKind.MISSING_COPY, FindingKind.STALE_COPY})
ERROR = "error"
WARNING = "warning"

Clock = Callable[[], datetime]
# Something changed between the check and the repair (the replicator at work): the next verify
# decides, so the finding stays unrepaired and verify exits 1.
_MOVED = "left alone: {} since the check; run verify again"
_FAILED = "repair failed: {}; run verify --repair again"


def _reason(exc: Exception) -> str:
    return error_code(exc) if isinstance(exc, ClientError) else f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Finding:
    """One inconsistency, and what repair did (or would do) about it."""

    kind: FindingKind
    object: str | None
    copy_name: str | None
    detail: str
    repaired: bool = False
    action: str | None = None

    @property
    def severity(self) -> str:
        return WARNING if self.kind in WARNINGS else ERROR

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "object": self.object,
            "copy_name": self.copy_name,
            "detail": self.detail,
            "repaired": self.repaired,
            "action": self.action,
        }


@dataclass
class VerifyReport:
    """What verify checked and found; `consistent` when nothing was found."""

    objects: int = 0
    copies: int = 0
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    repair: bool = False
    dry_run: bool = False

    @property
    def consistent(self) -> bool:
        return not self.findings

    @property
    def repaired(self) -> int:
        return sum(f.repaired for f in self.findings)

    @property
    def remaining(self) -> int:
        """Findings not repaired: 0 means the deployment is (or has been made) consistent."""
        return len(self.findings) - self.repaired

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def errors_remaining(self) -> int:
        """Errors not repaired: what makes verify exit 1 (warnings never do)."""
        return sum(f.severity == ERROR and not f.repaired for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "checked": {"objects": self.objects, "copies": self.copies, "records": self.records},
            "findings": [f.to_json() for f in self.findings],
            "repaired": self.repaired,
            "remaining": self.remaining,
            "errors": self.errors,
            "warnings": self.warnings,
            "errors_remaining": self.errors_remaining,
            "repair": self.repair,
            "dry_run": self.dry_run,
        }


@dataclass
class _State:
    """Everything read: the source, the backup bucket, and the records of every known key."""

    source: dict[str, SourceObject]
    backup: set[str]
    records: dict[str, list[CopyRecord]]
    parsed: dict[str, ParsedCopyName | None]
    resolved: dict[str, str]  # copy name -> source key, for every name whose key is known


class Verifier:
    """Checks invariants 1 to 3 of one deployment across source, backup bucket and table."""

    def __init__(
        self,
        settings: Settings,
        s3: S3Client,
        table: CopyTable,
        sqs: SQSClient | None = None,
        queue_url: str | None = None,
        key_filter: KeyFilter | None = None,
        progress: Progress = no_progress,
        clock: Clock | None = None,
        workers: int = DEFAULT_WORKERS,
        check_delivery: bool = False,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.table = table
        self.sqs = sqs
        self.queue_url = queue_url
        self.key_filter = key_filter or KeyFilter()
        self.progress = progress
        self.clock = clock or (lambda: datetime.now(UTC))
        self.workers = workers
        self.check_delivery = check_delivery

    def run(self, repair: bool = False, dry_run: bool = False) -> VerifyReport:
        """Check; with `repair`, fix each finding (with `dry_run`, only say how)."""
        state = self._read()
        report = VerifyReport(
            objects=sum(self.key_filter.matches(k) for k in state.source),
            copies=len(state.backup),
            records=sum(len(r) for r in state.records.values()),
            findings=self._delivery() + self._check(state),
            repair=repair,
            dry_run=dry_run,
        )
        if repair:
            report.findings = self._repair(report.findings, state, dry_run)
        return report

    # --- reading ------------------------------------------------------------------------------

    def _read(self) -> _State:
        source: dict[str, SourceObject] = {}
        for obj in list_objects(self.s3, self.settings.source_bucket):
            source[obj.key] = obj
            self.progress("listing source", len(source), None)
        backup: set[str] = set()
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.backup_bucket):
            for item in page.get("Contents", []):
                backup.add(str(item["Key"]))
            self.progress("listing copies", len(backup), None)
        # Claimed by a cleaner that has not finished: disowned too, under another status.
        disowned = [*self.table.disowned(), *self.table.disowned(status=CLEANING)]
        parsed = {name: parse_copy_name(name) for name in backup}
        keys = set(source) | {r.source_object for r in disowned}
        keys |= {p.key for p in parsed.values() if p is not None and p.key is not None}
        # A versioned source still names its deleted keys (noncurrent versions, delete markers):
        # their records are found even when every copy is gone or hashed.
        keys |= self._deleted_keys(source)
        digests = {p.digest for p in parsed.values() if p is not None and p.digest is not None}
        by_digest = {key_digest(k): k for k in keys} if digests else {}
        resolved: dict[str, str] = {}
        for name, p in parsed.items():
            if p is None:
                continue
            found = p.key if p.key is not None else by_digest.get(p.digest or "")
            if found is not None:
                resolved[name] = found
        records: dict[str, list[CopyRecord]] = {}
        queried = ordered_map(self.table.copies, sorted(keys), self.workers)
        for done, (key, copies) in enumerate(queried, start=1):
            if copies:
                records[key] = copies
            self.progress("querying records", done, len(keys))
        return _State(source, backup, records, parsed, resolved)

    def _deleted_keys(self, source: dict[str, SourceObject]) -> set[str]:
        """Keys with versions but no current object, when the source is (or was) versioned."""
        bucket = self.settings.source_bucket
        if not self.s3.get_bucket_versioning(Bucket=bucket).get("Status"):
            return set()
        found: set[str] = set()
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if item["Key"] not in source:
                    found.add(str(item["Key"]))
            self.progress("listing source versions", len(found), None)
        return found

    # --- checking -----------------------------------------------------------------------------

    def _delivery(self) -> list[Finding]:
        """A finding when the source bucket's EventBridge delivery is off (with check_delivery)."""
        if not self.check_delivery:
            return []
        bucket = self.settings.source_bucket
        configuration = self.s3.get_bucket_notification_configuration(Bucket=bucket)
        if "EventBridgeConfiguration" in configuration:
            return []
        detail = (
            f"source bucket {bucket} does not send its events to EventBridge: nothing written "
            "since it was turned off is backed up"
        )
        return [Finding(FindingKind.DELIVERY_OFF, None, None, detail)]

    def _check(self, state: _State) -> list[Finding]:
        findings: list[Finding] = []
        named = {r.copy_name for rs in state.records.values() for r in rs}
        for key, records in sorted(state.records.items()):
            for r in records:
                if r.copy_name not in state.backup:
                    findings.append(
                        Finding(
                            FindingKind.RECORD_WITHOUT_COPY,
                            key,
                            r.copy_name,
                            f"{r.status} record {r.copy_timestamp} names a copy that is not in "
                            "the backup bucket",
                        )
                    )
        for name in sorted(state.backup - named):
            parsed = state.parsed[name]
            owner = state.resolved.get(name)
            if parsed is None:
                findings.append(
                    Finding(
                        FindingKind.FOREIGN_OBJECT,
                        None,
                        name,
                        "not an objbackup copy name; no record",
                    )
                )
            elif owner is None:
                findings.append(
                    Finding(
                        FindingKind.UNRESOLVED_COPY,
                        None,
                        name,
                        "hashed copy name of a long key found neither in the source (its versions "
                        "included) nor in a disowned record; its record cannot be looked up "
                        "without a Scan",
                    )
                )
            else:
                findings.append(Finding(FindingKind.ORPHAN_COPY, owner, name, "copy has no record"))
        for key in sorted(set(state.source) | set(state.records)):
            findings += self._check_key(key, state)
        back = self._check_came_back(state)
        # Reactivating the copies is the repair; it sends the object's event itself if needed.
        resolved = {f.object for f in back}
        findings = [
            f for f in findings if f.kind not in _NEEDS_A_COPY or f.object not in resolved
        ] + back
        findings = self._unsupported(findings)
        order = {kind: i for i, kind in enumerate(FindingKind)}
        return sorted(findings, key=lambda f: order[f.kind])

    def _check_key(self, key: str, state: _State) -> list[Finding]:
        active = [
            r
            for r in state.records.get(key, [])
            if r.status == ACTIVE and r.copy_name in state.backup
        ]
        active.sort(key=lambda r: r.copy_timestamp, reverse=True)
        obj = state.source.get(key)
        if obj is None:
            if not active:
                return []
            return [
                Finding(
                    FindingKind.ABSENT_OBJECT,
                    key,
                    None,
                    f"{len(active)} active cop{'y' if len(active) == 1 else 'ies'} of an object "
                    "not in the source",
                )
            ]
        findings: list[Finding] = []
        matched = self.key_filter.matches(key)
        if matched and not active:
            findings.append(
                Finding(FindingKind.MISSING_COPY, key, None, "object has no active copy")
            )
        elif matched and active[0].etag is not None and active[0].etag != obj.etag:
            findings.append(
                Finding(
                    FindingKind.STALE_COPY,
                    key,
                    active[0].copy_name,
                    f"newest copy has ETag {active[0].etag}, the object {obj.etag}",
                )
            )
        if len(active) > self.settings.retain:
            findings.append(
                Finding(
                    FindingKind.OVER_RETENTION,
                    key,
                    None,
                    f"{len(active)} active copies, retain is {self.settings.retain}",
                )
            )
        return findings

    def _unsupported(self, findings: list[Finding]) -> list[Finding]:
        """Make the missing and stale copies S3 cannot make `unsupported-object` findings.

        Only those objects are HEADed (ListObjectsV2 tells neither a restore nor an archive tier
        nor SSE-C), so a consistent deployment costs no request more.
        """
        candidates = [f for f in findings if f.kind in _NEEDS_A_COPY]
        bucket = self.settings.source_bucket
        reasons: dict[str, str] = {}
        heads = ordered_map(
            lambda f: check_source(self.s3, bucket, f.object or ""), candidates, self.workers
        )
        for done, (f, reason) in enumerate(heads, start=1):
            if reason is not None:
                reasons[f.object or ""] = reason
            self.progress("checking objects without a copy", done, len(candidates))
        if not reasons:
            return findings
        result = []
        for f in findings:
            reason = reasons.get(f.object or "") if f.kind in _NEEDS_A_COPY else None
            if reason is None:
                result.append(f)
                continue
            outcome = (
                "it has no copy"
                if f.kind == FindingKind.MISSING_COPY
                else "the newest copy is older"
            )
            detail = f"{reason}: S3 cannot copy it, so {outcome}"
            result.append(Finding(FindingKind.UNSUPPORTED_OBJECT, f.object, f.copy_name, detail))
        return result

    def _check_came_back(self, state: _State) -> list[Finding]:
        """Objects back in a versioned source whose copies stayed disowned (the replicator
        reactivates them on the delete event that brought the object back; at rest none is left).

        Only keys with a disowned copy, room below `retain` and a record of the listed ETag with a
        version id can qualify; only those cost a HEAD, for the current version id.
        """
        findings: list[Finding] = []
        for key, obj in sorted(state.source.items()):
            records = state.records.get(key, [])
            active = sum(r.status == ACTIVE for r in records)
            if (
                not self.key_filter.matches(key)
                or active >= self.settings.retain
                or not any(r.status == DISOWNED for r in records)
                or not any(r.version_id and r.etag == obj.etag for r in records)
            ):
                continue
            head = self._head_source(key)
            back = [] if head is None else came_back(records, head.get("VersionId"), obj.etag)
            if back:
                findings.append(
                    Finding(
                        FindingKind.CAME_BACK,
                        key,
                        None,
                        f"{len(back)} cop{'y' if len(back) == 1 else 'ies'} disowned while the "
                        "object is back in the source (a delete marker removed or its current "
                        f"version deleted); {active} active, retain is {self.settings.retain}",
                    )
                )
        return findings

    # --- repairing ----------------------------------------------------------------------------

    def _repair(self, findings: list[Finding], state: _State, dry_run: bool) -> list[Finding]:
        sender = QueueSender(self.sqs, self.queue_url) if self.sqs and self.queue_url else None
        repaired: list[Finding] = []
        for done, finding in enumerate(findings, start=1):
            try:
                repaired.append(self._repair_one(finding, state, dry_run, sender))
            except (ClientError, BotoCoreError, ObjbackupError) as exc:
                # One repair that fails never stops the others: it stays a finding, with why.
                repaired.append(replace(finding, action=_FAILED.format(_reason(exc))))
            self.progress("repairing", done, len(findings))
        if sender is None:
            return repaired
        sender.flush()
        unsent = dict(sender.failed)
        return [
            replace(f, repaired=False, action=_FAILED.format(unsent[f.object]))
            if f.kind in _NEEDS_A_COPY and f.repaired and f.object in unsent
            else f
            for f in repaired
        ]

    def _repair_one(
        self, f: Finding, state: _State, dry_run: bool, sender: QueueSender | None
    ) -> Finding:
        if f.kind == FindingKind.CAME_BACK:
            return self._repair_came_back(f, dry_run, sender)
        handler = {
            FindingKind.ORPHAN_COPY: self._repair_orphan,
            FindingKind.RECORD_WITHOUT_COPY: self._repair_record,
            FindingKind.ABSENT_OBJECT: self._repair_absent,
            FindingKind.OVER_RETENTION: self._repair_retention,
        }.get(f.kind)
        if handler is not None:
            return handler(f, dry_run)
        if f.kind in _NEEDS_A_COPY:
            obj = state.source[f.object or ""]
            if sender is None:
                return replace(f, action="left alone: no replicator queue to send it through")
            if dry_run:
                return replace(f, action="would send an Object Created event to the queue")
            # A stale newest copy may sit above the object's LastModified (a multipart upload's
            # LastModified is its start): place the new copy at the current time instead.
            when = self.clock() if f.kind == FindingKind.STALE_COPY else None
            sender.add(created_event(self.settings.source_bucket, obj, when))
            return replace(
                f, repaired=True, action="sent an Object Created event to the replicator queue"
            )
        if f.kind == FindingKind.UNRESOLVED_COPY:
            return replace(f, action="left alone: delete it by hand if its object is gone")
        if f.kind == FindingKind.UNSUPPORTED_OBJECT:
            return replace(f, action="left alone: S3 cannot copy it as it is")
        if f.kind == FindingKind.DELIVERY_OFF:
            return replace(
                f, action="left alone: `objbackup status` prints the command that turns it on"
            )
        return replace(f, action="left alone: not made by objbackup")

    def _repair_orphan(self, f: Finding, dry_run: bool) -> Finding:
        # The replicator writes a record right after its copy: look again before deleting.
        if any(r.copy_name == f.copy_name for r in self.table.copies(f.object or "")):
            return replace(f, action=_MOVED.format("its record appeared"))
        if dry_run:
            return replace(f, action="would delete the copy")
        if f.copy_name is None:  # an orphan is a copy, found by its name: never None
            raise ValueError(f"an orphan finding without a copy name: {f}")
        self.s3.delete_object(Bucket=self.settings.backup_bucket, Key=f.copy_name)
        return replace(f, repaired=True, action="deleted the copy")

    def _repair_record(self, f: Finding, dry_run: bool) -> Finding:
        if self._exists(self.settings.backup_bucket, f.copy_name or ""):
            return replace(f, action=_MOVED.format("its copy appeared"))
        records = [r for r in self.table.copies(f.object or "") if r.copy_name == f.copy_name]
        if dry_run:
            return replace(f, action="would delete the record")
        for record in records:
            self.table.delete(record)
        return replace(f, repaired=True, action="deleted the record")

    def _repair_absent(self, f: Finding, dry_run: bool) -> Finding:
        key = f.object or ""
        if self._exists(self.settings.source_bucket, key):
            return replace(f, action=_MOVED.format("the object is in the source again"))
        if dry_run:
            return replace(f, action="would disown the copies (the cleaner deletes them)")
        at = iso_now(self.clock())
        count = sum(self.table.disown(r, at) for r in self.table.copies(key) if r.status == ACTIVE)
        return replace(
            f,
            repaired=True,
            action=f"disowned {count} cop{'y' if count == 1 else 'ies'}; the cleaner deletes "
            "them after the grace",
        )

    def _repair_came_back(self, f: Finding, dry_run: bool, sender: QueueSender | None) -> Finding:
        """Reactivate the copies as the replicator does (undelete's conditional reclaim); then
        send the object's event if its newest active copy does not hold its current content."""
        key = f.object or ""
        head = self._head_source(key)
        if head is None:
            return replace(f, action=_MOVED.format("the object left the source"))
        etag = str(head.get("ETag", "")).strip('"')
        records = self.table.copies(key)
        room = self.settings.retain - sum(r.status == ACTIVE for r in records)
        back = came_back(records, head.get("VersionId"), etag)
        if not back or room <= 0:
            return replace(f, action=_MOVED.format("its copies changed"))
        if dry_run:
            return replace(
                f,
                action=f"would reactivate up to {min(room, len(back))} (newest first), then send "
                "its Object Created event if the newest is not its current content",
            )
        count = len(self.table.reactivate_newest(back, room))
        action = f"reactivated {count} cop{'y' if count == 1 else 'ies'}"
        newest = next((r for r in self.table.copies(key) if r.status == ACTIVE), None)
        if newest is not None and newest.etag == etag:
            return replace(f, repaired=True, action=action)
        if sender is None:
            return replace(f, action=action + "; no replicator queue to send its event through")
        obj = SourceObject(key, etag, int(head.get("ContentLength", 0)), head["LastModified"])
        # Stamped now, as for a stale copy: the new copy must rank above the reactivated ones.
        sender.add(created_event(self.settings.source_bucket, obj, self.clock()))
        return replace(
            f, repaired=True, action=action + "; sent an Object Created event to the replicator"
        )

    def _head_source(self, key: str) -> Mapping[str, Any] | None:
        return head_or_none(self.s3, self.settings.source_bucket, key)

    def _repair_retention(self, f: Finding, dry_run: bool) -> Finding:
        if dry_run:
            return replace(f, action=f"would prune all but the newest {self.settings.retain}")
        replicator = Replicator(self.settings, self.s3, self.table)
        pruned = replicator.prune(self.table.copies(f.object or ""))
        return replace(f, repaired=True, action=f"pruned the oldest {pruned}")

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            return head_or_none(self.s3, bucket, key) is not None
        except ClientError as exc:
            if refusal(exc) is not None:
                return True  # an SSE-C object: there, though S3 describes it only with its key
            raise
