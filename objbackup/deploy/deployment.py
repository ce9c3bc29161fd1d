"""A deployment: its stacks' states, parameters and outputs, found and read as one Deployment.

Its settings are read from the stacks' parameters by `objbackup.deploy.deployed_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.config import (
    DEFAULT_DISOWNED_INDEX,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_RETAIN,
    Settings,
)
from objbackup.deploy import stacks as stack_keys
from objbackup.deploy.connection import Connection
from objbackup.deploy.deployed_settings import DeployedSettings
from objbackup.deploy.errors import IncompleteDeployment, NotDeployed
from objbackup.deploy.stacks import ROLES, Role, StackNames

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient

# States in which a stack's resources and outputs are all there.
STABLE_STATES = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)


@dataclass(frozen=True)
class StackInfo:
    """One existing stack as CloudFormation describes it."""

    role: Role
    name: str
    stack_id: str
    status: str
    status_reason: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        return self.status in STABLE_STATES

    @property
    def busy(self) -> bool:
        return self.status.endswith("_IN_PROGRESS") and self.status != "REVIEW_IN_PROGRESS"

    @classmethod
    def from_description(cls, role: Role, stack: Mapping[str, Any]) -> StackInfo:
        return cls(
            role=role,
            name=str(stack["StackName"]),
            stack_id=str(stack["StackId"]),
            status=str(stack["StackStatus"]),
            status_reason=stack.get("StackStatusReason"),
            parameters={
                str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
                for p in stack.get("Parameters") or []
            },
            outputs={
                str(o["OutputKey"]): str(o.get("OutputValue", ""))
                for o in stack.get("Outputs") or []
            },
        )


def read_stack(
    cloudformation: CloudFormationClient, role: Role, stack_name: str
) -> StackInfo | None:
    """The stack named `stack_name`, or None when there is none (deleted stacks included)."""
    try:
        found = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    live = [s for s in found if s.get("StackStatus") != "DELETE_COMPLETE"]
    return StackInfo.from_description(role, live[0]) if live else None


def read_stacks(cloudformation: CloudFormationClient, names: StackNames) -> dict[Role, StackInfo]:
    """The deployment's existing stacks, by role."""
    found: dict[Role, StackInfo] = {}
    for role in ROLES:
        info = read_stack(cloudformation, role, names.of(role))
        if info is not None:
            found[role] = info
    return found


@dataclass(frozen=True)
class Deployment:
    """A deployment's stacks, what their outputs say, and (`settings`) their parameters."""

    name: str
    region: str
    stacks: Mapping[Role, StackInfo]

    def output(self, role: Role, key: str) -> str | None:
        stack = self.stacks.get(role)
        value = stack.outputs.get(key) if stack else None
        return value or None

    def require(self, role: Role, key: str) -> str:
        """An output the command cannot do without; IncompleteDeployment when it is missing."""
        value = self.output(role, key)
        if value is None:
            stack = self.stacks.get(role)
            where = (
                f"stack {stack.name} is {stack.status} and has no output {key}"
                if stack
                else f"stack {self.name}-{role} does not exist"
            )
            raise IncompleteDeployment(self.name, self.region, where)
        return value

    @property
    def source_bucket(self) -> str | None:
        return self.settings.source_bucket

    @property
    def source_bucket_created(self) -> bool:
        return self.output("storage", stack_keys.O_SOURCE_CREATED) == "true"

    @property
    def adopted_source_bucket(self) -> bool:
        """True when the source bucket was there before objbackup (teardown never touches it)."""
        return self.source_bucket is not None and not self.source_bucket_created

    @property
    def eventbridge_by_objbackup(self) -> bool:
        """True when objbackup turned on the adopted bucket's EventBridge delivery."""
        return self.output("storage", stack_keys.O_SOURCE_EVENTBRIDGE) == "true"

    @property
    def backup_bucket(self) -> str | None:
        return self.output("storage", stack_keys.O_BACKUP_BUCKET)

    @property
    def artifacts_bucket(self) -> str | None:
        return self.output("storage", stack_keys.O_ARTIFACTS_BUCKET)

    @property
    def table(self) -> str | None:
        return self.output("storage", stack_keys.O_TABLE)

    @property
    def disowned_index(self) -> str:
        return self.output("storage", stack_keys.O_DISOWNED_INDEX) or DEFAULT_DISOWNED_INDEX

    @property
    def queue_url(self) -> str | None:
        return self.output("replicator", stack_keys.O_QUEUE_URL)

    @property
    def dlq_url(self) -> str | None:
        return self.output("replicator", stack_keys.O_DLQ_URL)

    @property
    def alarm_name(self) -> str | None:
        return self.output("replicator", stack_keys.O_ALARM)

    @property
    def replicator_function(self) -> str | None:
        return self.output("replicator", stack_keys.O_FUNCTION)

    @property
    def cleaner_function(self) -> str | None:
        return self.output("cleaner", stack_keys.O_FUNCTION)

    @cached_property
    def settings(self) -> DeployedSettings:
        """The settings the stacks' parameters hold (None where no stack says)."""
        return DeployedSettings.from_stacks(self.stacks)

    def function_settings(self) -> Settings:
        """The settings the deployed functions run with, for the data commands (restore,
        undelete, verify, backfill): IncompleteDeployment when the storage stack lacks one."""
        threshold = self.settings.multipart_threshold
        return Settings(
            source_bucket=self.require("storage", stack_keys.O_SOURCE_BUCKET),
            backup_bucket=self.require("storage", stack_keys.O_BACKUP_BUCKET),
            table=self.require("storage", stack_keys.O_TABLE),
            disowned_index=self.disowned_index,
            retain=self.settings.retain or DEFAULT_RETAIN,
            # Restores copy back the way the replicator copies: the deployed threshold, if any.
            multipart_threshold=DEFAULT_MULTIPART_THRESHOLD if threshold is None else threshold,
        )


def find_deployment(connection: Connection) -> Deployment:
    """The deployment `connection` names; NotDeployed when none of its stacks exists."""
    found = read_stacks(connection.client("cloudformation"), connection.names)
    if not found:
        raise NotDeployed(connection.name, connection.region)
    return Deployment(connection.name, connection.region, found)
