"""The executor holds each function to its MemorySize and Timeout as Lambda does, answers as
Lambda answers for the instance it killed, and stops the workers of replaced functions."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from objbackup.sandbox.executor import FunctionSpec, LambdaExecutor
from tests.sandbox.conftest import function_zip

HUNGRY = """
import time

def handler(event, context):
    hoard = []
    for _ in range(event["mb"] // 10):  # touched pages, 10 MB at a time, as real work grows
        hoard.append(b"x" * (10 << 20))
        time.sleep(0.01)
    return len(hoard)
"""
SLEEPY = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return "slept"
"""


@pytest.fixture
def executor() -> Iterator[LambdaExecutor]:
    # Nothing is called over the network: the handlers here use no AWS client.
    running = LambdaExecutor("http://127.0.0.1:9", "us-east-1", max_concurrency=2)
    yield running
    running.close()


def _spec(source: str, name: str = "fn", timeout: float = 10, memory_mb: int = 128) -> FunctionSpec:
    return FunctionSpec(name, "fn.handler", function_zip(source), {}, timeout, memory_mb)


def test_a_function_over_its_memory_size_dies_as_lambdas_does(executor: LambdaExecutor) -> None:
    spec = _spec(HUNGRY, memory_mb=128)
    assert executor.invoke(spec, {"mb": 20}).payload == 2  # well within 128 MB
    outcome = executor.invoke(spec, {"mb": 300})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.OutOfMemory"
    assert outcome.error["errorMessage"].startswith("RequestId: ")
    assert outcome.error["errorMessage"].endswith(
        "Error: Runtime exited with error: signal: killed"
    )
    assert executor.workers() == 0, "the instance that ran out of memory must be gone"
    # The same function with more memory runs the same event: the limit is MemorySize.
    assert executor.invoke(_spec(HUNGRY, memory_mb=512), {"mb": 300}).payload == 30


def test_a_function_past_its_timeout_is_killed_as_lambdas_is(executor: LambdaExecutor) -> None:
    spec = _spec(SLEEPY, timeout=1)
    began = time.monotonic()
    outcome = executor.invoke(spec, {"sleep": 30})
    assert time.monotonic() - began < 5
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Sandbox.Timedout"
    assert outcome.error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert executor.workers() == 0
    assert executor.invoke(spec, {}).payload == "slept"  # a fresh instance serves the next


def test_workers_of_replaced_and_retired_functions_are_stopped(executor: LambdaExecutor) -> None:
    first = _spec(SLEEPY)
    assert executor.invoke(first, {}).payload == "slept"
    assert executor.workers() == 1
    code_dirs = set(executor.root.iterdir())
    replaced = _spec(SLEEPY + "\n# a new deployment\n")
    assert executor.invoke(replaced, {}).payload == "slept"
    assert executor.workers() == 1, "the replaced version's worker is still running"
    assert len(set(executor.root.iterdir()) - code_dirs) == 1
    assert not code_dirs & set(executor.root.iterdir()), "the old bundle is still unpacked"
    reconfigured = _spec(SLEEPY + "\n# a new deployment\n", memory_mb=256)
    assert executor.invoke(reconfigured, {}).payload == "slept"
    assert executor.workers() == 1
    executor.retire("fn")  # deleted
    assert executor.workers() == 0
    assert list(executor.root.iterdir()) == []
