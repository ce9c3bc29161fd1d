"""`objbackup sandbox` in a process of its own, started as a user starts it: what the benchmarks
(bench/sandbox.py) and the end-to-end tests (tests/e2e/conftest.py) run against.

It listens on a free port, is used once it prints its ready line, and is stopped with SIGTERM,
which it handles as Ctrl-C (server.py `run`), or killed if that takes too long. (`objbackup demo`
runs its sandbox inside its own process instead: cli/demo.py.)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from objbackup.sandbox.server import DEFAULT_HOST, client_environment, free_port

OBJBACKUP = Path(sys.executable).parent / "objbackup"  # the console script of this environment


class SandboxDidNotStart(RuntimeError):
    """The process ended, or printed something else, before its ready line."""


@dataclass(frozen=True)
class SandboxProcess:
    """A ready `objbackup sandbox`: its process, where it listens, and the environment it was
    started with (which points the AWS CLI, boto3 and objbackup at it)."""

    process: subprocess.Popen[str]
    port: int
    endpoint_url: str
    env: dict[str, str]


@contextmanager
def sandbox_process(
    env: Mapping[str, str],
    args: Sequence[str] = (),
    stderr: IO[str] | int = subprocess.DEVNULL,
    stop_within: float = 20,
) -> Iterator[SandboxProcess]:
    """Start `objbackup sandbox --port <a free port> ARGS` with `env` and the variables that
    point clients at it, yield it once ready, then stop it (SIGTERM, SIGKILL after `stop_within`
    seconds). Its stderr (the functions' log lines) goes to `stderr`."""
    port = free_port()
    endpoint_url = f"http://{DEFAULT_HOST}:{port}"
    full = {**env, **client_environment(endpoint_url)}
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(OBJBACKUP), "sandbox", "--port", str(port), *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        ready = process.stdout.readline() if process.stdout else ""
        if "ready" not in ready:
            raise SandboxDidNotStart(f"sandbox did not start: {ready!r}")
        yield SandboxProcess(process, port, endpoint_url, full)
    finally:
        _stop(process, stop_within)


def _stop(process: subprocess.Popen[str], within: float) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
