"""Deterministic names: a write's position in its key's history, and the copy name derived from it.

Every event for a key carries S3's `sequencer`, which orders the writes and deletes of that key.
Together with the event's whole-second time it gives a fixed-width `copy_timestamp` whose string
order is time order (and write order within a second). Because the timestamp and the copy name are
functions of the event alone, a redelivered event lands on the very same record and object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ParsedCopyName:
    """What a copy name tells: its source key (None when hashed), or the hash, and the timestamp."""

    key: str | None
    digest: str | None
    timestamp: str
    head: str = ""  # the start of the key a hashed name keeps


_COPY_NAME = re.compile(
    r"^(?P<body>.*)@(?P<when>[0-9]{8}T[0-9]{6}Z)-(?P<sequencer>[^@]+)$", re.DOTALL
)


def key_digest(key: str) -> str:
    """The hash that replaces the tail of a key too long to take a copy name's suffix."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def parse_copy_name(name: str) -> ParsedCopyName | None:
    """The inverse of `copy_name`: the source key, or only its hash for a hashed (long) key.

    None when `name` is not a copy name at all. A hashed name keeps just a head of the key, so
    its key must be found elsewhere (a key whose `key_digest` matches).
    """
    match = _COPY_NAME.match(name)
    if match is None:
        return None
    body, when, sequencer = match["body"], match["when"], match["sequencer"]
    timestamp = (
        f"{when[0:4]}-{when[4:6]}-{when[6:8]}T{when[9:11]}:{when[11:13]}:{when[13:15]}Z~{sequencer}"
    )
    suffix = name[len(body) :]
    room = MAX_KEY_BYTES - len(suffix.encode("utf-8"))
    if len(body.encode("utf-8")) < room - 3:
        return (
            ParsedCopyName(key=body, digest=None, timestamp=timestamp, head=body) if body else None
        )
    head, hashed, digest = body.rpartition("#")
    if not hashed or not re.fullmatch(f"[0-9a-f]{{{_HASH_CHARS}}}", digest):
        return None
    return ParsedCopyName(key=None, digest=digest, timestamp=timestamp, head=head)
