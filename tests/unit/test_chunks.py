"""`chunks`: every item once, in order, in lists of at most n, read lazily."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from objbackup.core.chunks import chunks


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=30))
def test_chunks_keep_every_item_in_order_at_most_size_each(items: list[int], size: int) -> None:
    cut = list(chunks(items, size))
    assert [x for chunk in cut for x in chunk] == items
    assert all(len(chunk) == size for chunk in cut[:-1])
    assert all(1 <= len(chunk) <= size for chunk in cut)


def test_chunks_read_no_further_than_the_chunk_asked_for() -> None:
    endless = itertools.count()
    first = next(chunks(endless, 3))
    assert first == [0, 1, 2] and next(endless) == 3


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(chunks([1], 0))
