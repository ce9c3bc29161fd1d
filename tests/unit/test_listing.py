"""Listing one object's copies and every disowned copy, across DynamoDB's 1 MB result pages."""

from __future__ import annotations

from datetime import timedelta

from objbackup.core.naming import copy_name, iso_now
from objbackup.core.records import CopyRecord
from objbackup.listing import list_copies, list_disowned
from tests.harness import Harness, counting_calls

# The keys every listed copy has in JSON: the CLI's contract (`list --json`).
COPY_KEYS = {
    "source_object",
    "copy_timestamp",
    "copy_name",
    "status",
    "disowned_at",
    "size",
    "etag",
}
# Long keys make each record about 1.3 KB, so a few thousand of them span several 1 MB pages.
LONG = "archive/" + "x" * 600


def _seed(system: Harness, key: str, count: int, disowned: bool) -> list[CopyRecord]:
    records = []
    start = system.clock()
    for n in range(count):
        stamp = f"2026-01-01T00:00:00Z~{n:032X}"
        record = CopyRecord(
            source_object=key,
            copy_timestamp=stamp,
            copy_name=copy_name(key, stamp),
            status="disowned" if disowned else "active",
            disowned_at=iso_now(start + timedelta(microseconds=n)) if disowned else None,
            size=n,
            etag=f"{n:032x}",
        )
        records.append(record)
    for offset in range(0, count, 25):
        system.dynamodb.batch_write_item(
            RequestItems={
                system.settings.table: [
                    {"PutRequest": {"Item": r.to_item()}} for r in records[offset : offset + 25]
                ]
            }
        )
    return records


def test_list_copies_returns_every_page_newest_first(system: Harness) -> None:
    seeded = _seed(system, LONG, 1500, disowned=False)
    with counting_calls(system.dynamodb) as calls:
        listed = list_copies(system.table, LONG)
    assert calls["dynamodb.Query"] >= 2, "the seed should span more than one 1 MB page"
    assert listed["object"] == LONG
    assert [c["copy_timestamp"] for c in listed["copies"]] == [
        r.copy_timestamp for r in reversed(seeded)
    ]
    assert listed["copies"][0] == seeded[-1].to_json()


def test_list_disowned_returns_every_page_oldest_first(system: Harness) -> None:
    seeded = _seed(system, LONG, 1500, disowned=True)
    _seed(system, "alive", 3, disowned=False)
    with counting_calls(system.dynamodb) as calls:
        listed = list_disowned(system.table)
    assert calls["dynamodb.Query"] >= 2
    assert [c["copy_name"] for c in listed["disowned"]] == [r.copy_name for r in seeded]
    assert all(c["status"] == "disowned" for c in listed["disowned"])


def test_list_disowned_older_than(system: Harness) -> None:
    system.replicator.handle(system.put("old", b"1"))
    system.replicator.handle(system.delete("old"))
    system.clock.advance(30)
    system.replicator.handle(system.put("new", b"2"))
    system.replicator.handle(system.delete("new"))
    system.clock.advance(5)
    now = system.clock()
    assert [c["source_object"] for c in list_disowned(system.table)["disowned"]] == ["old", "new"]
    older = list_disowned(system.table, older_than=10, now=now)["disowned"]
    assert [c["source_object"] for c in older] == ["old"]
    assert older[0]["disowned_at"] is not None


def test_json_shape_matches_the_cli_contract(system: Harness) -> None:
    system.replicator.handle(system.put("k", b"abc"))
    [copy] = list_copies(system.table, "k")["copies"]
    assert set(copy) >= COPY_KEYS
    assert copy["disowned_at"] is None and copy["size"] == 3
