"""The one mechanism that installs the sandbox's patches into moto: a record per patch and one
thread-safe guard, so that each is applied once however often, and from wherever, it is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Patch:
    """One change to moto: what AWS does that moto does not (or does too slowly), and the tests
    ("tests/<file>.py::<test>") that fail if the gap reopens, for instance after a moto upgrade."""

    service: str
    name: str
    why: str
    tests: tuple[str, ...]
    apply: Callable[[], None]

    @property
    def key(self) -> str:
        return f"{self.service}/{self.name}"


# Reentrant: an `apply` may install what it builds on.
_lock = threading.RLock()
_installed: set[str] = set()


def install(*patches: Patch) -> None:
    """Apply each of `patches` not applied yet, in order: moto's methods are wrapped once."""
    with _lock:
        for patch in patches:
            if patch.key not in _installed:
                patch.apply()
                _installed.add(patch.key)


def installed() -> frozenset[str]:
    """The keys (`service/name`) of the patches applied in this process."""
    with _lock:
        return frozenset(_installed)
