"""`objbackup sandbox` and `objbackup demo`: the system on this machine, no AWS account."""

from __future__ import annotations

from typing import Annotated

import typer


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")
    ] = 4566,
) -> None:
    """Run the whole system (an AWS emulator plus the functions) until interrupted."""
    from objbackup.sandbox.server import run

    run(host, port)


def demo() -> None:
    """A narrated end-to-end run on an embedded sandbox, checking each step."""
    import importlib

    try:
        module = importlib.import_module("cli.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "cli.demo":
            raise
        from objbackup.deploy.errors import DeployError

        raise DeployError(
            "the demo is not part of this build", "run `objbackup sandbox` and deploy to it"
        ) from None
    code = module.run()
    if code:
        raise typer.Exit(int(code))
