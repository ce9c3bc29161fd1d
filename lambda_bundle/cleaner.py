"""Cleaner function: one clean per invocation (schedule or direct invoke), returns its report."""

from __future__ import annotations

from typing import Any

from objbackup.core.runtime import CleanerApp, Warm

_warm = Warm(CleanerApp.create)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    return _warm(event, context)
