"""Deterministic names: a write's position in its key's history, and the copy name derived from it.

Every event for a key carries S3's `sequencer`, which orders the writes and deletes of that key.
Together with the event's whole-second time it gives a fixed-width `copy_timestamp` whose string
order is time order (and write order within a second). Because the timestamp and the copy name are
functions of the event alone, a redelivered event lands on the very same record and object.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

SEQUENCER_WIDTH = 32
MAX_KEY_BYTES = 1024
_HASH_CHARS = 32


def pad_sequencer(sequencer: str) -> str:
    """Right-pad with zeros so that string order is S3's sequencer order (S3's documented rule)."""
    return sequencer.strip().upper().ljust(SEQUENCER_WIDTH, "0")


def copy_timestamp(time: datetime, sequencer: str) -> str:
    """`2026-11-25T05:06:12Z~<sequencer>`: ISO 8601 UTC to the second, then the padded sequencer."""
    return f"{time.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}~{pad_sequencer(sequencer)}"


def copy_name(key: str, timestamp: str) -> str:
    """The backup bucket key for the copy of `key` made at `timestamp`, at most 1024 UTF-8 bytes.

    A key too long to take the suffix is cut at a character boundary and followed by a hash of the
    whole key, so copy names stay unique per source key.
    """
    when, _, sequencer = timestamp.partition("~")
    compact = when.replace("-", "").replace(":", "")
    suffix = f"@{compact}-{sequencer}"
    raw = key.encode("utf-8")
    room = MAX_KEY_BYTES - len(suffix.encode("utf-8"))
    # A hashed body is `room - 3` to `room` bytes long (the cut may drop up to 3 bytes of a split
    # character); keys are kept whole only when shorter than that, so no key can spell another
    # key's hashed name.
    if len(raw) < room - 3:
        return key + suffix
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_CHARS]
    head = raw[: room - _HASH_CHARS - 1].decode("utf-8", errors="ignore")
    return f"{head}#{digest}{suffix}"


def iso_now(now: datetime) -> str:
    """Fixed-width ISO 8601 UTC with microseconds, for `disowned_at` and clean cut-offs."""
    return f"{now.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
