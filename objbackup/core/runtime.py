"""Lambda wiring: settings from the environment, clients built once per container."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from objbackup.core.aws import Clients
from objbackup.core.batch import KEY_WORKERS, is_sqs_batch, process_sqs_batch
from objbackup.core.clean import LEASE_SECONDS, Cleaner, CleanReport
from objbackup.core.config import Settings, check_grace
from objbackup.core.continuation import Continuation
from objbackup.core.deadline import Deadline
from objbackup.core.errors import MalformedEvent
from objbackup.core.events import Kind, ObjectEvent, decode_invocation
from objbackup.core.logs import configure_lambda_logging, log_event
from objbackup.core.metrics import embed
from objbackup.core.naming import iso_now
from objbackup.core.replicate import Outcome, Replicator
from objbackup.core.table import CopyTable


@dataclass
class ReplicatorApp:
    """The replicator function: an SQS batch, or a bare S3 event from a direct invoke."""

    settings: Settings
    replicator: Replicator

    @classmethod
    def create(
        cls, settings: Settings | None = None, clients: Clients | None = None
    ) -> ReplicatorApp:
        settings = settings or Settings.from_env()
        clients = clients or Clients.create()
        table = CopyTable(clients.dynamodb, settings.table, settings.disowned_index)
        continuation = (
            Continuation(clients.sqs, settings.queue_url)
            if settings.queue_url and clients.sqs is not None
            else None
        )
        return cls(settings, Replicator(settings, clients.s3, table, continuation=continuation))

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Handle one invocation; with a Lambda `context`, stop in time (core.deadline)."""
        deadline = Deadline.from_context(context)

        def handle(object_event: ObjectEvent) -> Outcome:
            return self.handle(object_event, deadline)

        if is_sqs_batch(event):
            return process_sqs_batch(
                event,
                handle,
                self.settings.source_bucket,
                deadline,
                big=self.settings.multipart_threshold,
                workers=KEY_WORKERS,
            )
        try:
            events = decode_invocation(event, self.settings.source_bucket)
        except MalformedEvent as exc:
            log_event(logging.ERROR, event="rejected", error=type(exc).__name__, reason=exc.reason)
            raise
        outcomes = [handle(e) for e in events]
        return {"outcomes": [o.outcome for o in outcomes]}

    def handle(self, event: ObjectEvent, deadline: Deadline | None = None) -> Outcome:
        """Handle one event, unless its key is outside the deployment's key filter.

        The rule lets through only what it can express (see objbackup.core.filters); the rest, and
        events a rule from before a filter change still delivers, are dropped here: logged and
        acknowledged, never failed, so they do not end in the dead-letter queue.
        """
        if self.settings.key_filter.matches(event.key):
            return self.replicator.handle(event, deadline)
        action = "replicate" if event.kind is Kind.CREATED else "disown"
        outcome = Outcome(action, "filtered", event.key)
        log_event(
            event="object",
            key=event.key,
            action=outcome.action,
            outcome=outcome.outcome,
            event_id=event.event_id,
            message_id=event.message_id,
            **embed(datetime.now(UTC), {}, outcome.outcome),
        )
        return outcome


@dataclass
class CleanerApp:
    """The cleaner function: one clean per invocation; a direct invoke may pass options."""

    settings: Settings
    cleaner: Cleaner

    @classmethod
    def create(cls, settings: Settings | None = None, clients: Clients | None = None) -> CleanerApp:
        settings = settings or Settings.from_env()
        clients = clients or Clients.create()
        table = CopyTable(clients.dynamodb, settings.table, settings.disowned_index)
        return cls(settings, Cleaner(settings, clients.s3, table))

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """One clean; with a Lambda `context`, it stops in time (see objbackup.core.deadline).

        Scheduled runs never overlap: each holds a lease in the table (see `CopyTable.take_lease`)
        and a run that finds it held does nothing. A direct invoke (`clean --now`) runs beside
        them; the claims keep each copy deleted and counted once.
        """
        options = event if isinstance(event, Mapping) else {}
        grace = options.get("grace_seconds")
        if grace is not None:
            try:
                check_grace(grace, "grace_seconds")
            except ValueError as exc:
                raise MalformedEvent(str(exc)) from None
        dry_run = options.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise MalformedEvent(f"dry_run must be true or false, got {dry_run!r}")
        started = time.perf_counter()
        deadline = Deadline.from_context(context)
        if is_scheduled(options):
            report = self._scheduled(deadline)
        else:
            report = self.cleaner.run(grace_seconds=grace, dry_run=dry_run, deadline=deadline)
        result = report.to_json()
        result["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return result

    def _scheduled(self, deadline: Deadline | None) -> CleanReport:
        cleaner, holder = self.cleaner, uuid.uuid4().hex
        now = cleaner.clock()
        # Held for this invocation's time (Lambda ends it by then), so a killed run blocks no one
        # for long; without a deadline, for longer than any run.
        seconds = LEASE_SECONDS if deadline is None else min(LEASE_SECONDS, deadline.remaining())
        until = iso_now(now + timedelta(seconds=seconds))
        if not cleaner.table.take_lease(SCHEDULED_LEASE, holder, iso_now(now), until):
            log_event(event="clean", skipped=SKIPPED)
            return CleanReport(dry_run=False, cutoff="", skipped=SKIPPED)
        try:
            return cleaner.run(deadline=deadline)
        finally:
            cleaner.table.release_lease(SCHEDULED_LEASE, holder, iso_now(cleaner.clock()))


class Warm:
    """A function's handler: its app is built on the first invocation, then reused by the warm
    container; a build that fails (settings missing) leaves the next invocation to try again."""

    def __init__(self, create: Callable[[], Callable[[Any, Any], dict[str, Any]]]) -> None:
        self.create = create
        self.app: Callable[[Any, Any], dict[str, Any]] | None = None

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        if self.app is None:
            configure_lambda_logging()
            self.app = self.create()
        return self.app(event, context)


SCHEDULED_LEASE = "scheduled-clean"
SKIPPED = "another scheduled clean is running"


def is_scheduled(event: Mapping[str, Any]) -> bool:
    """Whether an EventBridge schedule rule sent `event` (its Scheduled Event payload).

    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
    """
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"
