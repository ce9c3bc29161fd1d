"""The copy table: every read is a Query (on the table key or on `DisownedIndex`), never a Scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from objbackup.aws import error_code
from objbackup.chunks import chunks
from objbackup.records import ACTIVE, CLEANING, DISOWNED, CopyRecord, Status

BATCH_WRITE_LIMIT = 25
TRANSACT_WRITE_LIMIT = 100
_MAX_UNPROCESSED_ROUNDS = 8


class CopyTable:
    """Reads and writes copy records of one table through a low-level DynamoDB client."""

    def __init__(
        self,
        client: Any,
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
        self, before: str | None = None, status: Status = DISOWNED
    ) -> Iterator[CopyRecord]:
        """Disowned records, oldest first; only those disowned strictly before `before` if given.

        `status=CLEANING` reads the records a cleaner claimed instead (they keep `disowned_at`).
        """
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
        )

    def put_new(self, record: CopyRecord) -> bool:
        """Write a record unless one exists at its key; False when it did (a duplicate)."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=record.to_item(),
                ConditionExpression="attribute_not_exists(source_object)",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def disown(self, record: CopyRecord, at: str) -> bool:
        """Mark an active record disowned at `at`; False when it was no longer active."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=record.key(),
                UpdateExpression="SET #s = :d, disowned_at = :at",
                ConditionExpression="#s = :a",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":d": {"S": DISOWNED},
                    ":a": {"S": ACTIVE},
                    ":at": {"S": at},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def reactivate(self, record: CopyRecord) -> bool:
        """Make a disowned record active again; False when it was not disowned (a cleaner took it).

        The condition is the whole of undelete's atomicity against the cleaner: a claimed
        (`cleaning`) or deleted record fails it.
        """
        try:
            self.client.update_item(
                TableName=self.table,
                Key=record.key(),
                UpdateExpression="SET #s = :a REMOVE disowned_at",
                ConditionExpression="#s = :d",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":a": {"S": ACTIVE}, ":d": {"S": DISOWNED}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

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

    def claim(self, records: Iterable[CopyRecord]) -> list[CopyRecord]:
        """Mark disowned records `cleaning`, 100 a transaction; returns those claimed.

        Each claim is conditional on the record still being disowned since the `disowned_at` that
        was read, so a record undeleted (or undeleted and disowned again) in the meantime is left
        alone: it is dropped from its transaction, which is retried without it.
        """
        claimed: list[CopyRecord] = []
        for chunk in chunks(records, TRANSACT_WRITE_LIMIT):
            claimed += self._claim_chunk(chunk)
        return claimed

    def _claim_chunk(self, chunk: list[CopyRecord]) -> list[CopyRecord]:
        pending = list(chunk)
        for attempt in range(_MAX_UNPROCESSED_ROUNDS):
            if not pending:
                return []
            try:
                self.client.transact_write_items(
                    TransactItems=[{"Update": self._claim_update(r)} for r in pending]
                )
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons", [])
                lost = {
                    i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"
                }
                if lost:
                    # Those were taken back (or already cleaned): the rest can still be claimed.
                    pending = [r for i, r in enumerate(pending) if i not in lost]
                else:
                    # A conflict with another transaction or throttling: back off and retry.
                    self._sleep(min(2.0, 0.05 * 2**attempt))
                continue
            return [_with_status(r, CLEANING) for r in pending]
        # Transactions kept failing: claim one by one, each still conditional.
        return [_with_status(r, CLEANING) for r in pending if self._claim_one(r)]

    def _claim_update(self, record: CopyRecord) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Key": record.key(),
            "UpdateExpression": "SET #s = :c",
            "ConditionExpression": "#s = :d AND disowned_at = :at",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":c": {"S": CLEANING},
                ":d": {"S": DISOWNED},
                ":at": {"S": record.disowned_at or ""},
            },
        }

    def _claim_one(self, record: CopyRecord) -> bool:
        try:
            self.client.update_item(**self._claim_update(record))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete(self, record: CopyRecord) -> None:
        self.client.delete_item(TableName=self.table, Key=record.key())

    def delete_many(self, records: Iterable[CopyRecord]) -> list[CopyRecord]:
        """Delete records 25 a call, retrying unprocessed items; returns those never deleted."""
        failed: list[CopyRecord] = []
        for batch in chunks(records, BATCH_WRITE_LIMIT):
            failed += self._delete_batch(batch)
        return failed

    def _delete_batch(self, batch: list[CopyRecord]) -> list[CopyRecord]:
        pending = {_key_of(r.key()): r for r in batch}
        requests = [{"DeleteRequest": {"Key": r.key()}} for r in batch]
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
            for item in page.get("Items", []):
                yield CopyRecord.from_item(item)


def _with_status(record: CopyRecord, status: Status) -> CopyRecord:
    return replace(record, status=status)


def _key_of(key: dict[str, dict[str, str]]) -> tuple[str, str]:
    return key["source_object"]["S"], key["copy_timestamp"]["S"]
