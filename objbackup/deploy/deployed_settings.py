"""The one reader of a deployment's settings from its stacks (their parameters, and the source
bucket the storage stack's output names).

`status` (through `Deployment.settings`), the deploy plan (what an option left out keeps, and
whether `retain` went down) and the data commands (`Deployment.function_settings`) all read the
deployed settings here: which stack parameter holds each one, and which stack's copy wins, are
written once (tests/unit/test_deployed_settings.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from objbackup.core.filters import EXCLUDE_PARAMETER, INCLUDE_PARAMETER, KeyFilter
from objbackup.deploy import stacks as stack_keys
from objbackup.deploy.encryption import P_BACKUP_KMS_KEY

if TYPE_CHECKING:
    from objbackup.deploy.deployment import StackInfo
    from objbackup.deploy.stacks import Role


@dataclass(frozen=True)
class DeployedSettings:
    """What the deployed stacks' parameters say; None (or nothing) where no stack says it.

    Defaults are the caller's: `status` shows None, a deploy keeps the option or the default.
    """

    retain: int | None = None
    grace_seconds: float | None = None
    # The cleaner's parameter (`status` prefers the cleaner's output, which echoes it).
    schedule: str | None = None
    # None: the replicator template's default (1 GiB) is in force.
    multipart_threshold: int | None = None
    # A replicator stack made before the filter existed has none: it backs up every key.
    key_filter: KeyFilter = field(default_factory=KeyFilter)
    # None: no replicator parameter (its template's default, STANDARD, if there is a replicator).
    storage_class: str | None = None
    backup_kms_key: str | None = None
    bundle_key: str | None = None
    # The bucket backed up (the storage stack's output: made by objbackup or adopted).
    source_bucket: str | None = None
    # The storage stack's source bucket parameter: the adopted bucket, "" when objbackup made it.
    source_bucket_parameter: str = ""
    # The storage stack's parameter (the deployer sets it when it turns delivery on).
    eventbridge_by_objbackup: bool = False
    # The parameters the readers of scale, encryption and alarms take (each in its own module).
    storage_parameters: Mapping[str, str] | None = None
    replicator_parameters: Mapping[str, str] | None = None

    @classmethod
    def from_stacks(cls, stacks: Mapping[Role, StackInfo]) -> DeployedSettings:
        """Read `stacks` (by role, any of them missing). A parameter set to "" counts as unset;
        `retain` and `grace` are in both function stacks, and either one's copy will do."""

        def parameter(role: Role, key: str) -> str | None:
            stack = stacks.get(role)
            return (stack.parameters.get(key) or None) if stack else None

        retain = parameter("replicator", stack_keys.P_RETAIN) or parameter(
            "cleaner", stack_keys.P_RETAIN
        )
        grace = parameter("cleaner", stack_keys.P_GRACE) or parameter(
            "replicator", stack_keys.P_GRACE
        )
        threshold = parameter("replicator", stack_keys.P_MULTIPART_THRESHOLD)
        storage = stacks.get("storage")
        replicator = stacks.get("replicator")
        return cls(
            retain=int(retain) if retain is not None else None,
            grace_seconds=float(grace) if grace is not None else None,
            schedule=parameter("cleaner", stack_keys.P_SCHEDULE),
            multipart_threshold=int(threshold) if threshold is not None else None,
            key_filter=KeyFilter.from_parameters(
                parameter("replicator", INCLUDE_PARAMETER),
                parameter("replicator", EXCLUDE_PARAMETER),
            ),
            storage_class=parameter("replicator", stack_keys.P_STORAGE_CLASS),
            backup_kms_key=parameter("replicator", P_BACKUP_KMS_KEY),
            bundle_key=parameter("replicator", stack_keys.P_BUNDLE_KEY)
            or parameter("cleaner", stack_keys.P_BUNDLE_KEY),
            source_bucket=(storage.outputs.get(stack_keys.O_SOURCE_BUCKET) or None)
            if storage
            else None,
            source_bucket_parameter=parameter("storage", stack_keys.P_SOURCE_BUCKET) or "",
            eventbridge_by_objbackup=parameter("storage", stack_keys.P_SOURCE_EVENTBRIDGE)
            == "true",
            storage_parameters=storage.parameters if storage else None,
            replicator_parameters=replicator.parameters if replicator else None,
        )
