"""The copy table: every read is a Query (on the table key or on `DisownedIndex`), never a Scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from objbackup.aws import error_code
from objbackup.records import ACTIVE, DISOWNED, CopyRecord

BATCH_WRITE_LIMIT = 25
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

    def disowned(self, before: str | None = None) -> Iterator[CopyRecord]:
        """Disowned records, oldest first; only those disowned strictly before `before` if given."""
        values: dict[str, Any] = {":d": {"S": DISOWNED}}
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

    def delete(self, record: CopyRecord) -> None:
        self.client.delete_item(TableName=self.table, Key=record.key())

    def delete_many(self, records: Iterable[CopyRecord]) -> list[CopyRecord]:
        """Delete records 25 a call, retrying unprocessed items; returns those never deleted."""
        failed: list[CopyRecord] = []
        batch: list[CopyRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) == BATCH_WRITE_LIMIT:
                failed += self._delete_batch(batch)
                batch = []
        if batch:
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


def _key_of(key: dict[str, dict[str, str]]) -> tuple[str, str]:
    return key["source_object"]["S"], key["copy_timestamp"]["S"]
