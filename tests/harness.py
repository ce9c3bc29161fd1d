"""A deployed-like objbackup inside moto (in process): buckets, table, replicator, cleaner, clock.

Events are built from the responses of real S3 calls, the way S3 would describe them, with a
per-key increasing sequencer and the harness clock's whole-second time.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from objbackup.core.aws import Clients
from objbackup.core.clean import Cleaner
from objbackup.core.config import Settings
from objbackup.core.events import Kind, ObjectEvent
from objbackup.core.records import CopyRecord
from objbackup.core.replicate import Replicator
from objbackup.core.table import CopyTable
from objbackup.sandbox.patches import install_all

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from types_boto3_dynamodb import DynamoDBClient
    from types_boto3_s3 import S3Client

REGION = "us-east-1"
# Fake credentials and region for moto in process: nothing signed with them reaches an account.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class FakeClock:
    """A clock the test moves by hand, so grace periods pass without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def create_table(dynamodb: DynamoDBClient, name: str) -> None:
    """The table of the storage stack, with its `DisownedIndex`."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "source_object", "AttributeType": "S"},
            {"AttributeName": "copy_timestamp", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "disowned_at", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "source_object", "KeyType": "HASH"},
            {"AttributeName": "copy_timestamp", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "DisownedIndex",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "disowned_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@dataclass
class Harness:
    settings: Settings
    s3: S3Client
    dynamodb: DynamoDBClient
    clock: FakeClock
    table: CopyTable = field(init=False)
    replicator: Replicator = field(init=False)
    cleaner: Cleaner = field(init=False)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.table = CopyTable(self.dynamodb, self.settings.table, self.settings.disowned_index)
        self.replicator = Replicator(self.settings, self.s3, self.table, clock=self.clock)
        self.cleaner = Cleaner(self.settings, self.s3, self.table, clock=self.clock)

    @classmethod
    def create(
        cls,
        settings: Settings | None = None,
        session: boto3.Session | None = None,
        clock: FakeClock | None = None,
        create_source: bool = True,
    ) -> Harness:
        """Create the buckets and the table inside the active moto mock."""
        install_all()
        settings = settings or Settings(source_bucket="src", backup_bucket="bak", table="copies")
        clients = Clients.create(session=session, region=REGION)
        buckets = [settings.source_bucket] if create_source else []
        for bucket in [*buckets, settings.backup_bucket]:
            clients.s3.create_bucket(Bucket=bucket)
        create_table(clients.dynamodb, settings.table)
        return cls(settings, clients.s3, clients.dynamodb, clock or FakeClock())

    def with_settings(self, **changes: Any) -> Harness:
        return Harness(replace(self.settings, **changes), self.s3, self.dynamodb, self.clock)

    # --- the source bucket, as a user changes it, and the events S3 would send ---

    def event(self, kind: Kind, key: str, **fields: Any) -> ObjectEvent:
        number = next(self._sequence)
        return ObjectEvent(
            kind=kind,
            bucket=self.settings.source_bucket,
            key=key,
            time=self.clock().replace(microsecond=0),
            sequencer=f"{number:016X}",
            event_id=f"event-{number}",
            reason="PutObject" if kind is Kind.CREATED else "DeleteObject",
            **fields,
        )

    def put(self, key: str, body: bytes = b"data", **extra: Any) -> ObjectEvent:
        response = self.s3.put_object(
            Bucket=self.settings.source_bucket, Key=key, Body=body, **extra
        )
        return self.event(
            Kind.CREATED,
            key,
            etag=response["ETag"].strip('"'),
            size=len(body),
            version_id=response.get("VersionId"),
        )

    def delete(self, key: str) -> ObjectEvent:
        self.s3.delete_object(Bucket=self.settings.source_bucket, Key=key)
        return self.event(Kind.DELETED, key, deletion_type="Permanently Deleted")

    # --- what is there now ---

    def copies(self, key: str) -> list[CopyRecord]:
        return self.table.copies(key)

    def active(self, key: str) -> list[CopyRecord]:
        return [r for r in self.table.copies(key) if r.status == "active"]

    def backup_keys(self) -> set[str]:
        return self._keys(self.settings.backup_bucket)

    def source_keys(self) -> set[str]:
        return self._keys(self.settings.source_bucket)

    def _keys(self, bucket: str) -> set[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        }

    def read_backup(self, name: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.settings.backup_bucket, Key=name)[
            "Body"
        ].read()
        return body

    def read_source(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.settings.source_bucket, Key=key)["Body"].read()
        return body

    def all_records(self, keys: set[str]) -> list[CopyRecord]:
        return [r for key in sorted(keys) for r in self.table.copies(key)]

    def snapshot(self, keys: set[str]) -> tuple[list[tuple[Any, ...]], dict[str, bytes]]:
        """Everything observable: the records (less creation times) and the backup contents."""
        records = [
            (
                r.source_object,
                r.copy_timestamp,
                r.copy_name,
                r.status,
                r.disowned_at,
                r.size,
                r.etag,
            )
            for r in self.all_records(keys)
        ]
        return records, {name: self.read_backup(name) for name in sorted(self.backup_keys())}

    def check_invariants(self, keys: set[str]) -> None:
        """Invariants 1 to 3 of DESIGN.md for `keys` (every key the test ever touched)."""
        present = self.source_keys()
        records = self.all_records(keys)
        for key in keys:
            active = [r for r in records if r.source_object == key and r.status == "active"]
            if key in present:
                assert 1 <= len(active) <= self.settings.retain, (key, active)
                newest = max(active, key=lambda r: r.copy_timestamp)
                assert self.read_backup(newest.copy_name) == self.read_source(key), key
            else:
                assert active == [], (key, active)
        names = [r.copy_name for r in records]
        assert len(names) == len(set(names)), "two records share a copy"
        assert set(names) == self.backup_keys(), "orphan copies or records without copies"
        uploads = self.s3.list_multipart_uploads(Bucket=self.settings.backup_bucket)
        assert uploads.get("Uploads", []) == [], "an incomplete multipart upload was left"


@contextmanager
def counting_calls(*clients: BaseClient) -> Iterator[Counter[str]]:
    """Count the AWS API calls the given clients make, by `service.Operation`."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()  # calls may come from the threads of a concurrent batch

    def count(model: Any, **_: Any) -> None:
        with lock:
            counts[f"{model.service_model.service_name}.{model.name}"] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", count)


class Crash(Exception):
    """Stands in for a Lambda dying mid-invocation."""


@contextmanager
def crash_at(call_number: int, when: str, *clients: BaseClient) -> Iterator[Callable[[], bool]]:
    """Raise Crash `when` ("before" or "after") the `call_number`-th AWS call of `clients`.

    "after" means the call took effect and the caller never saw its answer. Yields a function
    that says whether the crash fired. Calls are counted across threads: in a concurrent batch
    the crash hits whichever key's thread makes that call, and only that thread.
    """
    state = {"calls": 0, "fired": 0}
    lock = threading.Lock()

    def hook(**_: Any) -> None:
        with lock:
            state["calls"] += 1
            crash = state["calls"] == call_number
            state["fired"] |= crash
        if crash:
            raise Crash(f"crash {when} call {call_number}")

    event = f"{when}-call.*.*"
    for client in clients:
        client.meta.events.register(event, hook)
    try:
        yield lambda: bool(state["fired"])
    finally:
        for client in clients:
            client.meta.events.unregister(event, hook)
