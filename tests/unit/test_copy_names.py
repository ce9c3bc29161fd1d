"""parse_copy_name inverts copy_name: the key back, or for a hashed name the key's hash."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from objbackup.core.naming import copy_name, copy_timestamp, key_digest, parse_copy_name
from objbackup.parallel import ordered_map

keys = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1
).filter(lambda k: len(k.encode("utf-8")) <= 1024)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
sequencers = st.text("0123456789ABCDEF", max_size=32)


@given(key=keys, when=times, sequencer=sequencers)
def test_parse_inverts_copy_name(key: str, when: datetime, sequencer: str) -> None:
    timestamp = copy_timestamp(when, sequencer)
    parsed = parse_copy_name(copy_name(key, timestamp))
    assert parsed is not None and parsed.timestamp == timestamp
    if parsed.key is not None:
        assert parsed.key == key and parsed.digest is None
    else:
        assert parsed.digest == key_digest(key) and key.startswith(parsed.head)


@given(key=st.text(min_size=1, max_size=100), when=times)
def test_short_keys_come_back_whole_even_when_they_look_like_copy_names(
    key: str, when: datetime
) -> None:
    tricky = f"{key}@20261125T050612Z-{'0' * 32}#{'a' * 32}"
    parsed = parse_copy_name(copy_name(tricky, copy_timestamp(when, "00AB")))
    assert parsed is not None and parsed.key == tricky


def test_names_that_are_not_copy_names() -> None:
    for name in ("", "plain.txt", "a@2026-11-25-00", "@20261125T050612Z-00", "a@20261125T050612Z-"):
        assert parse_copy_name(name) is None, name


def test_ordered_map_keeps_order_and_bounds_concurrency() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def slow_square(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.001)  # work to overlap, not synchronisation
        with lock:
            running -= 1
        return n * n

    result = list(ordered_map(slow_square, range(2500), workers=4))
    assert result == [(n, n * n) for n in range(2500)]
    assert 1 < peak <= 4
