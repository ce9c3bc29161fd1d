"""Structured logs: one JSON object per line, so CloudWatch Logs Insights can query every field."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

LOGGER = logging.getLogger("objbackup")


def log_event(level: int = logging.INFO, **fields: Any) -> None:
    """Log `fields` as one JSON line on the `objbackup` logger."""
    LOGGER.log(level, json.dumps(fields, default=str, ensure_ascii=False, sort_keys=True))


def configure_lambda_logging() -> None:
    """Make sure INFO lines reach stdout (CloudWatch) whatever the runtime set up before us."""
    LOGGER.setLevel(logging.INFO)
    if not any(getattr(h, "_objbackup", False) for h in LOGGER.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._objbackup = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
        LOGGER.propagate = False
