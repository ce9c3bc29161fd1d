"""EventBridge schedule rules, which moto never fires: `rate(...)` rules invoke their Lambda
targets once per period, asynchronously, with the Scheduled Event payload AWS sends."""

from __future__ import annotations

import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from objbackup.sandbox.executor import LambdaExecutor, spec_of
from objbackup.sandbox.periodic import Periodic

LOG = logging.getLogger("objbackup.sandbox")
ACCOUNT = "123456789012"
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of a `rate(...)` expression in seconds; None for anything else (cron)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


class Scheduler:
    """Fires due schedule rules of the sandbox's region."""

    def __init__(self, region: str, executor: LambdaExecutor, tick: float = 0.5) -> None:
        self.region = region
        self.executor = executor
        self._next: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="schedule")
        self._periodic = Periodic(
            lambda: self.fire_due(time.monotonic()),
            tick,
            "scheduler",
            "schedule tick failed",
            at_once=True,
        )
        self.fired = 0

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def fire_due(self, now: float) -> int:
        """Fire every rule whose period has passed since it was first seen or last fired."""
        from moto.events.models import events_backends

        fired = 0
        seen: set[str] = set()
        for bus in list(events_backends[ACCOUNT][self.region].event_buses.values()):
            for rule in list(bus.rules.values()):
                period = rate_seconds(getattr(rule, "scheduled_expression", None) or "")
                if period is None or rule.state != "ENABLED":
                    continue
                seen.add(rule.arn)
                due = self._next.setdefault(rule.arn, now + period)
                if now >= due:
                    self._next[rule.arn] = now + period
                    for target in list(rule.targets):
                        if ":lambda:" in target["Arn"]:
                            self._pool.submit(self._invoke, rule, target["Arn"])
                            fired += 1
        for arn in set(self._next) - seen:
            del self._next[arn]
        self.fired += fired
        return fired

    def _invoke(self, rule: Any, function_arn: str) -> None:
        from moto.awslambda.models import lambda_backends

        try:
            function = lambda_backends[ACCOUNT][self.region].get_function(function_arn)
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
                "region": self.region,
                "resources": [rule.arn],
                "detail": {},
            }
            outcome = self.executor.invoke(spec_of(function), event)
            if outcome.failed:
                LOG.warning("scheduled invoke of %s failed: %s", function_arn, outcome.error)
        except Exception:
            LOG.exception("scheduled invoke of %s failed", function_arn)
