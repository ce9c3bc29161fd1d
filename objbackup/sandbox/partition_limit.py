"""DynamoDB's per-partition write limit on global secondary indexes, which moto does not model.

Each partition of a table or of a GSI takes at most 1,000 write units a second ("Best practices for
designing and using partition keys effectively": 3,000 RCU and 1,000 WCU per partition), burst
capacity cannot lift that partition-level limit ("How does DynamoDB handle spiky workloads in
short intervals?", AWS re:Post knowledge center), and a sort key that always grows (our
`DisownedIndex`: `status`, then `disowned_at`) keeps a partition key's writes on one partition.
When a GSI partition is short of write capacity DynamoDB throttles the base table's write ("GSI
back-pressure": "Understanding Global Secondary Index (GSI) write throttling and back pressure in
DynamoDB", developer guide; "My global secondary index (GSI) is throttled", re:Post). Off unless
OBJBACKUP_SANDBOX_INDEX_WRITE_RATE (write units a second per index partition key value) is set,
or `limit_index_writes` is called: a token bucket per (table, index, partition key value) then
answers as DynamoDB does: PutItem, UpdateItem and DeleteItem with
ProvisionedThroughputExceededException (reason IndexWriteKeyRangeThroughputExceeded; botocore's
standard mode retries it as throttling, `ThrottledRetryableChecker` in botocore/retries/
standard.py), BatchWriteItem with the throttled requests in UnprocessedItems (the exception when
none went through), TransactWriteItems with a TransactionCanceledException whose throttled items
carry `ThrottlingError` (not retried by botocore: objbackup.core.table retries claims itself).
See the API reference of each operation. An index write costs one unit per KB of the item; an update
that moves an item to another index key costs two writes, one out of the old key and one into the
new ("Global secondary indexes: writes", developer guide, GSI.html#GSI.Writes).
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, cast

ENV_RATE = "OBJBACKUP_SANDBOX_INDEX_WRITE_RATE"
ENV_BURST = "OBJBACKUP_SANDBOX_INDEX_WRITE_BURST"
THROTTLING_REASON = "IndexWriteKeyRangeThroughputExceeded"
_MESSAGE = (
    "Throughput exceeds the current capacity for one or more global secondary indexes. "
    "DynamoDB is automatically scaling your index so please try again shortly."
)

# (table ARN, index name, partition key value as JSON)
Partition = tuple[str, str, str]


class PartitionBuckets:
    """A token bucket per index partition: `rate` units a second, at most `burst` banked."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = float(burst if burst is not None else rate)
        self.clock = clock
        self.throttled = 0  # requests (or batch items) refused, for reports
        self.written: Counter[Partition] = Counter()  # units admitted, per partition
        self._tokens: dict[Partition, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, partition: Partition, now: float) -> float:
        tokens, then = self._tokens.get(partition, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate)

    def take(self, needs: Mapping[Partition, int]) -> set[Partition]:
        """Take every unit `needs` asks for, or none: returns the partitions short of them."""
        with self._lock:
            now = self.clock()
            levels = {p: self._level(p, now) for p in needs}
            # (a float clock's rounding must not refuse a write made exactly at the rate)
            short = {p for p, units in needs.items() if levels[p] + 1e-9 < units}
            if short:
                self.throttled += 1
                return short
            for partition, units in needs.items():
                self._tokens[partition] = (levels[partition] - units, now)
                self.written[partition] += units
            return set()

    def give_back(self, needs: Mapping[Partition, int]) -> None:
        """Return units taken for a write that did not happen (its condition failed)."""
        with self._lock:
            now = self.clock()
            for partition, units in needs.items():
                self._tokens[partition] = (self._level(partition, now) + units, now)
                self.written[partition] -= units


_limiter: PartitionBuckets | None = None
_local = threading.local()  # .inside: a transaction already admitted; .unprocessed: batch mode


def limit_index_writes(
    rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
) -> PartitionBuckets:
    """Limit every GSI partition to `rate` write units a second (`burst` banked, default one
    second's worth) from now on, in this process; returns the buckets (their counts)."""
    global _limiter
    from objbackup.sandbox.patches.dynamodb import INDEX_WRITE_LIMIT
    from objbackup.sandbox.patches.registry import install

    install(INDEX_WRITE_LIMIT)
    _limiter = PartitionBuckets(rate, burst, clock)
    return _limiter


def unlimit_index_writes() -> None:
    """Writes are never throttled again (the patches stay, and pass everything through)."""
    global _limiter
    _limiter = None


def limit_from_environment() -> None:
    """Apply OBJBACKUP_SANDBOX_INDEX_WRITE_RATE (and _BURST) if set: the sandbox's switch."""
    rate = float(os.environ.get(ENV_RATE) or 0)
    if rate > 0 and _limiter is None:
        burst = os.environ.get(ENV_BURST)
        limit_index_writes(rate, float(burst) if burst else None)


def _units(item: Any) -> int:
    return max(1, math.ceil(int(item.size()) / 1024))


def _index_writes(table: Any, old: Any, new: Any) -> Counter[Partition]:
    """The write units a change of one item from `old` to `new` (None: absent) costs each index
    partition of `table`."""
    needs: Counter[Partition] = Counter()
    for index in table.global_indexes or []:
        names = [k["AttributeName"] for k in index.schema]
        hash_name = next(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")

        def key_of(item: Any, names: list[str] = names) -> tuple[str, ...] | None:
            if item is None or not all(n in item.attrs for n in names):
                return None  # not in this (sparse) index
            return tuple(json.dumps(item.attrs[n].to_json(), sort_keys=True) for n in names)

        def partition(item: Any, hash_name: str = hash_name, name: str = index.name) -> Partition:
            value = json.dumps(item.attrs[hash_name].to_json(), sort_keys=True)
            return (table.table_arn, name, value)

        before, after = key_of(old), key_of(new)
        if before is not None and before == after:
            if old.attrs != new.attrs:  # projection ALL: any change rewrites the index entry
                needs[partition(new)] += max(_units(old), _units(new))
            continue
        if before is not None:
            needs[partition(old)] += _units(old)
        if after is not None:
            needs[partition(new)] += _units(new)
    return needs


def _throttled(short: set[Partition]) -> Exception:
    from moto.dynamodb.exceptions import DynamodbException

    error = DynamodbException(
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", _MESSAGE
    )
    error.description = json.dumps(
        {
            "__type": error.error_type,
            "message": _MESSAGE,
            "ThrottlingReasons": [
                {"reason": THROTTLING_REASON, "resource": f"{arn}/index/{name}"}
                for arn, name, _ in sorted(short)
            ],
        }
    )
    return error


def _current(backend: Any, table: Any, key: dict[str, Any]) -> Any:
    hash_value, range_value = backend.get_keys_value(table, key)
    return table.get_item(hash_value, range_value)


def _after_put(table: Any, attrs: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    range_attr = table.range_key_attr
    return Item(
        DynamoType(attrs[table.hash_key_attr]),
        DynamoType(attrs[range_attr]) if range_attr else None,
        attrs,
    )


def _after_update(backend: Any, table: Any, old: Any, arguments: Mapping[str, Any]) -> Any:
    """The item an UpdateItem would leave, worked out on a copy with moto's own executor."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    key = arguments["key"]
    if old is not None:
        item = copy.deepcopy(old)
    else:
        hash_value, range_value = backend.get_keys_value(table, key)
        item = Item(hash_value, range_value, dict(key))
    expression = arguments.get("update_expression")
    names = arguments.get("expression_attribute_names") or {}
    if expression:
        validated = UpdateExpressionValidator(
            UpdateExpressionParser.make(expression),
            expression_attribute_names=names,
            expression_attribute_values=arguments.get("expression_attribute_values") or {},
            item=item,
            table=table,
        ).validate()
        validated.normalize()
        UpdateExpressionExecutor(validated, item, names).execute()
    elif arguments.get("attribute_updates"):
        item.update_with_attribute_updates(arguments["attribute_updates"])
    return item


def _needs(backend: Any, kind: str, table_name: str, arguments: Mapping[str, Any]) -> Any:
    """(table, index write units) of one Put, Update or Delete; (None, {}) when it cannot be
    worked out (moto then answers the request's own error)."""
    try:
        table = backend.get_table(table_name)
        if kind == "Put":
            attrs = arguments["item_attrs"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            old = _current(backend, table, key)
            return table, _index_writes(table, old, _after_put(table, attrs))
        old = _current(backend, table, arguments["key"])
        if kind == "Delete":
            return table, _index_writes(table, old, None)
        return table, _index_writes(table, old, _after_update(backend, table, old, arguments))
    except Exception:  # an invalid request: moto's own validation answers it
        return None, Counter()


def _guard(method: Callable[..., Any], kind: str) -> Callable[..., Any]:
    """Wrap a backend write so that it is throttled when its index partitions are short."""
    signature = inspect.signature(method)

    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        limiter = _limiter
        if limiter is None or getattr(_local, "inside", False):
            return method(self, *args, **kwargs)
        arguments = signature.bind(self, *args, **kwargs).arguments
        table_name = arguments["table_name"]
        _, needs = _needs(self, kind, table_name, arguments)
        if not needs:
            return method(self, *args, **kwargs)
        short = limiter.take(needs)
        if short:
            unprocessed = getattr(_local, "unprocessed", None)
            if unprocessed is None:
                raise _throttled(short)
            # In a BatchWriteItem: this request comes back in UnprocessedItems.
            request = (
                {"PutRequest": {"Item": arguments["item_attrs"]}}
                if kind == "Put"
                else {"DeleteRequest": {"Key": arguments["key"]}}
            )
            unprocessed.append((table_name, request, short))
            return None
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            limiter.give_back(needs)
            raise

    return guarded


def install_guards() -> None:
    """Wrap moto's DynamoDB writes in the limit, which passes them through until it is set
    (installed once, as the patch `dynamodb/index-write-limit` of objbackup/sandbox/patches)."""
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    DynamoDBBackend.put_item = _guard(DynamoDBBackend.put_item, "Put")  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _guard(DynamoDBBackend.update_item, "Update")  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = _guard(DynamoDBBackend.delete_item, "Delete")  # type: ignore[method-assign]

    original_batch = DynamoHandler.batch_write_item

    def batch_write_item(self: Any) -> Any:
        if _limiter is None:
            return original_batch(self)
        unprocessed: list[tuple[str, dict[str, Any], set[Partition]]] = []
        _local.unprocessed = unprocessed
        try:
            result = original_batch(self)
        finally:
            _local.unprocessed = None
        if unprocessed:
            total = sum(len(requests) for requests in self.body["RequestItems"].values())
            if len(unprocessed) == total:  # nothing went through: the whole call is throttled
                raise _throttled(set().union(*(short for _, _, short in unprocessed)))
            left: dict[str, list[Any]] = {}
            for table_name, request, _ in unprocessed:
                left.setdefault(table_name, []).append(request)
            cast(dict[str, Any], result.result)["UnprocessedItems"] = left
        return result

    original_transact = DynamoDBBackend.transact_write_items
    arguments_of = {
        "Put": lambda op: {"item_attrs": op["Item"]},
        "Delete": lambda op: {"key": op["Key"]},
        "Update": lambda op: {
            "key": op["Key"],
            "update_expression": op.get("UpdateExpression"),
            "expression_attribute_names": op.get("ExpressionAttributeNames"),
            "expression_attribute_values": op.get("ExpressionAttributeValues"),
        },
    }

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        limiter = _limiter
        if limiter is None:
            original_transact(self, transact_items)
            return
        each: list[Counter[Partition]] = []
        for item in transact_items:
            kind, op = next(iter(item.items()))
            if kind in arguments_of:
                each.append(_needs(self, kind, op.get("TableName", ""), arguments_of[kind](op))[1])
            else:
                each.append(Counter())
        needs = sum(each, Counter())
        short = limiter.take(needs) if needs else set()
        if short:
            raise TransactionCanceledException(
                [
                    ("ThrottlingError", _MESSAGE, None) if short & set(mine) else (None, None, None)
                    for mine in each
                ]
            )
        _local.inside = True
        try:
            original_transact(self, transact_items)
        except BaseException:
            limiter.give_back(needs)
            raise
        finally:
            _local.inside = False

    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
