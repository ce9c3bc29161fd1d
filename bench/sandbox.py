"""A deployed objbackup on an `objbackup sandbox` process, for the benchmarks that drive it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from objbackup.deploy.connection import ServiceClients, session_client
from objbackup.sandbox.process import OBJBACKUP, sandbox_process


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
            [str(OBJBACKUP), *args],
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


@contextmanager
def running_sandbox(
    name: str, threads: int, sandbox_args: Sequence[str] = (), log: Path | None = None
) -> Iterator[Deployed]:
    """Start `objbackup sandbox` on a free port (nothing deployed yet) and stop it afterwards;
    with `log`, the sandbox's stderr (the functions' log lines) goes to that file."""
    stderr: IO[str] | int = log.open("w", encoding="utf-8") if log else subprocess.DEVNULL
    try:
        env = {**os.environ, "OBJBACKUP_NAME": name}
        with sandbox_process(env, sandbox_args, stderr, stop_within=30) as started:
            yield Deployed(started.endpoint_url, started.env, started.process.pid, {}, threads)
    finally:
        if not isinstance(stderr, int):
            stderr.close()


@contextmanager
def deployed_sandbox(
    name: str, threads: int, sandbox_args: Sequence[str] = (), log: Path | None = None
) -> Iterator[Deployed]:
    """A running sandbox (see `running_sandbox`) with objbackup deployed to it."""
    with running_sandbox(name, threads, sandbox_args, log) as deployed:
        deployed.run("deploy", "--yes")
        deployed.status = json.loads(deployed.run("status", "--json"))
        yield deployed
