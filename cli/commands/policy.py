"""`objbackup policy --operator`: print the least IAM policy an operator needs (JSON on stdout).

The document for the default name is docs/operator-policy.json; tests/cli/test_operator_policy.py
checks the two are the same and runs every command under exactly that policy.
"""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli.context import global_options


def command(
    ctx: typer.Context,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator", help="The policy of whoever runs deploy, list, restore, teardown ..."
        ),
    ] = False,
) -> None:
    """Print the least IAM policy a role needs, as JSON, for the deployment --name."""
    if not operator:
        ctx.fail("say which policy: --operator")
    from objbackup.cli import render
    from objbackup.deploy.operator_policy import operator_policy

    render.print_json(operator_policy(global_options(ctx).name))
