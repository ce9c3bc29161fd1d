"""Hostile input: random and mutated messages never crash a batch, every bad one is reported as
a batch item failure with a log line naming its message id, and the good ones still succeed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objbackup.core.events import decode_invocation
from objbackup.core.logs import LOGGER
from objbackup.core.runtime import ReplicatorApp
from tests.harness import Harness
from tests.profiles import examples
from tests.unit.test_batch import sqs_batch, to_eventbridge

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
PATHS = [
    ("source",),
    ("detail-type",),
    ("time",),
    ("detail", "bucket", "name"),
    ("detail", "object"),
    ("detail", "object", "key"),
    ("detail", "object", "size"),
    ("detail", "object", "etag"),
    ("detail", "object", "sequencer"),
    ("detail",),
]


def _mutate(event: dict[str, Any], path: tuple[str, ...], value: Any, drop: bool) -> dict[str, Any]:
    mutated = copy.deepcopy(event)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    if drop:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return mutated


@pytest.fixture
def app_and_good(
    system: Harness, monkeypatch: pytest.MonkeyPatch
) -> tuple[ReplicatorApp, Harness, dict[str, Any]]:
    monkeypatch.setattr(LOGGER, "propagate", True)  # a handler test may have turned it off
    good = system.put("good/object.txt", b"good")
    return ReplicatorApp(system.settings, system.replicator), system, to_eventbridge(good)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        JSON.map(json.dumps),
        st.text(max_size=60),
        st.tuples(st.sampled_from(PATHS), JSON, st.booleans()),
    )
)
def test_a_hostile_message_fails_alone(
    app_and_good: tuple[ReplicatorApp, Harness, dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    body: Any,
) -> None:
    app, system, good = app_and_good
    if isinstance(body, tuple):
        path, value, drop = body
        body = json.dumps(_mutate(good, path, value, drop))
    caplog.clear()
    with caplog.at_level("INFO", logger="objbackup"):
        answer = app(sqs_batch(("good-1", good), ("hostile", body), ("good-2", good)))
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    assert set(failed) <= {"hostile"}, "a good message was failed by its neighbour"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "objbackup"]
    if failed:
        assert any(
            line.get("message_id") == "hostile" and line["event"] in ("rejected", "failed")
            for line in lines
        ), "the bad message is logged with its id"
    # the good message's copy is there (a mutation may be a valid event of its own, and copy too)
    stamps = {r.copy_timestamp for r in system.active("good/object.txt")}
    assert decode_invocation(good)[0].position in stamps
