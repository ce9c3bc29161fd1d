"""A deployed objbackup on an `objbackup sandbox` process, for the benchmarks that drive it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from objbackup.deploy.connection import ServiceClients, session_client
from objbackup.sandbox.server import free_port

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient

BIN = Path(sys.executable).parent


@dataclass
class Deployed(ServiceClients):
    """The sandbox process, its environment, and the deployment's `status --json`."""

    url: str
    env: dict[str, str]
    pid: int
    status: dict[str, Any]
    threads: int

    def run(self, *args: str) -> str:
        """Run an `objbackup` command against the sandbox; its stdout."""
        done = subprocess.run(
            [str(BIN / "objbackup"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"objbackup {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def _client(self, service: str) -> BaseClient:
        session = boto3.Session(
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
            region_name="us-east-1",
        )
        config = Config(max_pool_connections=self.threads * 2)
        return session_client(session, service, endpoint_url=self.url, config=config)


def queue_at_rest(sqs: SQSClient, url: str) -> bool:
    """No message waiting and none in flight: every delivery so far has been handled."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


@contextmanager
def running_sandbox(
    name: str, threads: int, sandbox_args: Sequence[str] = (), log: Path | None = None
) -> Iterator[Deployed]:
    """Start `objbackup sandbox` on a free port (nothing deployed yet) and stop it afterwards;
    with `log`, the sandbox's stderr (the functions' log lines) goes to that file."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "OBJBACKUP_NAME": name,
    }
    stderr = log.open("w", encoding="utf-8") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [str(BIN / "objbackup"), "sandbox", "--port", str(port), *sandbox_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield Deployed(url, env, process.pid, {}, threads)
    finally:
        process.terminate()
        process.wait(timeout=30)
        if log:
            stderr.close()  # type: ignore[union-attr]


@contextmanager
def deployed_sandbox(
    name: str, threads: int, sandbox_args: Sequence[str] = (), log: Path | None = None
) -> Iterator[Deployed]:
    """A running sandbox (see `running_sandbox`) with objbackup deployed to it."""
    with running_sandbox(name, threads, sandbox_args, log) as deployed:
        deployed.run("deploy", "--yes")
        deployed.status = json.loads(deployed.run("status", "--json"))
        yield deployed
