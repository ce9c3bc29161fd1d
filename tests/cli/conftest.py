"""CLI fixtures: moto in process with the gaps closed, functions run in process, a CliRunner."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.client import BaseClient
from typer.testing import CliRunner

from objbackup.cli.app import app
from objbackup.deploy.connection import ServiceClients, session_client
from objbackup.sandbox.patches import lambda_
from tests.cli.inprocess import InProcessExecutor
from tests.harness import REGION


@dataclass
class Cli(ServiceClients):
    """Runs `objbackup` commands in process and reaches the same moto account with boto3."""

    runner: CliRunner
    executor: InProcessExecutor

    def __call__(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, list(args), input=input)

    def ok(self, *args: str, input: str | None = None) -> Any:
        result = self(*args, input=input)
        assert result.exit_code == 0, (
            f"objbackup {' '.join(args)} exited {result.exit_code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def _client(self, service: str) -> BaseClient:
        return session_client(None, service, region_name=REGION)


@pytest.fixture
def in_process_lambda(monkeypatch: pytest.MonkeyPatch) -> InProcessExecutor:
    """moto's Lambda Invoke runs the functions here; the executor before is restored afterwards."""
    monkeypatch.setattr(lambda_, "_executor", lambda_._executor)
    executor = InProcessExecutor()
    lambda_.install_lambda_executor(executor)
    return executor


@pytest.fixture(autouse=True)
def fresh_consoles() -> Iterator[None]:
    """Each test gets consoles built under its own environment (COLUMNS above all): the CLI
    builds them once per process, and a test run is one process for many invocations."""
    from objbackup.cli import render

    render.stderr.cache_clear()
    render.stdout.cache_clear()
    yield
    render.stderr.cache_clear()
    render.stdout.cache_clear()


@pytest.fixture
def cli(
    moto_aws: None, in_process_lambda: InProcessExecutor, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    monkeypatch.delenv("OBJBACKUP_NAME", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    # moto logs a warning for each resource type its CloudFormation skips (alarms, policies).
    monkeypatch.setattr(logging.getLogger("moto"), "level", logging.ERROR)
    with warnings.catch_warnings():
        # moto warns about each resource type its CloudFormation only half models.
        warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
        yield Cli(CliRunner(), in_process_lambda)


@pytest.fixture
def deployed(cli: Cli) -> dict[str, Any]:
    """A deployment without grace period; its `status --json`."""
    cli.ok("deploy", "--yes", "--grace", "0")
    status: dict[str, Any] = cli.json("status")
    return status
