"""Stack operations, template policy edits, the cleaner report, and the templates' contract."""

from __future__ import annotations

import difflib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import WaiterError
from cfnlint.decode import decode_str

from objbackup.core.filters import KeyFilter
from objbackup.deploy import alarms, stacks
from objbackup.deploy import kept as kept_backups
from objbackup.deploy.errors import (
    BadReport,
    ChangeSetFailed,
    FunctionFailed,
    StackOperationFailed,
    WaitTimeout,
)
from objbackup.deploy.invoke import CleanerReport, invoke_cleaner, parse_report
from objbackup.deploy.policies import TemplateEditError, deletion_policy, with_policy
from objbackup.deploy.stackops import StackEvent, StackOperations
from objbackup.deploy.stacks import ROLES, template_body

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient
    from types_boto3_lambda import LambdaClient

# --- a CloudFormation client that plays a scripted stack operation -----------------------------


def event(number: int, status: str, logical_id: str = "Stack", reason: str | None = None) -> Any:
    return {
        "EventId": f"e{number}",
        "LogicalResourceId": logical_id,
        "ResourceType": "AWS::S3::Bucket",
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
        "Timestamp": datetime(2026, 11, 25, 12, 0, number, tzinfo=UTC),
    }


class ScriptedWaiter:
    def __init__(self, outcomes: Iterator[str | None]) -> None:
        self.outcomes = outcomes

    def wait(self, **kwargs: Any) -> None:
        outcome = next(self.outcomes)
        if outcome is not None:
            raise WaiterError(
                name="stack_update_complete",
                reason=outcome,
                # DescribeStacks' answer, as a waiter keeps it (the stubs type an error's)
                last_response=cast(Any, {"Stacks": [{"StackStatus": "UPDATE_ROLLBACK_COMPLETE"}]}),
            )


class ScriptedCloudFormation:
    """Each waiter attempt reveals the next batch of events (newest first, as AWS lists them)."""

    def __init__(self, outcomes: list[str | None], batches: list[list[Any]]) -> None:
        self.outcomes = iter(outcomes)
        self.batches = batches
        self.shown: list[Any] = [event(0, "UPDATE_COMPLETE")]
        self.calls: list[str] = []

    def get_waiter(self, name: str) -> ScriptedWaiter:
        def reveal() -> Iterator[str | None]:
            for outcome in self.outcomes:
                if self.batches:
                    self.shown = list(reversed(self.batches.pop(0))) + self.shown
                yield outcome

        return ScriptedWaiter(reveal())

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": self.shown}

    def get_paginator(self, name: str) -> Any:
        owner = self

        class Pages:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [{"StackEvents": owner.shown}]

        return Pages()


def _cfn(fake: object) -> CloudFormationClient:
    """A fake with just the calls under test, where a client is taken."""
    return cast("CloudFormationClient", fake)


def _lambda(fake: StubLambda) -> LambdaClient:
    return cast("LambdaClient", fake)


def operations(
    cfn: object, clock: list[float] | None = None
) -> tuple[StackOperations, list[float]]:
    sleeps: list[float] = []
    ticks = iter(clock or [0.0] * 100)
    ops = StackOperations(_cfn(cfn), sleep=sleeps.append, poll_seconds=5, timeout_seconds=60)
    ops._clock = lambda: next(ticks)
    return ops, sleeps


def test_wait_streams_each_new_event_once_in_order() -> None:
    cfn = ScriptedCloudFormation(
        ["Max attempts exceeded", "Max attempts exceeded", None],
        [
            [event(1, "UPDATE_IN_PROGRESS")],
            [event(2, "UPDATE_IN_PROGRESS", "Bucket"), event(3, "UPDATE_COMPLETE", "Bucket")],
            [event(4, "UPDATE_COMPLETE")],
        ],
    )
    seen: list[StackEvent] = []
    ops, sleeps = operations(cfn)
    ops.wait("stack_update_complete", "ob-storage", "id", "e0", seen.append)
    assert [(e.logical_id, e.status) for e in seen] == [
        ("Stack", "UPDATE_IN_PROGRESS"),
        ("Bucket", "UPDATE_IN_PROGRESS"),
        ("Bucket", "UPDATE_COMPLETE"),
        ("Stack", "UPDATE_COMPLETE"),
    ]
    assert all(e.stack == "ob-storage" for e in seen)
    assert sleeps == [5, 5]  # the test's own sleep: no real waiting


def test_wait_failure_names_the_failed_resources() -> None:
    cfn = ScriptedCloudFormation(
        ["Max attempts exceeded", "Waiter encountered a terminal failure state"],
        [
            [event(1, "UPDATE_FAILED", "Bucket", "Access Denied")],
            [event(2, "UPDATE_FAILED", "Table", "Resource update cancelled")],
        ],
    )
    ops, _ = operations(cfn)
    with pytest.raises(StackOperationFailed) as failure:
        ops.wait("stack_update_complete", "ob-storage", "id", "e0")
    assert failure.value.status == "UPDATE_ROLLBACK_COMPLETE"
    assert failure.value.reasons == ["Bucket: Access Denied"]
    assert (
        str(failure.value)
        == "stack ob-storage ended UPDATE_ROLLBACK_COMPLETE: Bucket: Access Denied"
    )


def test_wait_gives_up_at_the_deadline() -> None:
    cfn = ScriptedCloudFormation(["Max attempts exceeded"] * 3, [])
    ops, sleeps = operations(cfn, clock=[0.0, 30.0, 61.0])
    with pytest.raises(WaitTimeout, match="did not finish within 60 s"):
        ops.wait("stack_update_complete", "ob-storage", "id", "e0")
    assert sleeps == [5]


class FailingChangeSets:
    """A CloudFormation client whose change sets end FAILED with a given reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.deleted: list[str] = []

    def create_change_set(self, **kwargs: Any) -> dict[str, str]:
        return {"Id": "cs-1", "StackId": "stack-1"}

    def get_waiter(self, name: str) -> Any:
        class Waiter:
            def wait(self, **kwargs: Any) -> None:
                raise WaiterError(name=name, reason="terminal failure", last_response={})

        return Waiter()

    def describe_change_set(self, **kwargs: Any) -> dict[str, str]:
        return {"Status": "FAILED", "StatusReason": self.reason}

    def delete_change_set(self, ChangeSetName: str, StackName: str) -> None:
        self.deleted.append(ChangeSetName)


def test_a_change_set_without_changes_is_no_change_not_an_error() -> None:
    cfn = FailingChangeSets(
        "The submitted information didn't contain changes. Submit different information to "
        "create a change set."
    )
    outcome = StackOperations(_cfn(cfn)).apply_change_set("ob-storage", "UPDATE", "T", {})
    assert outcome == "unchanged"
    assert cfn.deleted == ["cs-1"]


def test_any_other_failed_change_set_is_an_error() -> None:
    cfn = FailingChangeSets("Template format error: unsupported structure.")
    with pytest.raises(ChangeSetFailed, match="Template format error"):
        StackOperations(_cfn(cfn)).apply_change_set("ob-storage", "UPDATE", "T", {})
    assert cfn.deleted == []


def test_moto_answers_an_equivalent_template_with_a_failed_change_set(moto_aws: None) -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    ops = StackOperations(cfn)
    assert ops.apply_change_set("t", "CREATE", template, {}) == "created"
    assert ops.apply_change_set("t", "UPDATE", template, {}) == "unchanged"  # refused at once
    same_meaning = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}, indent=2)
    assert ops.apply_change_set("t", "UPDATE", same_meaning, {}) == "unchanged"  # FAILED set


# --- DeletionPolicy edits -------------------------------------------------------------------


def test_retain_edit_changes_only_the_policies_of_the_named_resources() -> None:
    kept = stacks.KEPT_BY_KEEP_BACKUPS
    # the shipped template retains them already (except on a failed create); start from one
    # that does not
    original = with_policy(template_body("storage"), kept, "Delete")
    shipped = {i: deletion_policy(template_body("storage"), i) for i in kept}
    assert shipped == dict.fromkeys(kept, "RetainExceptOnCreate")
    edited = with_policy(original, kept)
    assert {i: deletion_policy(edited, i) for i in kept} == dict.fromkeys(kept, "Retain")
    for other in (stacks.SOURCE_BUCKET_ID, stacks.ARTIFACTS_BUCKET_ID):
        assert deletion_policy(edited, other) == deletion_policy(original, other) == "Delete"
    diff = difflib.ndiff(original.splitlines(), edited.splitlines())
    changed = [line for line in diff if line[:2] in ("+ ", "- ")]
    assert changed and all("Policy: " in line for line in changed)
    parsed, errors = decode_str(edited)
    assert not errors
    resources = parsed["Resources"]
    for logical_id in kept:
        assert resources[logical_id]["DeletionPolicy"] == "Retain"
        assert resources[logical_id]["UpdateReplacePolicy"] == "Retain"
    assert with_policy(edited, kept) == edited  # idempotent
    original_parsed, _ = decode_str(original)
    for logical_id, resource in original_parsed["Resources"].items():
        if logical_id not in kept:
            assert resources[logical_id] == resource


def test_retain_edit_refuses_a_template_it_does_not_understand() -> None:
    with pytest.raises(TemplateEditError, match="NoSuchThing"):
        with_policy(template_body("storage"), ["NoSuchThing"])


# --- the cleaner's report -------------------------------------------------------------------

REPORT = {"dry_run": False, "deleted": 2, "failed": 0, "copies": ["a", "b"], "cutoff": "c"}


def test_parse_report() -> None:
    report = parse_report("fn", {**REPORT, "errors": [], "duration_ms": 3})
    assert report == CleanerReport(False, 2, 0, ["a", "b"], "c", [], 3.0)
    assert report.to_json()["copies"] == ["a", "b"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        {**REPORT, "deleted": "2"},
        {**REPORT, "deleted": True},
        {**REPORT, "copies": [1]},
        {k: v for k, v in REPORT.items() if k != "dry_run"},
    ],
)
def test_parse_report_rejects_what_is_not_a_report(payload: Any) -> None:
    with pytest.raises(BadReport):
        parse_report("fn", payload)


class StubLambda:
    def __init__(self, payload: bytes, function_error: str | None = None) -> None:
        self.payload = payload
        self.function_error = function_error
        self.requests: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(self.payload)}
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


def test_invoke_cleaner_sends_dry_run_and_reads_the_report() -> None:
    stub = StubLambda(json.dumps({**REPORT, "dry_run": True}).encode())
    assert invoke_cleaner(_lambda(stub), "fn", dry_run=True).dry_run is True
    assert stub.requests == [
        {"FunctionName": "fn", "InvocationType": "RequestResponse", "Payload": b'{"dry_run": true}'}
    ]


def test_invoke_cleaner_function_error() -> None:
    body = {"errorType": "KeyError", "errorMessage": "'OBJBACKUP_TABLE'"}
    stub = StubLambda(json.dumps(body).encode(), "Unhandled")
    with pytest.raises(FunctionFailed, match="function fn failed: KeyError: 'OBJBACKUP_TABLE'"):
        invoke_cleaner(_lambda(stub), "fn")
    with pytest.raises(BadReport, match="non-JSON"):
        invoke_cleaner(_lambda(StubLambda(b"<html>", None)), "fn")


# --- the templates' contract ------------------------------------------------------------------


def test_parameter_and_output_names_match_the_templates() -> None:
    parsed = {role: decode_str(template_body(role))[0] for role in ROLES}
    storage, replicator, cleaner = parsed["storage"], parsed["replicator"], parsed["cleaner"]
    assert set(storage["Parameters"]) == {
        stacks.P_SOURCE_BUCKET,
        stacks.P_SOURCE_EVENTBRIDGE,
        kept_backups.P_KEPT_BACKUP_BUCKET,
        kept_backups.P_KEPT_TABLE,
        alarms.P_ALARM_EMAIL,
    }
    for output in (
        stacks.O_SOURCE_BUCKET,
        stacks.O_SOURCE_CREATED,
        stacks.O_SOURCE_EVENTBRIDGE,
        stacks.O_BACKUP_BUCKET,
        stacks.O_ARTIFACTS_BUCKET,
        stacks.O_TABLE,
        stacks.O_TABLE_ARN,
        stacks.O_DISOWNED_INDEX,
    ):
        assert output in storage["Outputs"]
    function_parameters = {
        stacks.P_SOURCE_BUCKET,
        stacks.P_BACKUP_BUCKET,
        stacks.P_ARTIFACTS_BUCKET,
        stacks.P_BUNDLE_KEY,
        stacks.P_TABLE,
        stacks.P_RETAIN,
        stacks.P_GRACE,
    }
    assert function_parameters <= set(replicator["Parameters"])
    assert set(KeyFilter().stack_parameters()) <= set(replicator["Parameters"])
    assert function_parameters | {stacks.P_SCHEDULE} <= set(cleaner["Parameters"])
    for output in (
        stacks.O_QUEUE_URL,
        stacks.O_DLQ_URL,
        stacks.O_ALARM,
        stacks.O_RULE,
        stacks.O_FUNCTION,
    ):
        assert output in replicator["Outputs"]
    for output in (stacks.O_FUNCTION, stacks.O_SCHEDULE, stacks.O_RULE):
        assert output in cleaner["Outputs"]
    for logical_id in (
        *stacks.KEPT_BY_KEEP_BACKUPS,
        stacks.SOURCE_BUCKET_ID,
        stacks.ARTIFACTS_BUCKET_ID,
    ):
        assert logical_id in storage["Resources"]
    # Parameters without a default must be passed by deploy.
    for role, template in parsed.items():
        required = {n for n, p in template["Parameters"].items() if "Default" not in p}
        passed = {stacks.P_SOURCE_BUCKET} if role == "storage" else function_parameters
        assert required <= passed, role
