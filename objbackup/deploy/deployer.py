"""Deploy: upload the bundle under its content hash, then create or update the storage stack,
then the replicator and cleaner stacks with parameters from the storage stack's outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from objbackup.bundle import Bundle, build_bundle
from objbackup.core.aws import head_or_none
from objbackup.core.config import Settings
from objbackup.core.table import CopyTable
from objbackup.deploy import stacks
from objbackup.deploy.adopt import inspect_source, plan_eventbridge, set_eventbridge
from objbackup.deploy.connection import Connection
from objbackup.deploy.deployment import Deployment, StackInfo, find_deployment, read_stacks
from objbackup.deploy.encryption import require_copy_key, source_bucket_key
from objbackup.deploy.errors import IncompleteDeployment, PruneStopped
from objbackup.deploy.kept import plan_kept
from objbackup.deploy.plan import (
    RECREATE_STATES,
    DeployOptions,
    DeployPlan,
    StackPlan,
    plan_deployment,
    plan_stack,
    resolve_settings,
    stack_parameters,
)
from objbackup.deploy.sandbox_probe import SANDBOX_CRON_WARNING, sandbox_probe
from objbackup.deploy.stackops import EventCallback, Outcome, StackEvent, StackOperations
from objbackup.deploy.stacks import ROLES, Role, template_body
from objbackup.retention import PruneReport, prune_over_retention

# In the artifacts bucket while a prune after a lowered `retain` is due (see Deployer.deploy).
PRUNE_MARKER = "pending/retain-prune"


def _ignore(event: StackEvent) -> None:
    pass


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did to each stack and to the bundle, and the deployment it left."""

    plan: DeployPlan
    outcomes: Mapping[Role, Outcome]
    bundle_uploaded: bool
    deployment: Deployment
    eventbridge_turned_on: bool = False
    # The prune after a lowered `retain` (None when the plan had none).
    pruned: PruneReport | None = None

    @property
    def changed(self) -> bool:
        """Whether anything was created, updated, uploaded, turned on or pruned."""
        return (
            self.bundle_uploaded
            or self.eventbridge_turned_on
            or bool(self.pruned and self.pruned.pruned)
            or any(o != "unchanged" for o in self.outcomes.values())
        )


def deploy_json(
    plan: DeployPlan, result: DeployResult | None, deployment: Deployment | None, dry_run: bool
) -> dict[str, Any]:
    """What `deploy --json` prints: the plan, what the deploy did (null when none ran: a dry run
    or nothing to change; `pruned` null without a prune), and the stacks' outputs (null when a dry
    run stopped before them)."""
    return plan.to_json() | {
        "dry_run": dry_run,
        "outcomes": None if result is None else dict(result.outcomes),
        "bundle_uploaded": result is not None and result.bundle_uploaded,
        "eventbridge_turned_on": result is not None and result.eventbridge_turned_on,
        "pruned": None if result is None or result.pruned is None else result.pruned.to_json(),
        "outputs": None if deployment is None else outputs_json(deployment),
    }


def outputs_json(deployment: Deployment) -> dict[str, dict[str, str]]:
    """Each stack's outputs by role, as `deploy --json` prints them."""
    return {role: dict(stack.outputs) for role, stack in deployment.stacks.items()}


class Deployer:
    """Plans and applies a deployment through change sets."""

    def __init__(
        self,
        connection: Connection,
        bundle: Bundle | None = None,
        operations: StackOperations | None = None,
        templates: Mapping[Role, str] | None = None,
    ) -> None:
        self.connection = connection
        self._bundle = bundle
        self._operations = operations
        self.templates = dict(templates) if templates else {r: template_body(r) for r in ROLES}

    @property
    def bundle(self) -> Bundle:
        """The bundle of this installation's sources (built once; its hash names it)."""
        if self._bundle is None:
            self._bundle = build_bundle()
        return self._bundle

    @property
    def operations(self) -> StackOperations:
        if self._operations is None:
            self._operations = StackOperations(self.connection.client("cloudformation"))
        return self._operations

    def plan(self, options: DeployOptions) -> DeployPlan:
        """Read the deployed stacks and decide what a deploy with `options` would change."""
        cfn = self.connection.client("cloudformation")
        with sandbox_probe(cfn) as sandbox:
            current = read_stacks(cfn, self.connection.names)
        settings = resolve_settings(options, current)
        source = eventbridge = None
        if settings.source_bucket:
            s3 = self.connection.client("s3")
            source = inspect_source(s3, settings.source_bucket, self.connection.region)
            eventbridge = plan_eventbridge(s3, settings.source_bucket)
            if eventbridge.action == "turn on":
                settings = replace(settings, eventbridge_by_objbackup=True)
            bucket_key = source_bucket_key(s3, self.connection.client("kms"), source.bucket)
            settings = replace(settings, encryption=settings.encryption.with_source_key(bucket_key))
        require_copy_key(settings.encryption)
        storage = current.get("storage")
        kept_report = None
        kept_warnings: tuple[str, ...] = ()
        if storage is None or storage.status in RECREATE_STATES:
            # A first deploy (again): kept backups of this name are reattached unless fresh.
            kept_report, attachment, kept_warnings = plan_kept(
                self.connection, options.fresh_backups
            )
            settings = replace(settings, kept=attachment)
        artifacts = storage.outputs.get(stacks.O_ARTIFACTS_BUCKET) if storage else None
        present = artifacts is not None and self._present(artifacts, self.bundle.key)
        unfinished = artifacts is not None and self._present(artifacts, PRUNE_MARKER)
        plan = plan_deployment(
            self.connection.names,
            self.connection.region,
            settings,
            current,
            self._deployed_templates(current),
            self.templates,
            self.bundle.key,
            present,
            source=source,
            eventbridge=eventbridge,
            prune_unfinished=unfinished,
        )
        if sandbox and settings.schedule.strip().startswith("cron("):
            kept_warnings += (SANDBOX_CRON_WARNING,)
        return replace(plan, kept=kept_report, warnings=plan.warnings + kept_warnings)

    def deploy(self, plan: DeployPlan, on_event: EventCallback = _ignore) -> DeployResult:
        """Apply `plan`: storage first, then the bundle, then the function stacks."""
        cfn = self.connection.client("cloudformation")
        current = read_stacks(cfn, self.connection.names)
        outcomes: dict[Role, Outcome] = {}
        # The storage stack records that objbackup turns delivery on before it does, so that a
        # teardown after a failed deploy still knows to turn it off.
        outcomes["storage"] = self._apply(plan.stack("storage"), current.get("storage"), on_event)
        turned_on = False
        if plan.eventbridge is not None and plan.eventbridge.action == "turn on":
            turned_on = set_eventbridge(self.connection.client("s3"), plan.eventbridge.bucket, True)
        storage = read_stacks(cfn, self.connection.names).get("storage")
        outputs = storage.outputs if storage else {}
        missing = [key for key in stacks.NEEDED_STORAGE_OUTPUTS if key not in outputs]
        if missing:
            raise IncompleteDeployment(
                self.connection.name,
                self.connection.region,
                f"the storage stack has no output {', '.join(missing)}",
            )
        artifacts = outputs[stacks.O_ARTIFACTS_BUCKET]
        uploaded = self._upload_bundle(artifacts, plan.bundle_key)
        s3 = self.connection.client("s3")
        if plan.prune is not None:
            # Once the replicator's retain is lowered, the plan can no longer see that a prune is
            # due: this marker says so until the prune has finished, so that a rerun does it.
            s3.put_object(Bucket=artifacts, Key=PRUNE_MARKER, Body=str(plan.settings.retain))
        for role in ROLES[1:]:
            existing = current.get(role)
            step = plan_stack(
                role,
                self.connection.names.of(role),
                self.templates[role],
                stack_parameters(role, plan.settings, outputs, plan.bundle_key),
                existing,
                self._deployed_templates({role: existing} if existing else {}).get(role),
            )
            outcomes[role] = self._apply(step, existing, on_event)
        pruned = None
        if plan.prune is not None:
            try:
                pruned = self._prune(outputs, plan.settings.retain, plan.prune.unfinished)
            except Exception as exc:  # the marker stays: the next deploy resumes the prune
                raise PruneStopped(plan.settings.retain, exc) from exc
            s3.delete_object(Bucket=artifacts, Key=PRUNE_MARKER)
        deployment = find_deployment(self.connection)
        return DeployResult(plan, outcomes, uploaded, deployment, turned_on, pruned)

    def _prune(self, outputs: Mapping[str, str], retain: int, resume: bool) -> PruneReport:
        """Every object back to `retain` copies, now that the replicator keeps no more."""
        settings = Settings(
            source_bucket=outputs[stacks.O_SOURCE_BUCKET],
            backup_bucket=outputs[stacks.O_BACKUP_BUCKET],
            table=outputs[stacks.O_TABLE],
            retain=retain,
        )
        table = CopyTable(self.connection.client("dynamodb"), settings.table)
        return prune_over_retention(settings, self.connection.client("s3"), table, resume)

    def _apply(
        self, step: StackPlan, existing: StackInfo | None, on_event: EventCallback
    ) -> Outcome:
        if step.action == "none":
            return "unchanged"
        assert step.parameters is not None, "the function stacks are planned again in deploy()"
        if step.recreate_from is not None and existing is not None:
            self.operations.delete_stack(step.stack_name, existing.stack_id, on_event)
        return self.operations.apply_change_set(
            step.stack_name,
            "CREATE" if step.action == "create" else "UPDATE",
            step.template,
            step.parameters,
            on_event,
        )

    def _deployed_templates(self, current: Mapping[Role, StackInfo]) -> dict[Role, str]:
        cfn = self.connection.client("cloudformation")
        found: dict[Role, str] = {}
        for role, info in current.items():
            if info.status in RECREATE_STATES:
                continue
            body: Any = cfn.get_template(StackName=info.stack_id, TemplateStage="Original")[
                "TemplateBody"
            ]
            # boto3 parses JSON bodies into dicts; ours are YAML, so a dict is a foreign template.
            found[role] = body if isinstance(body, str) else ""
        return found

    def _present(self, bucket: str, key: str) -> bool:
        return head_or_none(self.connection.client("s3"), bucket, key) is not None

    def _upload_bundle(self, bucket: str, key: str) -> bool:
        """Upload the bundle unless an object already has its key (its name is its hash)."""
        if self._present(bucket, key):
            return False
        bundle = self.bundle
        if bundle.key != key:
            raise ValueError(f"the plan wants bundle {key}, this deployer has {bundle.key}")
        self.connection.client("s3").put_object(
            Bucket=bucket,
            Key=key,
            Body=bundle.data,
            ContentType="application/zip",
            Metadata={"sha256": bundle.sha256},
        )
        return True
