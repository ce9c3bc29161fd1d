"""Counts in messages: '1 copy', '3 copies' (the core's twin of cli.render.counted)."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """The count and the noun in its number (plural: singular + 's')."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
