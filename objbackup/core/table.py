"""The copy table: every read is a Query (on the table key or on `DisownedIndex`), never a Scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.chunks import chunks
from objbackup.core.records import ACTIVE, CLEANING, DISOWNED, CopyRecord, Status

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_dynamodb.type_defs import (
        UpdateTypeDef,
        WriteRequestOutputTypeDef,
        WriteRequestTypeDef,
    )

BATCH_WRITE_LIMIT = 25
TRANSACT_WRITE_LIMIT = 100
_MAX_UNPROCESSED_ROUNDS = 8


class CopyTable:
    """Reads and writes copy records of one table through a low-level DynamoDB client."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        disowned_index: str = "DisownedIndex",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table = table
        self.disowned_index = disowned_index
        self._sleep = sleep

    def copies(self, source_object: str) -> list[CopyRecord]:
        """Every record of one object, newest first (consistent reads: decisions depend on them)."""
        return list(
            self._query(
                KeyConditionExpression="source_object = :k",
                ExpressionAttributeValues={":k": {"S": source_object}},
                ConsistentRead=True,
                ScanIndexForward=False,
            )
        )

    def disowned(
        self, before: str | None = None, status: Status = DISOWNED, page_size: int | None = None
    ) -> Iterator[CopyRecord]:
        """Disowned records, oldest first; only those disowned strictly before `before` if given.

        `status=CLEANING` reads the records a cleaner claimed instead (they keep `disowned_at`).
        Pages are read as they are consumed (`page_size` items each, else DynamoDB's 1 MB).
        """
        extra: dict[str, Any] = {}
        if page_size is not None:
            extra["PaginationConfig"] = {"PageSize": page_size}
        values: dict[str, Any] = {":d": {"S": status}}
        condition = "#s = :d"
        if before is not None:
            condition += " AND disowned_at < :before"
            values[":before"] = {"S": before}
        return self._query(
            IndexName=self.disowned_index,
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
            ScanIndexForward=True,
            **extra,
        )

    def put_new(self, record: CopyRecord) -> bool:
        """Write a record unless one exists at its key; False when it did (a duplicate)."""
        return self._conditional_write(
            self.client.put_item,
            Item=record.to_item(),
            ConditionExpression="attribute_not_exists(source_object)",
        )

    def disown(self, record: CopyRecord, at: str) -> bool:
        """Mark an active record disowned at `at`; False when it was no longer active."""
        return self._move_status(
            record, ACTIVE, "SET #s = :to, disowned_at = :at", to=DISOWNED, at=at
        )

    def reactivate(self, record: CopyRecord) -> bool:
        """Make a disowned record active again; False when it was not disowned (a cleaner took it).

        The condition is the whole of undelete's atomicity against the cleaner: a claimed
        (`cleaning`) or deleted record fails it.
        """
        return self._move_status(record, DISOWNED, "SET #s = :to REMOVE disowned_at", to=ACTIVE)

    def reactivate_newest(self, records: Iterable[CopyRecord], room: int) -> list[CopyRecord]:
        """Reactivate `records` in the order given (newest first) until `room` of them are active
        again; returns those reactivated. A record the cleaner claimed meanwhile is skipped for
        the next one (undelete, and an object that came back on a versioned source)."""
        reactivated: list[CopyRecord] = []
        for record in records:
            if len(reactivated) >= room:
                break
            if self.reactivate(record):
                reactivated.append(record)
        return reactivated

    def claim(self, records: Iterable[CopyRecord], until: str | None = None) -> list[CopyRecord]:
        """Mark disowned records `cleaning`, 100 a transaction; returns those claimed."""
        return self.claim_many(records, until).claimed

    def claim_many(self, records: Iterable[CopyRecord], until: str | None = None) -> ClaimResult:
        """Claim records for one cleaner run, 100 a transaction, each for itself.

        A `disowned` record is claimed on condition it is still disowned since the `disowned_at`
        that was read, so a record undeleted (or undeleted and disowned again) in the meantime is
        left alone. A `cleaning` record (a run that stopped, or whose lease ran out) is taken over
        on condition its `claimed_until` is still the one read, so of two runs only one wins it.
        `until` is the new owner's lease. A record whose condition fails is dropped from its
        transaction, which is retried without it; ALL_OLD tells who took it (DynamoDB API
        reference, TransactWriteItems, `ReturnValuesOnConditionCheckFailure` and
        `CancellationReason.Item`). A record that cannot be claimed for another reason fails alone.
        """
        result = ClaimResult()
        for chunk in chunks(records, TRANSACT_WRITE_LIMIT):
            self._claim_chunk(chunk, until, result)
        return result

    def _claim_chunk(self, chunk: list[CopyRecord], until: str | None, result: ClaimResult) -> None:
        pending = list(chunk)
        for attempt in range(_MAX_UNPROCESSED_ROUNDS):
            if not pending:
                return
            try:
                self.client.transact_write_items(
                    TransactItems=[{"Update": self._claim_update(r, until)} for r in pending]
                )
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    break  # refused as a whole (throttled out, denied, malformed): one by one
                reasons = exc.response.get("CancellationReasons", [])
                lost = {
                    i: reason.get("Item")
                    for i, reason in enumerate(reasons)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if lost:
                    for i, item in lost.items():
                        result.lose(pending[i], item)
                    pending = [r for i, r in enumerate(pending) if i not in lost]
                else:
                    # A conflict with another transaction or throttling: back off and retry.
                    self._sleep(min(2.0, 0.05 * 2**attempt))
                continue
            result.claimed += [_claimed(r, until) for r in pending]
            return
        for record in pending:
            self._claim_one(record, until, result)

    def _claim_update(self, record: CopyRecord, until: str | None) -> UpdateTypeDef:
        values: dict[str, Any] = {":c": {"S": CLEANING}}
        if record.status == CLEANING:
            if record.claimed_until is None:
                condition = "#s = :c AND attribute_not_exists(claimed_until)"
            else:
                condition = "#s = :c AND claimed_until = :was"
                values[":was"] = {"S": record.claimed_until}
        else:
            condition = "#s = :d AND disowned_at = :at"
            values[":d"] = {"S": DISOWNED}
            values[":at"] = {"S": record.disowned_at or ""}
        if until is None:
            update = "SET #s = :c REMOVE claimed_until"
        else:
            update = "SET #s = :c, claimed_until = :until"
            values[":until"] = {"S": until}
        return {
            "TableName": self.table,
            "Key": record.key(),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _claim_one(self, record: CopyRecord, until: str | None, result: ClaimResult) -> None:
        try:
            self.client.update_item(**self._claim_update(record, until))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                # ALL_OLD: the item comes back in the error (UpdateItem API reference).
                response: Mapping[str, Any] = exc.response
                result.lose(record, response.get("Item"))
            else:
                result.failed.append((record, f"claim: {error_code(exc)}"))
            return
        result.claimed.append(_claimed(record, until))

    def take_lease(self, name: str, holder: str, now: str, until: str) -> bool:
        """Hold the lease `name` until `until` unless another holder has it past `now`.

        The lease is an item no S3 key can collide with (its partition key is longer than the
        1,024 bytes a key may have: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html)
        and without `status`, so `DisownedIndex` never holds it.
        """
        return self._conditional_write(
            self.client.update_item,
            Key=_lease_key(name),
            UpdateExpression="SET holder = :h, lease_until = :until",
            ConditionExpression="attribute_not_exists(lease_until) OR lease_until <= :now",
            ExpressionAttributeValues={
                ":h": {"S": holder},
                ":until": {"S": until},
                ":now": {"S": now},
            },
        )

    def release_lease(self, name: str, holder: str, now: str) -> None:
        """Give the lease `name` up at `now`, if `holder` still holds it."""
        self._conditional_write(
            self.client.update_item,
            Key=_lease_key(name),
            UpdateExpression="SET lease_until = :now",
            ConditionExpression="holder = :h",
            ExpressionAttributeValues={":h": {"S": holder}, ":now": {"S": now}},
        )

    def _move_status(self, record: CopyRecord, was: Status, update: str, **values: str) -> bool:
        """Apply `update` to `record` (its `:name` values given by name) if its status is still
        `was`; False when it was not."""
        return self._conditional_write(
            self.client.update_item,
            Key=record.key(),
            UpdateExpression=update,
            ConditionExpression="#s = :was",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                f":{name}": {"S": value} for name, value in (values | {"was": was}).items()
            },
        )

    def _conditional_write(self, write: Callable[..., Any], **request: Any) -> bool:
        """Make one conditional write to the table; False when its condition did not hold."""
        try:
            write(TableName=self.table, **request)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, record: CopyRecord) -> None:
        self.client.delete_item(TableName=self.table, Key=record.key())

    def delete_many(self, records: Iterable[CopyRecord]) -> list[CopyRecord]:
        """Delete records 25 a call, retrying unprocessed items; returns those never deleted."""
        return [record for record, _ in self.delete_records(records)]

    def delete_records(self, records: Iterable[CopyRecord]) -> list[tuple[CopyRecord, str]]:
        """Delete records 25 a call; returns those never deleted, each with its reason.

        A batch refused as a whole is retried record by record, so one record never fails
        the others.
        """
        failed: list[tuple[CopyRecord, str]] = []
        for batch in chunks(records, BATCH_WRITE_LIMIT):
            try:
                left = self._delete_batch(batch)
            except ClientError:
                left = []
                for record in batch:
                    try:
                        left += self._delete_batch([record])
                    except ClientError as exc:
                        failed.append((record, f"record not deleted: {error_code(exc)}"))
            failed += [(record, "record not deleted: unprocessed") for record in left]
        return failed

    def _delete_batch(self, batch: list[CopyRecord]) -> list[CopyRecord]:
        pending = {_key_of(r.key()): r for r in batch}
        requests: Sequence[WriteRequestTypeDef | WriteRequestOutputTypeDef] = [
            {"DeleteRequest": {"Key": r.key()}} for r in batch
        ]
        for attempt in range(_MAX_UNPROCESSED_ROUNDS):
            response = self.client.batch_write_item(RequestItems={self.table: requests})
            requests = response.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return []
            # Unprocessed items mean throttling: back off exponentially, as AWS advises.
            self._sleep(min(2.0, 0.05 * 2**attempt))
        left = {_key_of(r["DeleteRequest"]["Key"]) for r in requests}
        return [record for key, record in pending.items() if key in left]

    def _query(self, **kwargs: Any) -> Iterator[CopyRecord]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            # Taken out of the page (which the paginator holds while it fetches the next) and let
            # go item by item, so a consumer that streams holds at most one page.
            items = cast("dict[str, Any]", page).pop("Items", [])  # required, to the stubs
            items.reverse()
            while items:
                yield CopyRecord.from_item(items.pop())


def _claimed(record: CopyRecord, until: str | None) -> CopyRecord:
    return replace(record, status=CLEANING, claimed_until=until)


@dataclass
class ClaimResult:
    """How a claim went, record by record."""

    claimed: list[CopyRecord] = field(default_factory=list)
    reclaimed: list[CopyRecord] = field(default_factory=list)  # undelete took it back first
    taken: list[CopyRecord] = field(default_factory=list)  # another clean claimed or deleted it
    failed: list[tuple[CopyRecord, str]] = field(default_factory=list)

    def lose(self, record: CopyRecord, item: Mapping[str, Any] | None) -> None:
        """File a record whose condition failed, by what the table held (ALL_OLD) instead."""
        now = None if item is None else CopyRecord.from_item(item)
        if now is None or now.status == CLEANING or record.status == CLEANING:
            self.taken.append(record)
        else:  # active again, or disowned again since: undelete took it back
            self.reclaimed.append(record)


# Longer than any S3 key, so never a source object's partition.
LEASE_PARTITION = "objbackup lease " + "~" * 1024


def _lease_key(name: str) -> dict[str, dict[str, str]]:
    return {"source_object": {"S": LEASE_PARTITION}, "copy_timestamp": {"S": name}}


def _key_of(key: Mapping[str, Any]) -> tuple[str, str]:
    return key["source_object"]["S"], key["copy_timestamp"]["S"]
