"""`objbackup deploy`: plan, confirm, apply through change sets, print the outputs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from objbackup.cli import options
from objbackup.cli.context import GlobalOptions, global_options
from objbackup.core.config import MAX_GRACE_SECONDS, MAX_RETAIN, MIN_GRACE_SECONDS, MIN_RETAIN
from objbackup.deploy.scale import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCHING_WINDOW,
    DEFAULT_CONCURRENCY,
    DEFAULT_MEMORY,
    MAX_CONCURRENCY,
    MIN_CONCURRENCY,
)

if TYPE_CHECKING:
    from objbackup.deploy.deployer import DeployResult
    from objbackup.deploy.deployment import Deployment
    from objbackup.deploy.plan import DeployOptions, DeployPlan
    from objbackup.retention import PruneReport


def command(
    ctx: typer.Context,
    source_bucket: Annotated[
        str | None,
        typer.Option(
            "--source-bucket",
            metavar="BUCKET",
            callback=options.bucket,
            help="Back up this existing bucket instead of creating one (kept on later deploys).",
        ),
    ] = None,
    retain: Annotated[
        int | None,
        typer.Option(
            callback=options.retain,
            help=f"Copies kept per object, {MIN_RETAIN} to {MAX_RETAIN} (default: 3, or the "
            "deployed value). Lowered, deploy prunes the copies beyond the new count.",
        ),
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(
            callback=options.grace,
            metavar="SECONDS",
            help=f"Seconds a deleted object's copies are kept, {MIN_GRACE_SECONDS} to "
            f"{MAX_GRACE_SECONDS} (365 days; default: 10, or the deployed value).",
        ),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            callback=options.schedule,
            metavar="EXPRESSION",
            help="Cleaner schedule, rate(...) or cron(...) "
            "(default: rate(1 minute), or the deployed value).",
        ),
    ] = None,
    include_prefix: Annotated[
        list[str] | None,
        typer.Option(
            "--include-prefix",
            metavar="PREFIX",
            callback=options.prefixes,
            help="Back up only keys starting with PREFIX (repeatable; the given prefixes replace "
            "the deployed filter; default: the deployed filter, or every key).",
        ),
    ] = None,
    exclude_prefix: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-prefix",
            metavar="PREFIX",
            callback=options.prefixes,
            help="Never back up keys starting with PREFIX (repeatable).",
        ),
    ] = None,
    all_keys: Annotated[
        bool,
        typer.Option("--all-keys", help="Drop the deployed prefix filter: back up every key."),
    ] = False,
    source_kms_key: Annotated[
        list[str] | None,
        typer.Option(
            "--source-kms-key",
            metavar="ARN",
            callback=options.kms_keys,
            help="The replicator may decrypt source objects with this KMS key (repeatable; "
            "added to the adopted bucket's default key; the given keys replace the deployed ones).",
        ),
    ] = None,
    backup_kms_key: Annotated[
        str | None,
        typer.Option(
            "--backup-kms-key",
            metavar="ARN",
            callback=options.kms_key,
            help="Encrypt every copy with this KMS key (default: the deployed key, else the "
            "adopted bucket's default KMS key, else SSE-S3).",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            callback=options.concurrency,
            metavar="N",
            help=f"Most replicator instances at once, {MIN_CONCURRENCY} to {MAX_CONCURRENCY} "
            f"(default: {DEFAULT_CONCURRENCY}, or the deployed value; see docs/THROUGHPUT.md).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            callback=options.batch_size,
            metavar="N",
            help=f"Most messages per invocation, 1 to 10000; above 10 needs --batching-window "
            f"1 or more (default: {DEFAULT_BATCH_SIZE}, or the deployed value).",
        ),
    ] = None,
    batching_window: Annotated[
        int | None,
        typer.Option(
            callback=options.batching_window,
            metavar="SECONDS",
            help="Seconds Lambda may gather messages into a batch, 0 to 300 (default: "
            f"{DEFAULT_BATCHING_WINDOW}, or the deployed value).",
        ),
    ] = None,
    replicator_memory: Annotated[
        int | None,
        typer.Option(
            callback=options.replicator_memory,
            metavar="MB",
            help=f"Memory of the replicator function, 128 to 10240 MB (default: "
            f"{DEFAULT_MEMORY}, or the deployed value).",
        ),
    ] = None,
    storage_class: Annotated[
        str | None,
        typer.Option(
            "--storage-class",
            metavar="CLASS",
            callback=options.storage_class,
            help="S3 storage class of every copy: STANDARD, STANDARD_IA, INTELLIGENT_TIERING or "
            "GLACIER_IR, all restored at once (default: STANDARD, or the deployed value; "
            "see README, Cost).",
        ),
    ] = None,
    fresh_backups: Annotated[
        bool,
        typer.Option(
            "--fresh-backups",
            help="On a first deploy, leave kept backups of this name alone (teardown "
            "--keep-backups) and create new ones; by default they are reattached.",
        ),
    ] = False,
    alarm_email: Annotated[
        str | None,
        typer.Option(
            "--alarm-email",
            metavar="ADDRESS",
            callback=options.alarm_email,
            help="Alarms notify this address through an SNS topic deploy creates (confirm its "
            'first email; kept on later deploys; "" stops notifying).',
        ),
    ] = None,
    alarm_topic_arn: Annotated[
        str | None,
        typer.Option(
            "--alarm-topic-arn",
            metavar="ARN",
            callback=options.alarm_topic_arn,
            help="Alarms notify this existing SNS topic instead (kept on later deploys).",
        ),
    ] = None,
    max_lag: Annotated[
        str | None,
        typer.Option(
            "--max-lag",
            metavar="DURATION",
            callback=options.max_lag,
            help="Alarm when the oldest queued event is older than this: 900s, 15m, 1h; 1 "
            "minute to 1 day (default: 15m, or the deployed value).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Deploy without asking.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show what deploy would change (stacks, bundle, an adopted bucket's "
            "notifications); change nothing.",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the plan (and, after a deploy, what it did) as JSON on stdout."
        ),
    ] = False,
    multipart_threshold: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=5 * 1024**3,
            metavar="BYTES",
            hidden=True,  # advanced: tests copy small objects part by part with it
            help="Objects this size or larger are copied part by part (default: 1 GiB).",
        ),
    ] = None,
) -> None:
    """Build and upload the bundle, then create or update the three stacks."""
    from objbackup.deploy.alarms import AlarmOptions
    from objbackup.deploy.plan import DeployOptions

    if alarm_email and alarm_topic_arn:
        raise typer.BadParameter(
            "alarms notify one target: an email (through a topic deploy creates) or an "
            "existing topic",
            param_hint="--alarm-email / --alarm-topic-arn",
        )
    include, exclude = _key_filter(include_prefix, exclude_prefix, all_keys)
    deploy_options = DeployOptions(
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
    run(global_options(ctx), deploy_options, yes, dry_run=dry_run, as_json=as_json)


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
    g: GlobalOptions,
    deploy_options: DeployOptions,
    yes: bool,
    dry_run: bool = False,
    as_json: bool = False,
) -> None:
    """Plan; stop at "no changes" or a dry run, else show the plan, confirm, deploy, report."""
    from objbackup.cli import prompt, render
    from objbackup.deploy.deployer import Deployer
    from objbackup.deploy.deployment import find_deployment

    connection = g.connection()
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
