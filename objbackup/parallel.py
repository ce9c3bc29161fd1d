"""Ordered, bounded fan-out of per-key reads (one Query per key adds up on large buckets)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from objbackup.core.chunks import chunks

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_WORKERS = 8
_CHUNK = 1000


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = DEFAULT_WORKERS
) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) in input order, `workers` calls at a time; a chunk in flight at most,
    so a listing of millions of keys is never held whole. Errors surface in order."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk in chunks(items, _CHUNK):
            yield from zip(chunk, pool.map(fn, chunk), strict=True)
