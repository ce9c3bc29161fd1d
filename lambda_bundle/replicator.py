"""Replicator function: SQS batches of S3 events in, `batchItemFailures` out."""

from __future__ import annotations

from typing import Any

from objbackup.core.runtime import ReplicatorApp, Warm

_warm = Warm(ReplicatorApp.create)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    return _warm(event, context)
