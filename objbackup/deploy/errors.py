"""Typed failures of deployment operations; each carries a one-line hint the CLI shows."""

from __future__ import annotations

from collections.abc import Sequence

from objbackup.core.errors import ObjbackupError


class DeployError(ObjbackupError):
    """An operational failure of deploy, status, list, clean or teardown, with a hint."""

    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class AwsSetupError(DeployError):
    """Credentials, region, profile or endpoint are missing or wrong: nothing was called yet."""


class NotDeployed(DeployError):
    """No stack of the deployment exists in the region."""

    def __init__(self, name: str, region: str) -> None:
        super().__init__(
            f"no objbackup deployment named {name} in region {region}",
            "run `objbackup deploy` to create it, or check --name and --region",
        )
        self.name = name
        self.region = region


class IncompleteDeployment(DeployError):
    """A stack the command needs is missing or has no outputs (a failed or partial deploy)."""

    def __init__(self, name: str, region: str, problem: str) -> None:
        super().__init__(
            f"objbackup deployment {name} in region {region} is incomplete: {problem}",
            "run `objbackup deploy` to complete it, or `objbackup teardown` to remove it",
        )


class StackBusy(DeployError):
    """A stack is in the middle of another operation."""

    def __init__(self, stack: str, status: str) -> None:
        super().__init__(
            f"stack {stack} is busy ({status})",
            "wait for the running operation to finish, then run the command again",
        )


class StackNeedsAttention(DeployError):
    """A stack is in a failed state that CloudFormation cannot leave on its own."""

    def __init__(self, stack: str, status: str, hint: str) -> None:
        super().__init__(f"stack {stack} is {status}", hint)


class StackOperationFailed(DeployError):
    """A create, update or delete ended in a failure or rollback state."""

    def __init__(self, stack: str, status: str, reasons: Sequence[str]) -> None:
        detail = f": {reasons[0]}" if reasons else ""
        more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
        super().__init__(
            f"stack {stack} ended {status}{detail}{more}",
            "see the stack's events in the CloudFormation console; fix the cause and run again",
        )
        self.stack = stack
        self.status = status
        self.reasons = list(reasons)


class ChangeSetFailed(DeployError):
    """CloudFormation refused to create a change set."""

    def __init__(self, stack: str, reason: str) -> None:
        super().__init__(
            f"change set for stack {stack} failed: {reason}",
            "fix the cause shown above, then run `objbackup deploy` again",
        )


class WaitTimeout(DeployError):
    """A stack operation did not finish within the deadline."""

    def __init__(self, stack: str, seconds: float) -> None:
        super().__init__(
            f"stack {stack} did not finish within {seconds:g} s",
            "it may still be running: watch it with `objbackup status`",
        )


class InvalidSetting(DeployError):
    """A deploy option is out of range (the CLI rejects these while parsing, too)."""

    hint = "see `objbackup deploy --help` for what each option accepts"


class SourceBucketProblem(DeployError):
    """The source bucket cannot be used: it is one of objbackup's own buckets, or unreachable."""


class FunctionFailed(DeployError):
    """A deployed function answered with an error (Lambda's FunctionError)."""

    def __init__(self, function: str, error_type: str, message: str) -> None:
        super().__init__(
            f"function {function} failed: {error_type}: {message}",
            f"see its log lines: `objbackup logs --since 15m` (CloudWatch Logs "
            f"/aws/lambda/{function})",
        )
        self.function = function
        self.error_type = error_type


class BadReport(DeployError):
    """A deployed function answered with something that is not the expected report."""


class TeardownRefused(DeployError):
    """Teardown stopped before deleting anything, because it could not keep a promise."""


class EmptyBucketFailed(DeployError):
    """Some object versions could not be deleted while emptying a bucket."""


class PruneStopped(DeployError):
    """The stacks were updated but the prune after a lowered `retain` did not finish."""

    def __init__(self, retain: int, cause: BaseException) -> None:
        super().__init__(
            f"the stacks are updated, but the prune to retain {retain} stopped: "
            f"{type(cause).__name__}: {cause}",
            "run `objbackup deploy` again to finish the prune (or `objbackup verify --repair`)",
        )
