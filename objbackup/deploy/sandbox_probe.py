"""Whether the endpoint deploy talks to is objbackup's sandbox, seen on answers already asked
for (no extra call): the sandbox marks each of its answers with a header."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from objbackup.sandbox import SANDBOX_HEADER

if TYPE_CHECKING:
    from botocore.client import BaseClient

# The sandbox fires rate(...) rules only (objbackup/sandbox/scheduler.py); on AWS a cron(...)
# rule fires at its times (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html).
SANDBOX_CRON_WARNING = (
    "the sandbox fires rate(...) schedules only: the cleaner's cron(...) schedule will not "
    "fire there (deploy with --schedule 'rate(1 minute)', or run `objbackup clean --now`)"
)


class Probe:
    """True once an answer carried the sandbox's header."""

    def __init__(self) -> None:
        self.sandbox = False

    def __bool__(self) -> bool:
        return self.sandbox

    def seen(self, http_response: Any = None, **_: Any) -> None:
        headers = getattr(http_response, "headers", None) or {}
        if any(str(name).lower() == SANDBOX_HEADER for name in headers):
            self.sandbox = True


@contextmanager
def sandbox_probe(client: BaseClient) -> Iterator[Probe]:
    """Watch `client`'s answers while the block runs (botocore's after-call event)."""
    probe = Probe()
    events = client.meta.events
    event = f"after-call.{client.meta.service_model.service_id.hyphenize()}"
    events.register(event, probe.seen, unique_id=f"objbackup-sandbox-probe-{id(probe)}")
    try:
        yield probe
    finally:
        events.unregister(event, unique_id=f"objbackup-sandbox-probe-{id(probe)}")
