"""The sandbox: moto in server mode on loopback, plus what it lacks to run objbackup for real.

On top of moto it closes the gaps listed in DESIGN.md (gaps.py), runs deployed functions from
their uploaded bundle (executor.py), polls SQS event source mappings (pollers.py) and fires
schedule rules (scheduler.py). Every client, the CLI included, talks to it over HTTP.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import warnings
from types import FrameType, TracebackType
from typing import IO

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"


class Sandbox:
    """A running sandbox; use as a context manager or call start() and stop()."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        region: str = DEFAULT_REGION,
        function_log: IO[str] | None = None,
        concurrency: int = 4,
        fault_rate: float = 0.0,
        fault_log: str | None = None,
    ) -> None:
        if not 0.0 <= fault_rate < 1.0:
            raise ValueError(f"fault rate must be in [0, 1), got {fault_rate}")
        self.fault_rate = fault_rate
        self.fault_log = fault_log
        self.host = host
        self.port = port
        self.region = region
        self.function_log = function_log
        self.concurrency = concurrency
        self._parts: list[object] = []

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a shell needs to point the AWS CLI, boto3 and objbackup at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
        }

    def start(self) -> Sandbox:
        from moto.server import ThreadedMotoServer

        from objbackup.sandbox import gaps
        from objbackup.sandbox.executor import LambdaExecutor
        from objbackup.sandbox.pollers import MappingPollers
        from objbackup.sandbox.scheduler import Scheduler

        if self.port == 0:
            self.port = free_port(self.host)
        _quiet_moto()
        gaps.close_all()
        self.server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self.server.start()
        self.executor = LambdaExecutor(
            self.endpoint_url,
            self.region,
            self.concurrency,
            log=self.function_log,
            fault_rate=self.fault_rate,
            fault_log=self.fault_log,
        )
        gaps.install_lambda_executor(self.executor)
        self.pollers = MappingPollers(
            self.endpoint_url, self.region, self.executor, per_mapping=self.concurrency
        )
        self.scheduler = Scheduler(self.region, self.executor)
        self.pollers.start()
        self.scheduler.start()
        return self

    def stop(self) -> None:
        for part in ("scheduler", "pollers"):
            if hasattr(self, part):
                getattr(self, part).stop()
        if hasattr(self, "executor"):
            self.executor.close()
        if hasattr(self, "server"):
            self.server.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _quiet_moto() -> None:
    """Request lines and moto's notes on resources it only half models are noise to a user."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto logs "No Moto CloudFormation support for ..." on its root "moto" logger.
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def run(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    out: IO[str] | None = None,
    fault_rate: float = 0.0,
    fault_log: str | None = None,
) -> None:
    """Run a sandbox in the foreground until Ctrl-C or SIGTERM, then shut it down cleanly.

    With `fault_rate`, that share of the functions' AWS calls fail (throttling, 5xx, connection
    errors), each recorded as a JSON line in `fault_log` if given.
    """
    out = out or sys.stdout
    done = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox_ = Sandbox(
            host, port, function_log=sys.stderr, fault_rate=fault_rate, fault_log=fault_log
        )
        with sandbox_ as sandbox:
            exports = " ".join(f"{k}={v}" for k, v in sandbox.environment().items())
            print(f"objbackup sandbox ready at {sandbox.endpoint_url}; export {exports}", file=out)
            out.flush()
            done.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
