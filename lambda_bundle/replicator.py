"""Replicator function: SQS batches of S3 events in, `batchItemFailures` out."""

from __future__ import annotations

from typing import Any

from objbackup.core.logs import configure_lambda_logging
from objbackup.core.runtime import ReplicatorApp

_app: ReplicatorApp | None = None


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    global _app
    if _app is None:  # built on the first invocation, then reused by the warm container
        configure_lambda_logging()
        _app = ReplicatorApp.create()
    return _app(event, context)
