"""The sandbox's periodic background thread (objbackup/sandbox/periodic.py): it goes on after a
failing call, stops calling once stopped, and makes its first call at once when asked to."""

from __future__ import annotations

import threading

import pytest

from objbackup.sandbox.periodic import Periodic
from tests.polling import wait_for


def test_a_failing_call_is_logged_and_the_next_still_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the first call fails")

    periodic = Periodic(work, 0.01, "test-periodic", "test work failed")
    periodic.start()
    try:
        wait_for(lambda: len(calls) >= 3, 10, "three calls")
    finally:
        periodic.stop()
    made = len(calls)
    assert "test work failed" in caplog.text and "the first call fails" in caplog.text
    assert not periodic._thread.is_alive()
    assert len(calls) == made, "a call came after stop()"


def test_at_once_makes_the_first_call_without_waiting_a_period() -> None:
    called = threading.Event()
    periodic = Periodic(called.set, 3600, "test-periodic", "test work failed", at_once=True)
    periodic.start()
    try:
        assert called.wait(10), "no call within 10 s of a start with a one-hour period"
    finally:
        periodic.stop()
    assert not periodic._thread.is_alive()
