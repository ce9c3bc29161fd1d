"""Invoking the deployed cleaner synchronously (`clean --now`) and reading its report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from objbackup.deploy.errors import BadReport, FunctionFailed

if TYPE_CHECKING:
    from types_boto3_lambda import LambdaClient


@dataclass(frozen=True)
class CleanerReport:
    """The cleaner's report, in the CLI contract's shape (plus cutoff, errors, duration)."""

    dry_run: bool
    deleted: int
    failed: int
    copies: list[str]
    cutoff: str | None = None
    errors: list[str] = field(default_factory=list)
    duration_ms: float | None = None
    # Keys later cleaners add; an older cleaner's report leaves them at their defaults.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stopped_early(self) -> bool:
        return self.extra.get("stopped_early") is True

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "failed": self.failed,
            "copies": list(self.copies),
            "cutoff": self.cutoff,
            "errors": list(self.errors),
            "duration_ms": self.duration_ms,
            **self.extra,
        }


def parse_report(function: str, payload: Any) -> CleanerReport:
    """Check and type the cleaner's answer; BadReport when it is not a report."""
    if not isinstance(payload, Mapping):
        raise BadReport(f"function {function} answered {payload!r}, not a report")

    def get(key: str, kind: type | tuple[type, ...]) -> Any:
        value = payload.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadReport(f"function {function} answered a report whose {key} is {value!r}")
        return value

    copies = get("copies", list)
    errors = payload.get("errors") or []
    if not all(isinstance(c, str) for c in copies) or not isinstance(errors, list):
        raise BadReport(f"function {function} answered a report with malformed copies or errors")
    duration = payload.get("duration_ms")
    cutoff = payload.get("cutoff")
    return CleanerReport(
        dry_run=get("dry_run", bool),
        deleted=get("deleted", int),
        failed=get("failed", int),
        copies=list(copies),
        cutoff=cutoff if isinstance(cutoff, str) else None,
        errors=[str(e) for e in errors],
        duration_ms=float(duration) if isinstance(duration, int | float) else None,
        extra={k: payload[k] for k in _EXTRA if k in payload},
    )


# Passed through to `clean --now --json` as the cleaner wrote them.
_EXTRA = (
    "reclaimed",
    "copies_omitted",
    "errors_omitted",
    "stopped_early",
    "remaining",
    "skipped",
)


def invoke_cleaner(
    lambda_client: LambdaClient, function: str, dry_run: bool = False
) -> CleanerReport:
    """Run the cleaner once, now, and wait for its report; FunctionFailed if it raised."""
    response = lambda_client.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"dry_run": dry_run}).encode(),
    )
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        raise BadReport(f"function {function} answered non-JSON: {raw[:200]!r}") from None
    if response.get("FunctionError"):
        detail = payload if isinstance(payload, Mapping) else {}
        raise FunctionFailed(
            function,
            str(detail.get("errorType") or response["FunctionError"]),
            str(detail.get("errorMessage") or raw[:200].decode(errors="replace")),
        )
    return parse_report(function, payload)
