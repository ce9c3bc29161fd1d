"""Settings of the deployed functions, read from their environment.

The same names are written by the CloudFormation templates and read here, so they live in one place.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from objbackup.core.errors import ConfigError
from objbackup.core.filters import KeyFilter
from objbackup.core.storage_class import DEFAULT_STORAGE_CLASS, STORAGE_CLASSES

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
# The KMS key ARN copies are written with ("" or unset: the backup bucket's default, SSE-S3).
ENV_BACKUP_KMS_KEY = "OBJBACKUP_BACKUP_KMS_KEY"
# The S3 storage class copies are written in (unset: STANDARD; objbackup.core.storage_class).
ENV_STORAGE_CLASS = "OBJBACKUP_STORAGE_CLASS"
# The replicator's own queue, which a big copy the deadline stopped is re-sent to (unset: none;
# it is redelivered instead: objbackup.core.continuation).
ENV_QUEUE_URL = "OBJBACKUP_QUEUE_URL"

_Num = TypeVar("_Num", int, float)

DEFAULT_DISOWNED_INDEX = "DisownedIndex"
DEFAULT_RETAIN = 3
DEFAULT_GRACE_SECONDS = 10.0
# CopyObject copies at most 5 GiB; well below that a multipart copy is faster and stays inside the
# Lambda timeout, at the cost of more calls, so 1 GiB is the default switch-over point.
DEFAULT_MULTIPART_THRESHOLD = 1024**3
MAX_COPY_OBJECT_BYTES = 5 * 1024**3
# The bounds of `retain` and `grace` (the CLI, Settings, the cleaner's direct invoke and the
# templates' MinValue/MaxValue all read these; tests/unit/test_templates.py holds them equal).
# Every write Queries all of its key's records and prunes past `retain`: 100 records of the
# longest key (1 KiB copy names) stay within one 1 MB Query page ("Paginating table query results
# in DynamoDB", Amazon DynamoDB Developer Guide), so a write stays one read. Deeper history is S3
# Versioning's job, not copies.
MIN_RETAIN = 1
MAX_RETAIN = 100
# Grace is the window in which `undelete` can bring a deleted object back. A year is longer than
# any undo window; keeping deleted data for longer is Object Lock's or Versioning's job. Unbounded,
# `now - grace` leaves the range of a datetime (1e12 seconds: every clean raised OverflowError).
MIN_GRACE_SECONDS = 0
MAX_GRACE_SECONDS = 365 * 24 * 3600


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
    backup_kms_key: str | None = None
    queue_url: str | None = None
    storage_class: str = DEFAULT_STORAGE_CLASS

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
        try:
            check_retain(self.retain, "retain")
        except ValueError as exc:
            raise ConfigError(ENV_RETAIN, str(exc)) from None
        try:
            check_grace(self.grace_seconds, "grace")
        except ValueError as exc:
            raise ConfigError(ENV_GRACE_SECONDS, str(exc)) from None
        if not 1 <= self.multipart_threshold <= MAX_COPY_OBJECT_BYTES:
            raise ConfigError(
                ENV_MULTIPART_THRESHOLD,
                f"must be 1 to {MAX_COPY_OBJECT_BYTES} bytes, got {self.multipart_threshold}",
            )
        if self.part_bytes is not None and not 1 <= self.part_bytes <= MAX_COPY_OBJECT_BYTES:
            raise ConfigError(
                ENV_PART_BYTES, f"must be 1 to {MAX_COPY_OBJECT_BYTES} bytes, got {self.part_bytes}"
            )
        if self.storage_class not in STORAGE_CLASSES:
            raise ConfigError(
                ENV_STORAGE_CLASS,
                f"must be one of {', '.join(STORAGE_CLASSES)}, got {self.storage_class!r}",
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
            backup_kms_key=env.get(ENV_BACKUP_KMS_KEY, "").strip() or None,
            queue_url=env.get(ENV_QUEUE_URL, "").strip() or None,
            storage_class=env.get(ENV_STORAGE_CLASS, "").strip() or DEFAULT_STORAGE_CLASS,
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
            ENV_BACKUP_KMS_KEY: self.backup_kms_key or "",
            ENV_STORAGE_CLASS: self.storage_class,
        }
        if self.part_bytes is not None:
            env[ENV_PART_BYTES] = str(self.part_bytes)
        if self.queue_url is not None:
            env[ENV_QUEUE_URL] = self.queue_url
        return env


def check_retain(value: int, what: str) -> int:
    """`value` if it is a whole number of copies from MIN_RETAIN to MAX_RETAIN."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if not MIN_RETAIN <= value <= MAX_RETAIN:
        raise ValueError(f"{what} must be {MIN_RETAIN} to {MAX_RETAIN} copies, got {value}")
    return value


def check_grace(value: float, what: str) -> float:
    """`value` if it is a number of seconds from MIN_GRACE_SECONDS to MAX_GRACE_SECONDS."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and MIN_GRACE_SECONDS <= value <= MAX_GRACE_SECONDS):
        raise ValueError(
            f"{what} must be {MIN_GRACE_SECONDS} to {MAX_GRACE_SECONDS} seconds (365 days), "
            f"got {value}"
        )
    return value


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
