"""Typed errors of the core; the CLI turns them into one-line messages, handlers into failures."""

from __future__ import annotations


class ObjbackupError(Exception):
    """Base class of every error objbackup raises on purpose."""


class ConfigError(ObjbackupError):
    """A setting is missing or invalid; the message names the setting."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


class MalformedEvent(ObjbackupError):
    """An event or message could not be decoded; carries the message id when there is one."""

    def __init__(self, reason: str, message_id: str | None = None) -> None:
        where = f" (message {message_id})" if message_id else ""
        super().__init__(f"malformed event{where}: {reason}")
        self.reason = reason
        self.message_id = message_id


class ForeignBucket(MalformedEvent):
    """An event names a bucket other than the configured source: rejected, never acted on."""

    def __init__(self, bucket: str, expected: str, message_id: str | None = None) -> None:
        super().__init__(f"bucket {bucket!r} is not the source bucket {expected!r}", message_id)
        self.bucket = bucket
