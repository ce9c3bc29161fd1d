"""`objbackup deploy`: plan, confirm, apply through change sets, print the outputs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from objbackup.cli import deploy_options, options
from objbackup.cli.context import GlobalOptions, global_options

if TYPE_CHECKING:
    from objbackup.deploy.deployer import DeployResult
    from objbackup.deploy.deployment import Deployment
    from objbackup.deploy.plan import DeployOptions, DeployPlan
    from objbackup.retention import PruneReport


def command(
    ctx: typer.Context,
    source_bucket: deploy_options.SourceBucket = None,
    retain: deploy_options.Retain = None,
    grace: deploy_options.Grace = None,
    schedule: deploy_options.Schedule = None,
    include_prefix: deploy_options.IncludePrefix = None,
    exclude_prefix: deploy_options.ExcludePrefix = None,
    all_keys: deploy_options.AllKeys = False,
    source_kms_key: deploy_options.SourceKmsKey = None,
    backup_kms_key: deploy_options.BackupKmsKey = None,
    concurrency: deploy_options.Concurrency = None,
    batch_size: deploy_options.BatchSize = None,
    batching_window: deploy_options.BatchingWindow = None,
    replicator_memory: deploy_options.ReplicatorMemory = None,
    storage_class: deploy_options.StorageClass = None,
    fresh_backups: deploy_options.FreshBackups = False,
    alarm_email: deploy_options.AlarmEmail = None,
    alarm_topic_arn: deploy_options.AlarmTopicArn = None,
    max_lag: deploy_options.MaxLag = None,
    yes: Annotated[bool, options.yes_option("Deploy without asking.")] = False,
    dry_run: Annotated[
        bool,
        options.dry_run_option(
            "Show what deploy would change (stacks, bundle, an adopted bucket's notifications); "
            "change nothing."
        ),
    ] = False,
    as_json: options.AsJson = False,
    multipart_threshold: deploy_options.MultipartThreshold = None,
) -> None:
    """Build and upload the bundle, then create or update the three stacks.

    With --json: the plan, and after a deploy what it did.
    """
    from objbackup.deploy.alarms import AlarmOptions
    from objbackup.deploy.plan import DeployOptions

    if alarm_email and alarm_topic_arn:
        raise typer.BadParameter(
            "alarms notify one target: an email (through a topic deploy creates) or an "
            "existing topic",
            param_hint="--alarm-email / --alarm-topic-arn",
        )
    include, exclude = _key_filter(include_prefix, exclude_prefix, all_keys)
    chosen = DeployOptions(
        source_bucket,
        retain,
        grace,
        schedule,
        multipart_threshold=multipart_threshold,
        include_prefixes=include,
        exclude_prefixes=exclude,
        source_kms_keys=tuple(source_kms_key) if source_kms_key else None,
        backup_kms_key=backup_kms_key,
        fresh_backups=fresh_backups,
        concurrency=concurrency,
        batch_size=batch_size,
        batching_window=batching_window,
        replicator_memory=replicator_memory,
        storage_class=storage_class,
        # The --max-lag callback has turned the duration into seconds already.
        alarms=AlarmOptions(
            alarm_email, alarm_topic_arn, None if max_lag is None else int(max_lag)
        ),
    )
    run(global_options(ctx), chosen, yes, dry_run=dry_run, as_json=as_json)


def _key_filter(
    include: list[str] | None, exclude: list[str] | None, all_keys: bool
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The filter options as DeployOptions takes them; contradictions are usage errors."""
    from objbackup.core.filters import KeyFilter

    if all_keys:
        if include or exclude:
            raise typer.BadParameter(
                "--all-keys backs up every key; leave out --include-prefix and --exclude-prefix",
                param_hint="--all-keys",
            )
        return (), ()
    if not include and not exclude:
        return None, None
    try:
        KeyFilter(tuple(include or ()), tuple(exclude or ())).check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--exclude-prefix") from None
    return tuple(include or ()), tuple(exclude or ())


def run(
    global_opts: GlobalOptions,
    deploy_options: DeployOptions,
    yes: bool,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Plan; stop at "no changes" or a dry run, else show the plan, confirm, deploy, report."""
    from objbackup.cli import prompt, render
    from objbackup.deploy.deployer import Deployer
    from objbackup.deploy.deployment import find_deployment

    connection = global_opts.connection()
    deployer = Deployer(connection)
    with render.working(f"Planning {connection.name} in {connection.region}"):
        plan = deployer.plan(deploy_options)
    render.lines([f"Warning: {w}" for w in plan.warnings], "yellow")
    if not plan.changes:
        render.message(
            f"No changes: deployment {plan.name} in {plan.region} is up to date.", "bold green"
        )
        _report(plan, None, find_deployment(connection), dry_run, as_json)
        return
    render.deploy_plan(plan)
    if dry_run:
        render.message("Dry run: nothing was deployed.", "bold")
        _report(plan, None, None, dry_run, as_json)
        return
    reattach = plan.kept is not None and plan.kept.action == "reattach"
    if reattach and not yes and not stdin_is_terminal():
        from objbackup.deploy.kept import KeptBackupsProblem

        raise KeptBackupsProblem(
            f"deploy would reattach the kept backups of {plan.name} and cannot ask here",
            "pass --yes to reattach them, or --fresh-backups to leave them alone",
        )
    question = "Deploy these changes and reattach the kept backups?" if reattach else None
    if not yes and not prompt.confirm(
        question or "Deploy these changes?",
        "deploy needs a confirmation and there is no terminal to ask",
        "pass --yes to deploy without asking (--dry-run shows the plan)",
    ):
        raise typer.Abort()
    with render.working(f"Deploying {plan.name} to {plan.region}"):
        result = deployer.deploy(plan, on_event=render.stack_event)
    if result.changed:
        summary = ", ".join(f"{role} {outcome}" for role, outcome in result.outcomes.items())
        if result.eventbridge_turned_on and plan.eventbridge is not None:
            summary += f"; EventBridge delivery of {plan.eventbridge.bucket} turned on"
        render.message(f"Deployed {plan.name} in {plan.region}: {summary}.", "bold green")
    else:
        render.message("No changes: CloudFormation found nothing to change.", "bold green")
    if result.pruned is not None:
        _pruned(result.pruned, plan.settings.retain)
    _report(plan, result, result.deployment, dry_run, as_json)


def _pruned(report: PruneReport, retain: int) -> None:
    """What the prune after a lowered `retain` did, and what it left for verify."""
    from objbackup.cli import render

    copies = render.counted(report.pruned, "copy", "copies")
    objects = render.counted(report.pruned_objects, "object")
    render.message(
        f"Pruned {copies} of {objects} beyond the newest {retain} "
        f"({render.counted(report.listed, 'copy', 'copies')} listed in the backup bucket).",
        "bold green",
    )
    if report.left:
        render.message(
            f"{render.counted(report.left, 'long key')} no longer in the source keep more than "
            f"{render.counted(retain, 'copy', 'copies')}; run `objbackup verify --repair` to find "
            "and prune them.",
            "yellow",
        )


def stdin_is_terminal() -> bool:
    """Whether someone can answer a question (a piped or closed stdin cannot)."""
    return sys.stdin.isatty()


def _report(
    plan: DeployPlan,
    result: DeployResult | None,
    deployment: Deployment | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """On stdout: the JSON document with --json, else the deployment's outputs (if any)."""
    from objbackup.cli import render
    from objbackup.deploy.deployer import deploy_json

    if as_json:
        render.print_json(deploy_json(plan, result, deployment, dry_run))
    elif deployment is not None:
        render.outputs(deployment)
