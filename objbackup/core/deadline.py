"""How long an invocation has left, so work stops in time instead of being killed by Lambda.

Lambda kills a handler at its timeout: nothing it did is reported, so an SQS batch comes back
whole and every message that had succeeded runs again. Work checks the deadline and stops early,
leaving `margin` seconds to report what it did not finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# The margin is a share of the invocation's time, at most MAX_MARGIN seconds: enough to finish
# the part copies in flight and answer, small enough not to waste a short timeout.
MARGIN_SHARE = 0.2
MAX_MARGIN = 30.0


class OutOfTime(Exception):
    """Work stopped because the invocation is about to time out; it resumes on redelivery."""


class Deadline:
    """Seconds left in the invocation, and whether new work may still start."""

    def __init__(self, remaining: Callable[[], float], margin: float) -> None:
        self._remaining = remaining
        self.margin = margin

    @classmethod
    def from_context(cls, context: Any) -> Deadline | None:
        """The deadline of a Lambda context (`get_remaining_time_in_millis`); None without one.

        https://docs.aws.amazon.com/lambda/latest/dg/python-context.html
        """
        millis = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(millis):
            return None

        def remaining() -> float:
            return float(millis()) / 1000

        return cls(remaining, min(MAX_MARGIN, remaining() * MARGIN_SHARE))

    @classmethod
    def after(
        cls, seconds: float, margin: float, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """A deadline `seconds` from now on `clock` (tests, and callers without a context)."""
        end = clock() + seconds
        return cls(lambda: end - clock(), margin)

    def remaining(self) -> float:
        return self._remaining()

    def expired(self) -> bool:
        """True once no new work should start: less than `margin` seconds are left."""
        return self.remaining() < self.margin
