"""End-to-end fixtures: `objbackup sandbox` in its own process, and the tools a user would run
against it (the AWS CLI from the `awscli` package, and the `objbackup` console script).

One sandbox serves a whole run (one per xdist worker: `--dist loadfile` keeps a module on one);
each test module deploys under a name of its own (`e2e-<module>`), so modules share no stack,
bucket or table, and its deployment is torn down when the module ends. The actions go through the
AWS CLI and `objbackup` as a user's would; waiting for their effects polls with boto3 in this
process (`table_copies`, `queue_depth`), not with a process per poll.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from objbackup.core.table import CopyTable
from objbackup.deploy.connection import ServiceClients, session_client
from objbackup.deploy.stacks import O_TABLE
from objbackup.deploy.validate import MAX_NAME_LENGTH
from objbackup.sandbox.process import sandbox_process
from tests.queue import queue_at_rest

BIN = Path(sys.executable).parent


@dataclass
class Tools(ServiceClients):
    """Runs the user's commands against one sandbox, with its environment exported."""

    endpoint_url: str
    env: dict[str, str]
    # The deployment name (OBJBACKUP_NAME) and the sandbox's log (the functions' JSON lines).
    name: str = "e2e"
    sandbox_log: Path = field(default_factory=lambda: Path(os.devnull))

    def run(
        self, *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def objbackup(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "objbackup"), *args, check=check)

    def objbackup_json(self, *args: str) -> Any:
        return json.loads(self.objbackup(*args, "--json").stdout)

    def aws(self, *args: str) -> subprocess.CompletedProcess[str]:
        # The AWS CLI v1 ignores AWS_ENDPOINT_URL for some services (sqs): always pass it.
        return self.run(str(BIN / "aws"), "--endpoint-url", self.endpoint_url, *args)

    def aws_json(self, *args: str) -> Any:
        out = self.aws(*args, "--output", "json").stdout
        return json.loads(out) if out.strip() else {}

    def copies(self, key: str) -> list[dict[str, Any]]:
        """`objbackup list KEY --json`: the key's copies, newest first."""
        listed = self.objbackup_json("list", key)
        assert listed["object"] == key, "list must answer for the very key it was asked"
        copies: list[dict[str, Any]] = listed["copies"]
        return copies

    def active(self, key: str) -> list[dict[str, Any]]:
        """The key's active copies, newest first."""
        return [c for c in self.copies(key) if c["status"] == "active"]

    def bucket_keys(self, bucket: str) -> list[str]:
        """Every key in `bucket`, sorted, as the AWS CLI lists them."""
        listed = self.aws_json("s3api", "list-objects-v2", "--bucket", bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def own(self, names: list[str]) -> list[str]:
        """The names CloudFormation generated for this module's deployment (`<name>-...`)."""
        return sorted(n for n in names if n.lower().startswith(f"{self.name.lower()}-"))

    # --- polling: boto3 in this process, one HTTP request per look, no process per poll ---

    def _client(self, service: str) -> BaseClient:
        return _client(self.endpoint_url, self.env["AWS_REGION"], service)

    def table_copies(self, key: str) -> list[dict[str, Any]]:
        """The key's copies as `objbackup list KEY --json` shows them, read from the deployment's
        table with boto3 (a Query, as `list` makes); [] while no deployment exists."""
        try:
            described = self.client("cloudformation").describe_stacks(
                StackName=f"{self.name}-storage"
            )
        except ClientError:
            return []
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
        table = CopyTable(self.client("dynamodb"), outputs[O_TABLE])
        return [record.to_json() for record in table.copies(key)]

    def table_active(self, key: str) -> list[dict[str, Any]]:
        """The key's active copies, newest first, read with boto3."""
        return [c for c in self.table_copies(key) if c["status"] == "active"]

    def queue_depth(self, queue_url: str) -> int:
        """Messages waiting in the queue (`status`'s `queue_depth` and `dlq_depth`)."""
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def queue_settled(self, queue_url: str) -> bool:
        """No message waiting and none in flight: every delivery has been handled."""
        return queue_at_rest(self.client("sqs"), queue_url)


@cache
def _client(endpoint_url: str, region: str, service: str) -> BaseClient:
    session = boto3.Session(
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        region_name=region,
    )
    return session_client(session, service, endpoint_url=endpoint_url)


@dataclass(frozen=True)
class E2ESandbox:
    """The run's `objbackup sandbox`: where it listens, its environment, and its log."""

    endpoint_url: str
    env: dict[str, str]
    log: Path


def deployment_name(module: str) -> str:
    """`e2e-<module>` from a test module's name: test_scenario -> e2e-scenario."""
    stem = module.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    return f"e2e-{stem}"[:MAX_NAME_LENGTH].rstrip("-")


def user_env(home: Path) -> dict[str, str]:
    """A user's shell with nothing else of this one's: the venv's scripts first on PATH, `home`,
    UTF-8 (and, for a worktree run with PYTHONPATH=$PWD, its own code, not the venv's copy)."""
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


@pytest.fixture(scope="session")
def e2e_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ESandbox]:
    """One `objbackup sandbox` process for every e2e module of this run (of this worker)."""
    home = tmp_path_factory.mktemp("sandbox")
    path = home / "sandbox.log"
    with path.open("w") as log, sandbox_process(user_env(home), stderr=log) as started:
        yield E2ESandbox(started.endpoint_url, started.env, path)


@pytest.fixture(scope="module")
def tools(
    e2e_sandbox: E2ESandbox,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tools]:
    """The user's tools for one module: its own HOME and deployment name on the run's sandbox."""
    name = deployment_name(request.module.__name__)
    env = {
        **e2e_sandbox.env,
        "HOME": str(tmp_path_factory.mktemp("home")),
        "OBJBACKUP_NAME": name,
    }
    tools = Tools(e2e_sandbox.endpoint_url, env, name, e2e_sandbox.log)
    yield tools
    # Leave the shared sandbox without this module's deployment (exit 1 if none is left: fine).
    tools.objbackup("teardown", "--yes", check=False)
