"""The sandbox's per-partition write limit on `DisownedIndex` (objbackup.sandbox.partition_limit):
it throttles above the rate and never below, answers as DynamoDB does for each write API, and
the replicator and the cleaner still finish everything under it (nothing lost). The buckets run
on the harness's fake clock: no test waits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from objbackup.core.clean import LEASE_SECONDS, Cleaner
from objbackup.core.naming import iso_now
from objbackup.core.records import ACTIVE, CLEANING, DISOWNED, CopyRecord
from objbackup.core.table import CopyTable
from objbackup.sandbox import partition_limit
from objbackup.sandbox.patches import install_all
from tests.harness import REGION, Harness

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import WriteRequestTypeDef

# No SDK retries: each throttled request is seen (and nothing sleeps in botocore's backoff).
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def bare(system: Harness) -> Iterator[Harness]:
    """The harness with a DynamoDB client that does not retry; the limit is lifted afterwards."""
    dynamodb = boto3.client("dynamodb", region_name=REGION, config=NO_RETRIES)
    try:
        yield Harness(system.settings, system.s3, dynamodb, system.clock)
    finally:
        partition_limit.unlimit_index_writes()


def limit(system: Harness, rate: float, burst: float) -> partition_limit.PartitionBuckets:
    """Limit every index partition, on the harness's clock (seconds since now)."""
    start = system.clock()
    return partition_limit.limit_index_writes(
        rate, burst, clock=lambda: (system.clock() - start).total_seconds()
    )


def records(system: Harness, count: int, status: str = ACTIVE) -> list[CopyRecord]:
    """`count` records written straight in, before any limit (disowned an hour ago if not
    active)."""
    at = None if status == ACTIVE else iso_now(system.clock() - timedelta(hours=1))
    made = [
        CopyRecord(
            source_object=f"obj/{n:04d}",
            copy_timestamp="2026-01-01T00:00:00Z~0",
            copy_name=f"obj/{n:04d}@c",
            status=status,  # type: ignore[arg-type]
            disowned_at=at,
        )
        for n in range(count)
    ]
    for record in made:
        system.dynamodb.put_item(TableName=system.settings.table, Item=record.to_item())
    return made


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_a_partition_is_throttled_above_its_rate_and_never_below(bare: Harness) -> None:
    made = records(bare, 200)
    buckets = limit(bare, rate=10, burst=10)
    at = iso_now(bare.clock())
    # The burst: one second's worth, then a throttling with DynamoDB's reason for a GSI partition.
    assert all(bare.table.disown(r, at) for r in made[:10])
    with pytest.raises(ClientError) as refused:
        bare.table.disown(made[10], at)
    assert code(refused) == "ProvisionedThroughputExceededException"
    response: Mapping[str, Any] = refused.value.response  # more than the stubs name
    assert response["ThrottlingReasons"] == [
        {
            "reason": "IndexWriteKeyRangeThroughputExceeded",
            "resource": f"arn:aws:dynamodb:{REGION}:123456789012:table/copies/index/DisownedIndex",
        }
    ]
    # Writes outside the index (active records carry no `disowned_at`) are never throttled.
    bare.dynamodb.put_item(TableName=bare.settings.table, Item=made[150].to_item())
    # At the rate, for 10 s: every write goes through.
    for record in made[10:110]:
        bare.clock.advance(0.1)
        assert bare.table.disown(record, at)
    # Above it: 20 writes a second get 10 through.
    done = 0
    for record in made[110:150]:
        bare.clock.advance(0.05)
        try:
            done += bare.table.disown(record, at)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert done == 20
    assert buckets.throttled == 21
    partition = next(iter(buckets.written))
    assert partition[1:] == ("DisownedIndex", '{"S": "disowned"}')
    assert buckets.written[partition] == 130


def test_batch_write_hands_back_throttled_deletes_as_unprocessed(bare: Harness) -> None:
    made = records(bare, 25, status=DISOWNED)
    limit(bare, rate=10, burst=15)
    requests: list[WriteRequestTypeDef] = [{"DeleteRequest": {"Key": r.key()}} for r in made]
    answer = bare.dynamodb.batch_write_item(RequestItems={bare.settings.table: requests})
    left = answer["UnprocessedItems"][bare.settings.table]
    assert len(left) == 10
    # None of them can go through now: the call itself is throttled, and nothing is deleted.
    with pytest.raises(ClientError) as refused:
        bare.dynamodb.batch_write_item(RequestItems={bare.settings.table: left})
    assert code(refused) == "ProvisionedThroughputExceededException"
    assert len(list(bare.table.disowned())) == 10
    bare.clock.advance(1.0)  # 10 units back
    answer = bare.dynamodb.batch_write_item(RequestItems={bare.settings.table: left})
    assert answer["UnprocessedItems"] == {}
    assert list(bare.table.disowned()) == []


def test_a_transaction_is_throttled_as_a_whole(bare: Harness) -> None:
    made = records(bare, 11, status=DISOWNED)
    limit(bare, rate=10, burst=10)
    until = iso_now(bare.clock() + timedelta(minutes=15))
    # A claim is a write out of `disowned` and one into `cleaning`: 11 of them are 11 on each.
    with pytest.raises(ClientError) as refused:
        bare.table.client.transact_write_items(
            TransactItems=[{"Update": bare.table._claim_update(r, until)} for r in made]
        )
    assert code(refused) == "TransactionCanceledException"
    reasons = {r["Code"] for r in refused.value.response["CancellationReasons"]}
    assert reasons == {"ThrottlingError"}
    assert len(list(bare.table.disowned())) == 11  # nothing was written
    assert len(bare.table.claim(made[:10], until)) == 10


def test_off_unless_the_environment_turns_it_on(
    bare: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = records(bare, 30)
    monkeypatch.delenv(partition_limit.ENV_RATE, raising=False)
    install_all()
    at = iso_now(bare.clock())
    assert all(bare.table.disown(r, at) for r in made[:15])
    monkeypatch.setenv(partition_limit.ENV_RATE, "5")
    install_all()
    with pytest.raises(ClientError) as refused:
        for record in made[15:]:
            bare.table.disown(record, at)
    assert code(refused) == "ProvisionedThroughputExceededException"


def test_replicator_and_cleaner_finish_everything_under_throttling(bare: Harness) -> None:
    keys = [f"mass/{n:03d}" for n in range(40)]
    for key in keys:
        bare.replicator.handle(bare.put(key))
    copies = bare.backup_keys()
    buckets = limit(bare, rate=10, burst=25)
    # A mass delete: the disowns beyond the partition's capacity fail and their messages come
    # back after the visibility timeout (objbackup.core.batch reports them as batch item failures).
    pending = [bare.delete(key) for key in keys]
    deliveries = 0
    while pending:
        deliveries += 1
        failed = []
        for event in pending:
            try:
                bare.replicator.handle(event)
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
                failed.append(event)
        pending = failed
        bare.clock.advance(30)
    assert deliveries > 1
    assert len(list(bare.table.disowned())) == len(copies) == 40

    # Then the cleaner, whose own backoff sleeps on the same clock, run after run.
    table = CopyTable(bare.dynamodb, bare.settings.table, sleep=bare.clock.advance)
    cleaner = Cleaner(bare.settings, bare.s3, table, clock=bare.clock, chunk_size=20)
    bare.clock.advance(bare.settings.grace_seconds + 1)
    deleted, runs = 0, 0
    while list(table.disowned()) or list(table.disowned(status=CLEANING)):
        runs += 1
        assert runs < 50
        report = cleaner.run()
        deleted += report.deleted
        bare.clock.advance(LEASE_SECONDS + 1)  # a record left `cleaning` is taken over
    assert buckets.throttled > 0
    assert deleted == 40  # each copy counted once
    assert bare.backup_keys() == set()
    assert all(not bare.copies(key) for key in keys)


def test_an_index_write_costs_what_dynamodb_charges_the_index(bare: Harness) -> None:
    """A new sort key in the same partition is two index writes (out of the old key, into the
    new: "Global secondary indexes: writes", DynamoDB developer guide); an attribute change in
    place is one (projection ALL); an item outside the index costs the index nothing."""
    made = records(bare, 3, status=DISOWNED)
    buckets = limit(bare, rate=10, burst=10)
    table = bare.settings.table
    bare.dynamodb.update_item(
        TableName=table,
        Key=made[0].key(),
        UpdateExpression="SET disowned_at = :at",
        ExpressionAttributeValues={":at": {"S": iso_now(bare.clock())}},
    )
    (partition,) = buckets.written
    assert buckets.written[partition] == 2
    bare.dynamodb.update_item(
        TableName=table,
        Key=made[1].key(),
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "x"}},
    )
    assert buckets.written[partition] == 3
    active = CopyRecord(
        source_object="other", copy_timestamp="2026-01-01T00:00:00Z~0", copy_name="other@c"
    )
    bare.dynamodb.put_item(TableName=table, Item=active.to_item())
    bare.dynamodb.update_item(
        TableName=table,
        Key=active.key(),
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "x"}},
    )
    assert sum(buckets.written.values()) == 3
