"""The replicator's scale: how many instances the queue may run, how big a batch, how much memory.

They are the event source mapping's MaximumConcurrency, BatchSize and batching window, and the
function's MemorySize; a deploy keeps the deployed values of those it is not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

P_CONCURRENCY = "MaximumConcurrency"
P_BATCH_SIZE = "BatchSize"
P_BATCHING_WINDOW = "BatchingWindow"
P_MEMORY = "MemorySize"

# MaximumConcurrency: 2 to 1000 (https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html).
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000
# With keys handled concurrently an instance replicates about 52 small objects a second under
# the latency model (docs/BENCHMARKS.md), so 25 instances project to about 1,300 a second: the
# 1,000 a second target with a quarter to spare for the latency tail, at 2.5% of the default
# account limit of 1,000 concurrent executions
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
DEFAULT_CONCURRENCY = 25
# BatchSize: at most 10,000 on a standard queue, and above 10 only with a batching window of at
# least 1 s; the window is 0 to 300 s (services-sqs-parameters.html, and
# https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
MIN_BATCH_SIZE, MAX_BATCH_SIZE, MAX_UNWINDOWED_BATCH = 1, 10_000, 10
DEFAULT_BATCH_SIZE = 10
MIN_BATCHING_WINDOW, MAX_BATCHING_WINDOW = 0, 300
DEFAULT_BATCHING_WINDOW = 1
# MemorySize: 128 to 10,240 MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
MIN_MEMORY, MAX_MEMORY = 128, 10_240
DEFAULT_MEMORY = 512


def _check(value: int, low: int, high: int, what: str, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be {low} to {high}{unit}, got {value}")
    return value


def check_concurrency(value: int, what: str = "--concurrency") -> int:
    return _check(value, MIN_CONCURRENCY, MAX_CONCURRENCY, what, " instances")


def check_batch_size(value: int, what: str = "--batch-size") -> int:
    return _check(value, MIN_BATCH_SIZE, MAX_BATCH_SIZE, what, " messages")


def check_batching_window(value: int, what: str = "--batching-window") -> int:
    return _check(value, MIN_BATCHING_WINDOW, MAX_BATCHING_WINDOW, what, " seconds")


def check_memory(value: int, what: str = "--replicator-memory") -> int:
    return _check(value, MIN_MEMORY, MAX_MEMORY, what, " MB")


@dataclass(frozen=True)
class Scale:
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window: int = DEFAULT_BATCHING_WINDOW
    memory: int = DEFAULT_MEMORY

    def check(self) -> None:
        """Raise ValueError for a value out of range, or a batch above 10 without a window."""
        check_concurrency(self.concurrency)
        check_batch_size(self.batch_size)
        check_batching_window(self.batching_window)
        check_memory(self.memory)
        if self.batch_size > MAX_UNWINDOWED_BATCH and self.batching_window < 1:
            raise ValueError(
                f"--batch-size above {MAX_UNWINDOWED_BATCH} needs --batching-window of at least "
                f"1 second (Lambda's rule), got {self.batching_window}"
            )

    @classmethod
    def resolve(
        cls,
        deployed: Mapping[str, str] | None,
        concurrency: int | None = None,
        batch_size: int | None = None,
        batching_window: int | None = None,
        memory: int | None = None,
    ) -> Scale:
        """The given values; for the others the deployed ones, else the defaults."""
        found = deployed_scale(deployed or {})

        def pick(given: int | None, key: str, default: int) -> int:
            value: int | None = given if given is not None else found[key]
            return default if value is None else value

        return cls(
            pick(concurrency, "concurrency", DEFAULT_CONCURRENCY),
            pick(batch_size, "batch_size", DEFAULT_BATCH_SIZE),
            pick(batching_window, "batching_window", DEFAULT_BATCHING_WINDOW),
            pick(memory, "replicator_memory", DEFAULT_MEMORY),
        )

    def stack_parameters(self) -> dict[str, str]:
        return {
            P_CONCURRENCY: str(self.concurrency),
            P_BATCH_SIZE: str(self.batch_size),
            P_BATCHING_WINDOW: str(self.batching_window),
            P_MEMORY: str(self.memory),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "batching_window": self.batching_window,
            "replicator_memory": self.memory,
        }

    def describe(self) -> str:
        return (
            f"up to {self.concurrency} replicator instances, batches of up to {self.batch_size} "
            f"messages gathered for up to {self.batching_window} s, {self.memory} MB each"
        )


def deployed_scale(parameters: Mapping[str, str]) -> dict[str, Any]:
    """The `status` keys of a deployed replicator's scale (None for what its stack lacks); what
    `Scale.resolve` keeps of the deployed stack."""

    def number(key: str) -> int | None:
        raw = parameters.get(key)
        return int(raw) if raw else None

    return {
        "concurrency": number(P_CONCURRENCY),
        "batch_size": number(P_BATCH_SIZE),
        "batching_window": number(P_BATCHING_WINDOW),
        "replicator_memory": number(P_MEMORY),
    }
