"""Stack operations: change sets, deletions, and waiting for them while streaming stack events.

Waiting uses botocore's waiters one attempt at a time, so that the stack's new events can be
handed to a callback between attempts (the CLI renders them as progress).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError, WaiterError

from objbackup.core.aws import error_code
from objbackup.deploy.errors import ChangeSetFailed, StackOperationFailed, WaitTimeout

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient
    from types_boto3_cloudformation.literals import CapabilityType
    from types_boto3_cloudformation.type_defs import ParameterTypeDef, StackEventTypeDef

CAPABILITIES: list[CapabilityType] = ["CAPABILITY_IAM"]
StackWaiter = Literal["stack_create_complete", "stack_update_complete", "stack_delete_complete"]
# How AWS says a change set would change nothing (a FAILED change set, or a refused request).
_NO_CHANGE_MARKERS = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class StackEvent:
    """One stack event: a resource (or the stack itself) changed state."""

    stack: str
    logical_id: str
    resource_type: str
    status: str
    reason: str | None
    timestamp: datetime | None

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")


EventCallback = Callable[[StackEvent], None]
Outcome = Literal["created", "updated", "unchanged", "deleted"]


def _ignore(event: StackEvent) -> None:
    pass


def is_no_change(text: str) -> bool:
    return any(marker in text for marker in _NO_CHANGE_MARKERS)


class StackOperations:
    """Runs change sets and deletions against one CloudFormation client and waits for them."""

    def __init__(
        self,
        cloudformation: CloudFormationClient,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cloudformation = cloudformation
        self._sleep = sleep
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock

    def apply_change_set(
        self,
        stack_name: str,
        change_set_type: Literal["CREATE", "UPDATE"],
        template: str,
        parameters: Mapping[str, str],
        on_event: EventCallback = _ignore,
        use_previous: Sequence[str] = (),
    ) -> Outcome:
        """Create a change set, execute it and wait; "unchanged" when it changes nothing."""
        cfn = self.cloudformation
        params: list[ParameterTypeDef] = [
            {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
        ]
        params += [{"ParameterKey": key, "UsePreviousValue": True} for key in use_previous]
        name = f"objbackup-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        try:
            created = cfn.create_change_set(
                StackName=stack_name,
                ChangeSetName=name,
                ChangeSetType=change_set_type,
                TemplateBody=template,
                Parameters=params,
                Capabilities=CAPABILITIES,
                Description="objbackup deploy",
            )
        except ClientError as exc:
            if error_code(exc) == "ValidationError" and is_no_change(str(exc)):
                return "unchanged"
            raise
        change_set_id, stack_id = created["Id"], created["StackId"]
        try:
            cfn.get_waiter("change_set_create_complete").wait(
                ChangeSetName=change_set_id,
                StackName=stack_id,
                WaiterConfig={"Delay": max(1, round(self.poll_seconds)), "MaxAttempts": 720},
            )
        except WaiterError:
            described = cfn.describe_change_set(ChangeSetName=change_set_id, StackName=stack_id)
            reason = str(described.get("StatusReason") or described.get("Status"))
            if is_no_change(reason):
                cfn.delete_change_set(ChangeSetName=change_set_id, StackName=stack_id)
                return "unchanged"
            raise ChangeSetFailed(stack_name, reason) from None
        marker = self._newest_event_id(stack_id)
        cfn.execute_change_set(ChangeSetName=change_set_id, StackName=stack_id)
        waiter: StackWaiter = (
            "stack_create_complete" if change_set_type == "CREATE" else "stack_update_complete"
        )
        self.wait(waiter, stack_name, stack_id, marker, on_event)
        return "created" if change_set_type == "CREATE" else "updated"

    def delete_stack(
        self,
        stack_name: str,
        stack_id: str,
        on_event: EventCallback = _ignore,
        retain: Sequence[str] = (),
    ) -> Outcome:
        """Delete a stack (by id, so that its end state stays visible) and wait until it is gone."""
        marker = self._newest_event_id(stack_id)
        kwargs: dict[str, Any] = {"StackName": stack_id}
        if retain:
            kwargs["RetainResources"] = list(retain)
        self.cloudformation.delete_stack(**kwargs)
        self.wait("stack_delete_complete", stack_name, stack_id, marker, on_event)
        return "deleted"

    def wait(
        self,
        waiter_name: StackWaiter,
        stack_name: str,
        stack_id: str,
        marker: str | None,
        on_event: EventCallback = _ignore,
    ) -> None:
        """Poll the waiter once per period, streaming new events, until success or failure."""
        waiter = self.cloudformation.get_waiter(waiter_name)
        deadline = self._clock() + self.timeout_seconds
        failed_events: list[StackEvent] = []
        while True:
            failure: WaiterError | None = None
            done = False
            try:
                waiter.wait(StackName=stack_id, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
                done = True
            except WaiterError as exc:
                if exc.kwargs.get("reason") != "Max attempts exceeded":
                    failure = exc
            events, marker = self._new_events(stack_name, stack_id, marker)
            for event in events:
                on_event(event)
            failed_events += [e for e in events if e.failed]
            if done:
                return
            if failure is not None:
                raise self._failure(stack_name, failure, failed_events)
            if self._clock() > deadline:
                raise WaitTimeout(stack_name, self.timeout_seconds)
            self._sleep(self.poll_seconds)

    def _failure(
        self, stack_name: str, error: WaiterError, failed_events: list[StackEvent]
    ) -> StackOperationFailed:
        # The waiter's last answer, DescribeStacks' (the stubs type it as an error's).
        response: Mapping[str, Any] = error.last_response or {}
        stacks = response.get("Stacks") or [{}]
        status = str(stacks[0].get("StackStatus") or error.kwargs.get("reason"))
        reasons = [
            f"{e.logical_id}: {e.reason}"
            for e in failed_events
            if e.reason and "cancelled" not in e.reason.lower()
        ]
        if not reasons and stacks[0].get("StackStatusReason"):
            reasons = [str(stacks[0]["StackStatusReason"])]
        return StackOperationFailed(stack_name, status, reasons)

    def _newest_event_id(self, stack_id: str) -> str | None:
        try:
            events = self.cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
        except ClientError:
            return None
        return str(events[0]["EventId"]) if events else None

    def _new_events(
        self, stack_name: str, stack_id: str, marker: str | None
    ) -> tuple[list[StackEvent], str | None]:
        """Events newer than `marker` (oldest first), and the new marker."""
        fresh: list[StackEventTypeDef] = []
        paginator = self.cloudformation.get_paginator("describe_stack_events")
        try:
            for page in paginator.paginate(StackName=stack_id):
                for event in page.get("StackEvents", []):
                    if event["EventId"] == marker:
                        break
                    fresh.append(event)
                else:
                    continue
                break
        except ClientError:
            return [], marker
        if fresh:
            marker = str(fresh[0]["EventId"])
        return [_event(stack_name, e) for e in reversed(fresh)], marker


def _event(stack_name: str, event: Mapping[str, Any]) -> StackEvent:
    return StackEvent(
        stack=stack_name,
        logical_id=str(event.get("LogicalResourceId", "")),
        resource_type=str(event.get("ResourceType", "")),
        status=str(event.get("ResourceStatus", "")),
        reason=event.get("ResourceStatusReason"),
        timestamp=event.get("Timestamp"),
    )
