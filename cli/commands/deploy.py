"""`objbackup deploy`: plan, confirm, apply through change sets, print the outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli import options
from cli.context import Globals, globals_of

if TYPE_CHECKING:
    from objbackup.deploy.plan import DeployOptions


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
        typer.Option(min=1, help="Copies kept per object (default: 3, or the deployed value)."),
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(
            callback=options.grace,
            metavar="SECONDS",
            help="Seconds a deleted object's copies are kept (default: 10, or the deployed value).",
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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Deploy without asking.")] = False,
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
    from objbackup.deploy.plan import DeployOptions

    deploy_options = DeployOptions(
        source_bucket, retain, grace, schedule, multipart_threshold=multipart_threshold
    )
    run(globals_of(ctx), deploy_options, yes)


def run(g: Globals, deploy_options: DeployOptions, yes: bool) -> None:
    """Plan; say "no changes" and stop, or show the plan, confirm, deploy and print outputs."""
    from cli import render
    from objbackup.deploy.deployer import Deployer

    connection = g.connection()
    deployer = Deployer(connection)
    with render.working(f"Planning {connection.name} in {connection.region}"):
        plan = deployer.plan(deploy_options)
    render.lines([f"Warning: {w}" for w in plan.warnings], "yellow")
    if not plan.changes:
        render.message(
            f"No changes: deployment {plan.name} in {plan.region} is up to date.", "bold green"
        )
        from objbackup.deploy.describe import find_deployment

        render.outputs(find_deployment(connection))
        return
    render.deploy_plan(plan)
    if not yes and not render.confirm("Deploy these changes?"):
        raise typer.Abort()
    with render.working(f"Deploying {plan.name} to {plan.region}"):
        result = deployer.deploy(plan, on_event=render.stack_event)
    if result.changed:
        summary = ", ".join(f"{role} {outcome}" for role, outcome in result.outcomes.items())
        render.message(f"Deployed {plan.name} in {plan.region}: {summary}.", "bold green")
    else:
        render.message("No changes: CloudFormation found nothing to change.", "bold green")
    render.outputs(result.deployment)
