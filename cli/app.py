"""The `objbackup` command: global options, the commands, and exit codes.

Exit codes: 0 success, 1 an operational failure (a one-line cause and a hint on stderr), 2 a usage
error. Heavy modules (boto3, rich, objbackup.deploy) are imported by the commands, not here, so
`objbackup --help` answers fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.cli.commands import (
    backfill,
    clean,
    deploy,
    dlq,
    estimate,
    listing,
    logs,
    policy,
    restore,
    sandbox,
    status,
    teardown,
    undelete,
    verify,
)
from objbackup.cli.context import GlobalOptions
from objbackup.cli.errors import ObjbackupGroup


def _print_version(value: bool) -> None:
    if value:
        from objbackup import __version__

        typer.echo(f"objbackup {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="objbackup",
    cls=ObjbackupGroup,
    help="Timestamped, self-pruning backups of every object in an S3 bucket.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def store_global_options(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Option(
            envvar="OBJBACKUP_NAME",
            callback=options.name,
            help="Deployment name; its stacks are <name>-storage, -replicator, -cleaner.",
        ),
    ] = "objbackup",
    region: Annotated[
        str | None,
        typer.Option(
            envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
            help="AWS region (default: from your AWS configuration).",
        ),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(envvar="AWS_PROFILE", help="AWS profile to use.")
    ] = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            envvar="AWS_ENDPOINT_URL",
            callback=options.endpoint_url,
            help="Talk to this endpoint instead of AWS (e.g. a sandbox).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of failures.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Timestamped, self-pruning backups of every object in an S3 bucket.

    Global options go before the command: objbackup --name prod status
    """
    ctx.obj = GlobalOptions(
        name=name,
        region=region or None,
        profile=profile or None,
        endpoint_url=endpoint_url,
        debug=debug,
    )


app.command("deploy")(deploy.command)
app.command("list")(listing.command)
app.command("clean")(clean.command)
app.command("status")(status.command)
app.command("teardown")(teardown.command)
app.command("restore")(restore.command)
app.command("undelete")(undelete.command)
app.command("verify")(verify.command)
app.command("backfill")(backfill.command)
app.command("estimate")(estimate.command)
app.add_typer(dlq.app, name="dlq")
app.command("logs")(logs.command)
app.command("policy")(policy.command)
app.command("sandbox")(sandbox.sandbox)
app.command("demo")(sandbox.demo)


def main() -> None:
    """Console script entry point."""
    app(prog_name="objbackup")
