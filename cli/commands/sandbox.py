"""`objbackup sandbox` and `objbackup demo`: the system on this machine, no AWS account."""

from __future__ import annotations

from typing import Annotated

import typer

SANDBOX_INSTALL = "pip install 'objbackup[sandbox]'"


def require_moto() -> None:
    """Fail with the install command when moto's server is missing: the `sandbox` extra brings it.

    moto is imported here, not at the CLI's import, so an install without the extra runs every
    other command.
    """
    try:
        import moto.moto_server.threaded_moto_server  # noqa: F401 - what the sandbox runs
    except ImportError as exc:
        from objbackup.deploy.errors import DeployError

        raise DeployError(
            f"the sandbox needs moto: no module named {exc.name!r}", SANDBOX_INSTALL
        ) from None


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")
    ] = 4566,
    fault_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.99,
            help="Share of the functions' AWS calls that fail (throttling, 5xx, connection).",
        ),
    ] = 0.0,
    fault_log: Annotated[
        str | None,
        typer.Option(help="Append one JSON line per injected fault to this file."),
    ] = None,
) -> None:
    """Run the whole system (an AWS emulator plus the functions) until interrupted.

    Prints one line with the endpoint and the environment to export.

    The AWS CLI v1 ignores AWS_ENDPOINT_URL for sqs: give `aws sqs` --endpoint-url.
    """
    require_moto()
    from objbackup.sandbox.server import run

    run(host, port, fault_rate=fault_rate, fault_log=fault_log)


def demo() -> None:
    """A narrated end-to-end run on an embedded sandbox, checking each step."""
    import importlib

    require_moto()
    try:
        module = importlib.import_module("objbackup.cli.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "objbackup.cli.demo":
            raise
        from objbackup.deploy.errors import DeployError

        raise DeployError(
            "the demo is not part of this build", "run `objbackup sandbox` and deploy to it"
        ) from None
    code = module.run()
    if code:
        raise typer.Exit(int(code))
