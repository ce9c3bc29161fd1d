"""DynamoDB as the sandbox needs it: Query and TransactWriteItems that cost what the request
touches rather than the whole table, no instance tracking that grows for ever, and the optional
per-partition write limit of objbackup/sandbox/partition_limit.py."""

from __future__ import annotations

import inspect
import json
import threading
from typing import Any

from objbackup.sandbox import partition_limit
from objbackup.sandbox.patches.registry import Patch


def close_dynamodb_query_cost_gap() -> None:
    """moto answers a Query on the table key by sorting every item of the table and keeping
    those of the key: O(table) per call. Hand it only the key's own items; the answer is the
    same, and the replicator's one Query per event no longer grows with the table."""
    from moto.dynamodb.models.table import Table

    only = threading.local()
    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Any) -> Any:
        key = getattr(only, "hash_key", None)
        if key is None:
            return original_all_items(self)
        found = self.items.get(key)
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: x.range_key) if self.range_key_attr else items

    signature = inspect.signature(original_query)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, hash_key, *args, **kwargs)
        if bound.arguments.get("index_name") or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        only.hash_key = hash_key
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            only.hash_key = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def close_dynamodb_transaction_cost_gap() -> None:
    """moto deep-copies a table once per item of a TransactWriteItems call, to roll back on
    failure: O(items x table) per call, so the cleaner's claims (100 items a transaction) cost
    seconds each on a large table. Take one snapshot per table and call instead: a shallow copy
    of the table with deep copies of only the items the transaction touches (the only ones it can
    change); a rollback restores the same state."""
    import copy as copy_module

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    active = threading.local()

    def snapshot(table: Any, touched: set[tuple[str, str]]) -> Any:
        saved = copy_module.copy(table)
        if table.range_key_attr:
            saved.items = type(table.items)(
                table.items.default_factory, {h: dict(r) for h, r in table.items.items()}
            )
            for hash_value, range_value in touched:
                if json.loads(range_value) is None:
                    continue  # no such item: the transaction fails validation
                found = saved.items.get(DynamoType(json.loads(hash_value)), {})
                key = DynamoType(json.loads(range_value))
                if key in found:
                    found[key] = copy_module.deepcopy(found[key])
        else:
            saved.items = copy_module.copy(table.items)
            for hash_value, _ in touched:
                key = DynamoType(json.loads(hash_value))
                if key in saved.items:
                    saved.items[key] = copy_module.deepcopy(saved.items[key])
        return saved

    class _Copy:
        """The `copy` module as moto's DynamoDB backend sees it: tables copied cheaply."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy_module, name)

        def deepcopy(self, value: Any, *args: Any) -> Any:
            touched = getattr(active, "touched", None)
            if touched is not None and isinstance(value, Table):
                # moto copies before the first write, once per item: one snapshot serves all.
                saved = active.snapshots.get(value.name)
                if saved is None:
                    saved = snapshot(value, touched.get(value.name, set()))
                    active.snapshots[value.name] = saved
                return saved
            return copy_module.deepcopy(value, *args)

    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: dict[str, set[tuple[str, str]]] = {}
        for item in transact_items:
            for op in item.values():
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                attrs = op.get("Key") or op.get("Item") or {}
                hash_value = attrs.get(table.hash_key_attr)
                range_value = attrs.get(table.range_key_attr) if table.range_key_attr else None
                touched.setdefault(table.name, set()).add(
                    (json.dumps(hash_value), json.dumps(range_value))
                )
        active.touched, active.snapshots = touched, {}
        try:
            original(self, transact_items)
        finally:
            active.touched, active.snapshots = None, {}

    vars(dynamodb_models)["copy"] = _Copy()
    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def close_dynamodb_instance_tracking_gap() -> None:
    """moto's BaseModel keeps every instance it makes for ever (`instances_tracked`, read only by
    the /moto-api/data.json dump): every DynamoDB item version (UpdateItem deep-copies the old
    one) and every TransactWriteItems' table snapshot (the closer above), whose copy of the table's
    item dicts is O(table). A 300,000-copy clean grew the server by about 1 GB a minute
    (docs/BENCHMARKS.md). Make items and tables without tracking them."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    def untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    Item.__new__ = staticmethod(untracked)  # type: ignore[method-assign]
    Table.__new__ = staticmethod(untracked)  # type: ignore[method-assign]


INDEX_WRITE_LIMIT = Patch(
    "dynamodb",
    "index-write-limit",
    "a GSI partition takes at most 1,000 write units a second and throttles the table's writes "
    "(GSI back-pressure, see objbackup/sandbox/partition_limit.py); moto has no limit. Passes "
    "every write through unless OBJBACKUP_SANDBOX_INDEX_WRITE_RATE is set",
    (
        "tests/unit/test_partition_limit.py::test_a_partition_is_throttled_above_its_rate_and_never_below",
    ),
    partition_limit.install_guards,
)
PATCHES = (
    Patch(
        "dynamodb",
        "query-cost",
        "moto sorts every item of the table to answer a Query on one key: O(table) a call",
        ("tests/unit/test_gap_costs.py::test_a_key_query_reads_only_its_key",),
        close_dynamodb_query_cost_gap,
    ),
    Patch(
        "dynamodb",
        "transaction-cost",
        "moto deep-copies a table once per item of a TransactWriteItems call: O(items x table)",
        (
            "tests/unit/test_transaction_cost.py::test_a_transaction_never_deep_copies_the_table",
            "tests/unit/test_transaction_cost.py::test_a_cancelled_transaction_rolls_back_its_in_place_updates",
        ),
        close_dynamodb_transaction_cost_gap,
    ),
    Patch(
        "dynamodb",
        "instance-tracking",
        "moto keeps every item version and table snapshot it makes for ever (instances_tracked): "
        "about 1 GB a minute in a large clean (docs/BENCHMARKS.md)",
        (
            "tests/unit/test_transaction_cost.py::test_transactions_and_updates_leave_nothing_behind_in_motos_instance_tracker",
        ),
        close_dynamodb_instance_tracking_gap,
    ),
    INDEX_WRITE_LIMIT,
)
