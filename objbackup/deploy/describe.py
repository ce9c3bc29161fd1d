"""Finding a deployment: its stacks' states, parameters and outputs, as one typed Deployment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.core.aws import error_code
from objbackup.core.config import DEFAULT_DISOWNED_INDEX
from objbackup.core.filters import EXCLUDE_PARAMETER, INCLUDE_PARAMETER, KeyFilter
from objbackup.deploy import stacks as k
from objbackup.deploy.connection import Connection
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
    """A deployment's stacks and what their outputs and parameters say."""

    name: str
    region: str
    stacks: Mapping[Role, StackInfo]

    def output(self, role: Role, key: str) -> str | None:
        stack = self.stacks.get(role)
        value = stack.outputs.get(key) if stack else None
        return value or None

    def parameter(self, role: Role, key: str) -> str | None:
        stack = self.stacks.get(role)
        value = stack.parameters.get(key) if stack else None
        return value if value not in (None, "") else None

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
        return self.output("storage", k.O_SOURCE_BUCKET)

    @property
    def source_bucket_created(self) -> bool:
        return self.output("storage", k.O_SOURCE_CREATED) == "true"

    @property
    def adopted_source_bucket(self) -> bool:
        """True when the source bucket was there before objbackup (teardown never touches it)."""
        return self.source_bucket is not None and not self.source_bucket_created

    @property
    def eventbridge_by_objbackup(self) -> bool:
        """True when objbackup turned on the adopted bucket's EventBridge delivery."""
        return self.output("storage", k.O_SOURCE_EVENTBRIDGE) == "true"

    @property
    def key_filter(self) -> KeyFilter:
        """The deployed key filter (every key when the replicator stack has none)."""
        return KeyFilter.from_parameters(
            self.parameter("replicator", INCLUDE_PARAMETER),
            self.parameter("replicator", EXCLUDE_PARAMETER),
        )

    @property
    def backup_bucket(self) -> str | None:
        return self.output("storage", k.O_BACKUP_BUCKET)

    @property
    def artifacts_bucket(self) -> str | None:
        return self.output("storage", k.O_ARTIFACTS_BUCKET)

    @property
    def table(self) -> str | None:
        return self.output("storage", k.O_TABLE)

    @property
    def disowned_index(self) -> str:
        return self.output("storage", k.O_DISOWNED_INDEX) or DEFAULT_DISOWNED_INDEX

    @property
    def queue_url(self) -> str | None:
        return self.output("replicator", k.O_QUEUE_URL)

    @property
    def dlq_url(self) -> str | None:
        return self.output("replicator", k.O_DLQ_URL)

    @property
    def alarm_name(self) -> str | None:
        return self.output("replicator", k.O_ALARM)

    @property
    def replicator_function(self) -> str | None:
        return self.output("replicator", k.O_FUNCTION)

    @property
    def cleaner_function(self) -> str | None:
        return self.output("cleaner", k.O_FUNCTION)

    @property
    def bundle_key(self) -> str | None:
        return self.parameter("replicator", k.P_BUNDLE_KEY) or self.parameter(
            "cleaner", k.P_BUNDLE_KEY
        )

    @property
    def retain(self) -> int | None:
        raw = self.parameter("replicator", k.P_RETAIN) or self.parameter("cleaner", k.P_RETAIN)
        return int(raw) if raw is not None else None

    @property
    def grace_seconds(self) -> float | None:
        raw = self.parameter("cleaner", k.P_GRACE) or self.parameter("replicator", k.P_GRACE)
        return float(raw) if raw is not None else None

    @property
    def schedule(self) -> str | None:
        return self.output("cleaner", k.O_SCHEDULE) or self.parameter("cleaner", k.P_SCHEDULE)


def find_deployment(connection: Connection) -> Deployment:
    """The deployment `connection` names; NotDeployed when none of its stacks exists."""
    found = read_stacks(connection.client("cloudformation"), connection.names)
    if not found:
        raise NotDeployed(connection.name, connection.region)
    return Deployment(connection.name, connection.region, found)
