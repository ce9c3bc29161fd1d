"""The sandbox's background work done by AWS itself (shipping logs, publishing queue metrics,
firing schedules, finding event source mappings): one daemon thread per job, calling it every
few seconds until the sandbox stops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

LOG = logging.getLogger("objbackup.sandbox")


class Periodic:
    """Calls `work` every `every` seconds on a daemon thread named `name`, from start() to stop().

    A call that raises is logged with `failure` and the next one still comes. With `at_once` the
    first call is made as the thread starts, otherwise one period later.
    """

    def __init__(
        self,
        work: Callable[[], object],
        every: float,
        name: str,
        failure: str,
        *,
        at_once: bool = False,
    ) -> None:
        self.every = every
        self._work = work
        self._failure = failure
        self._at_once = at_once
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop calling; wait at most `timeout` seconds for a call in progress (the thread is a
        daemon: one that overruns cannot hold the process's exit)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(0.0, timeout))

    def _run(self) -> None:
        if self._at_once and not self._stop.is_set():
            self._call()
        while not self._stop.wait(self.every):
            self._call()

    def _call(self) -> None:
        try:
            self._work()
        except Exception:
            LOG.exception("%s", self._failure)
