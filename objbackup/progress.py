"""Progress reports from long core operations, to a callback the CLI turns into a progress bar."""

from __future__ import annotations

from collections.abc import Callable

# (phase, done, total): total is None while it is not known yet (a listing still running).
Progress = Callable[[str, int, int | None], None]


def no_progress(phase: str, done: int, total: int | None) -> None:
    """The default callback: report nothing."""
