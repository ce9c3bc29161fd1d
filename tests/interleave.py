"""Interleaving actors at AWS call boundaries: each runs in a thread and stops before each call.

A conductor (the test) lets exactly one actor run at a time, from one call boundary to the next,
so a schedule such as [cleaner, undelete, undelete, cleaner, ...] decides which actor's next AWS
call happens next. Only one thread ever runs, so moto's in-process backends see serial calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

_STEP_TIMEOUT = 60.0


class Actor:
    """One piece of work (`run`) over its own clients, paused before each of their calls."""

    def __init__(self, name: str, run: Callable[[], Any], clients: Iterable[Any]) -> None:
        self.name = name
        self._run = run
        self._clients = list(clients)
        self._go = threading.Semaphore(0)
        self._parked = threading.Semaphore(0)
        self.done = False
        self.calls = 0
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"actor-{name}", daemon=True)

    def _hook(self, **_: Any) -> None:
        self._parked.release()  # at a call boundary: hand control back to the conductor
        self._go.acquire()
        self.calls += 1

    def _main(self) -> None:
        self._go.acquire()
        try:
            self.result = self._run()
        except BaseException as exc:  # the test decides which failures are expected
            self.error = exc
        finally:
            self.done = True
            self._parked.release()

    def start(self) -> None:
        for client in self._clients:
            client.meta.events.register("before-call.*.*", self._hook)
        self._thread.start()

    def stop(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call.*.*", self._hook)

    def step(self) -> None:
        """Let the actor make its next call and run on to the one after (or to its end)."""
        assert not self.done, f"{self.name} has finished"
        self._go.release()
        if not self._parked.acquire(timeout=_STEP_TIMEOUT):
            raise AssertionError(f"{self.name} neither reached a call nor finished")


def interleave(actors: list[Actor], schedule: Iterable[int]) -> list[str]:
    """Step `actors` in `schedule` order (indices, skipping finished ones), then each to its end.

    Returns the trace: which actor made each step.
    """
    trace: list[str] = []
    for actor in actors:
        actor.start()
    try:
        for index in schedule:
            live = [a for a in actors if not a.done]
            if not live:
                break
            actor = actors[index] if not actors[index].done else live[index % len(live)]
            actor.step()
            trace.append(actor.name)
        for actor in actors:
            while not actor.done:
                actor.step()
                trace.append(actor.name)
    finally:
        for actor in actors:
            actor.stop()
    return trace
