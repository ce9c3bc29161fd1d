"""The sandbox's TransactWriteItems cost closer: cheap snapshots, and rollbacks still exact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from objbackup.sandbox import patches
from tests.harness import Harness

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def _update(
    table: str, key: str, value: str, condition: str | None = None
) -> TransactWriteItemTypeDef:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"source_object": {"S": key}, "copy_timestamp": {"S": "t"}},
        "UpdateExpression": "SET #s = :v",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":v": {"S": value}},
    }
    if condition is not None:
        update["ConditionExpression"] = "#s = :c"
        update["ExpressionAttributeValues"][":c"] = {"S": condition}
    return cast("TransactWriteItemTypeDef", {"Update": update})


def _status(system: Harness, key: str) -> str | None:
    item = system.dynamodb.get_item(
        TableName=system.settings.table,
        Key={"source_object": {"S": key}, "copy_timestamp": {"S": "t"}},
    ).get("Item")
    return None if item is None else str(item["status"]["S"])


def _seed(system: Harness, keys: list[str]) -> None:
    for key in keys:
        system.dynamodb.put_item(
            TableName=system.settings.table,
            Item={
                "source_object": {"S": key},
                "copy_timestamp": {"S": "t"},
                "copy_name": {"S": key},
                "status": {"S": "disowned"},
            },
        )


def test_closer_is_applied() -> None:
    from moto.dynamodb import models

    patches.install_all()
    assert "dynamodb/transaction-cost" in patches.installed()
    assert type(vars(models)["copy"]).__name__ == "_Copy"


def test_a_cancelled_transaction_rolls_back_its_in_place_updates(system: Harness) -> None:
    _seed(system, ["a", "b", "c"])
    table = system.settings.table
    with pytest.raises(ClientError) as info:
        system.dynamodb.transact_write_items(
            TransactItems=[
                _update(table, "a", "cleaning"),  # applied in place by moto, then rolled back
                _update(table, "b", "cleaning", condition="active"),  # fails
                _update(table, "new", "cleaning"),  # created by moto, then rolled back
            ]
        )
    reasons = [r["Code"] for r in info.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed", "None"]
    assert [_status(system, k) for k in ("a", "b", "c", "new")] == [
        "disowned",
        "disowned",
        "disowned",
        None,
    ]
    system.dynamodb.transact_write_items(
        TransactItems=[_update(table, "a", "cleaning"), _update(table, "c", "cleaning")]
    )
    assert [_status(system, k) for k in ("a", "b", "c")] == ["cleaning", "disowned", "cleaning"]


def test_a_transaction_never_deep_copies_the_table(
    system: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.table import Table

    def refuse(self: Any, memo: Any) -> Any:
        raise AssertionError("a whole table was deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    _seed(system, ["a", "b"])
    table = system.settings.table
    system.dynamodb.transact_write_items(TransactItems=[_update(table, "a", "cleaning")])
    with pytest.raises(ClientError, match="TransactionCanceled"):
        system.dynamodb.transact_write_items(
            TransactItems=[_update(table, "b", "x"), _update(table, "a", "y", condition="z")]
        )
    assert [_status(system, k) for k in ("a", "b")] == ["cleaning", "disowned"]


def test_transactions_and_updates_leave_nothing_behind_in_motos_instance_tracker(
    system: Harness,
) -> None:
    """moto keeps every model instance it makes for ever; a snapshot kept there keeps its copy of
    the table's item dicts (a 300,000-copy clean ran the server out of memory)."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    _seed(system, [f"k{n}" for n in range(20)])
    table = system.settings.table
    before = len(Table.instances_tracked), len(Item.instances_tracked)  # type: ignore[attr-defined]
    for n in range(10):
        system.dynamodb.transact_write_items(
            TransactItems=[_update(table, f"k{n}", "cleaning"), _update(table, f"k{n + 10}", "x")]
        )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        system.dynamodb.transact_write_items(
            TransactItems=[_update(table, "k0", "y"), _update(table, "k1", "z", condition="no")]
        )
    assert [_status(system, k) for k in ("k0", "k1", "k10")] == ["cleaning", "cleaning", "x"]
    after = len(Table.instances_tracked), len(Item.instances_tracked)  # type: ignore[attr-defined]
    assert after == before
