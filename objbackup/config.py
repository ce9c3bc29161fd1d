"""Settings of the deployed functions, read from their environment.

The same names are written by the CloudFormation templates and read here, so they live in one place.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from objbackup.errors import ConfigError
from objbackup.filters import KeyFilter

ENV_SOURCE_BUCKET = "OBJBACKUP_SOURCE_BUCKET"
ENV_BACKUP_BUCKET = "OBJBACKUP_BACKUP_BUCKET"
ENV_TABLE = "OBJBACKUP_TABLE"
ENV_DISOWNED_INDEX = "OBJBACKUP_DISOWNED_INDEX"
ENV_RETAIN = "OBJBACKUP_RETAIN"
ENV_GRACE_SECONDS = "OBJBACKUP_GRACE_SECONDS"
ENV_MULTIPART_THRESHOLD = "OBJBACKUP_MULTIPART_THRESHOLD"
# Hidden: the part size of the replicator's multipart copies (unset: 64 MiB, more for huge
# objects). S3 wants parts of at least 5 MiB; smaller ones are for the sandbox's tests.
ENV_PART_BYTES = "OBJBACKUP_PART_BYTES"
# The deployment's key filter, comma-separated prefixes ("" or unset: none).
ENV_INCLUDE_PREFIXES = "OBJBACKUP_INCLUDE_PREFIXES"
ENV_EXCLUDE_PREFIXES = "OBJBACKUP_EXCLUDE_PREFIXES"

_Num = TypeVar("_Num", int, float)

DEFAULT_DISOWNED_INDEX = "DisownedIndex"
DEFAULT_RETAIN = 3
DEFAULT_GRACE_SECONDS = 10.0
# CopyObject copies at most 5 GiB; well below that a multipart copy is faster and stays inside the
# Lambda timeout, at the cost of more calls, so 1 GiB is the default switch-over point.
DEFAULT_MULTIPART_THRESHOLD = 1024**3
MAX_COPY_OBJECT_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Settings:
    """Everything the replicator and the cleaner need to know about their deployment."""

    source_bucket: str
    backup_bucket: str
    table: str
    disowned_index: str = DEFAULT_DISOWNED_INDEX
    retain: int = DEFAULT_RETAIN
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_bytes: int | None = None
    key_filter: KeyFilter = field(default_factory=KeyFilter)

    def __post_init__(self) -> None:
        for setting, value in (
            (ENV_SOURCE_BUCKET, self.source_bucket),
            (ENV_BACKUP_BUCKET, self.backup_bucket),
            (ENV_TABLE, self.table),
            (ENV_DISOWNED_INDEX, self.disowned_index),
        ):
            if not value:
                raise ConfigError(setting, "must not be empty")
        if self.source_bucket == self.backup_bucket:
            raise ConfigError(ENV_BACKUP_BUCKET, "must differ from the source bucket")
        if self.retain < 1:
            raise ConfigError(ENV_RETAIN, f"must be at least 1, got {self.retain}")
        if not (math.isfinite(self.grace_seconds) and self.grace_seconds >= 0):
            raise ConfigError(
                ENV_GRACE_SECONDS, f"must be a finite number >= 0, got {self.grace_seconds}"
            )
        if not 1 <= self.multipart_threshold <= MAX_COPY_OBJECT_BYTES:
            raise ConfigError(
                ENV_MULTIPART_THRESHOLD,
                f"must be 1 to {MAX_COPY_OBJECT_BYTES} bytes, got {self.multipart_threshold}",
            )
        if self.part_bytes is not None and not 1 <= self.part_bytes <= MAX_COPY_OBJECT_BYTES:
            raise ConfigError(
                ENV_PART_BYTES, f"must be 1 to {MAX_COPY_OBJECT_BYTES} bytes, got {self.part_bytes}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        return cls(
            source_bucket=_required(env, ENV_SOURCE_BUCKET),
            backup_bucket=_required(env, ENV_BACKUP_BUCKET),
            table=_required(env, ENV_TABLE),
            disowned_index=env.get(ENV_DISOWNED_INDEX) or DEFAULT_DISOWNED_INDEX,
            retain=_number(env, ENV_RETAIN, int, DEFAULT_RETAIN),
            grace_seconds=_number(env, ENV_GRACE_SECONDS, float, DEFAULT_GRACE_SECONDS),
            multipart_threshold=_number(
                env, ENV_MULTIPART_THRESHOLD, int, DEFAULT_MULTIPART_THRESHOLD
            ),
            part_bytes=_number(env, ENV_PART_BYTES, int, 0) or None,
            key_filter=KeyFilter.from_parameters(
                env.get(ENV_INCLUDE_PREFIXES), env.get(ENV_EXCLUDE_PREFIXES)
            ),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that `from_env` reads back into these settings."""
        env = {
            ENV_SOURCE_BUCKET: self.source_bucket,
            ENV_BACKUP_BUCKET: self.backup_bucket,
            ENV_TABLE: self.table,
            ENV_DISOWNED_INDEX: self.disowned_index,
            ENV_RETAIN: str(self.retain),
            ENV_GRACE_SECONDS: repr(float(self.grace_seconds)),
            ENV_MULTIPART_THRESHOLD: str(self.multipart_threshold),
        } | {
            ENV_INCLUDE_PREFIXES: ",".join(self.key_filter.include),
            ENV_EXCLUDE_PREFIXES: ",".join(self.key_filter.exclude),
        }
        if self.part_bytes is not None:
            env[ENV_PART_BYTES] = str(self.part_bytes)
        return env


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(name, "is not set")
    return value


def _number(env: Mapping[str, str], name: str, kind: type[_Num], default: _Num) -> _Num:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(name, f"must be a {kind.__name__}, got {raw!r}") from None
