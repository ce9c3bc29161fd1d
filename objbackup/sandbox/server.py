"""The sandbox: moto in server mode on loopback, plus what it lacks to run objbackup for real.

On top of moto it closes the gaps listed in DESIGN.md (patches/), runs deployed functions from
their uploaded bundle (executor.py), polls SQS event source mappings (pollers.py) and fires
schedule rules (scheduler.py), and sends the functions' output to CloudWatch Logs and their
embedded metrics to CloudWatch (cloudwatch.py), with the queues' AWS/SQS metrics
(sqs_metrics.py). Every client, the CLI included, talks to it over HTTP. IAM is enforced
(access.py): functions run under their execution roles, the operator's credentials act as the
account's administrator.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading
import warnings
from types import FrameType, TracebackType
from typing import IO, Any

from objbackup.deploy.errors import DeployError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"


class PortInUse(DeployError):
    """The sandbox's address is taken: nothing was started."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is in use",
            "stop what listens there, or pass another --port (0: any free port)",
        )


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
        return client_environment(self.endpoint_url, self.region)

    def start(self) -> Sandbox:
        """Bind first (a taken port fails at once, with nothing to undo), then start the rest;
        a failure or an interrupt part way stops what was started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Sandbox:
        from objbackup.sandbox import access, patches
        from objbackup.sandbox.cloudwatch import CloudWatchShipper
        from objbackup.sandbox.executor import LambdaExecutor
        from objbackup.sandbox.pollers import MappingPollers
        from objbackup.sandbox.scheduler import Scheduler
        from objbackup.sandbox.sqs_metrics import QueueMetrics

        _quiet_moto()
        patches.install_all()
        access.enforce()
        self._enforcing = True
        self.server = _bound_server(self.host, self.port)
        self.port = int(self.server._server.server_address[1])  # the one bound, for port 0
        self.shipper = CloudWatchShipper.for_endpoint(self.endpoint_url, self.region).start()
        self.queue_metrics = QueueMetrics(self.shipper.cloudwatch, self.region).start()
        self.executor = LambdaExecutor(
            self.endpoint_url,
            self.region,
            self.concurrency,
            log=self.function_log,
            fault_rate=self.fault_rate,
            fault_log=self.fault_log,
            shipper=self.shipper,
        )
        patches.install_lambda_executor(self.executor)
        self.pollers = MappingPollers(
            self.endpoint_url, self.region, self.executor, per_mapping=self.concurrency
        )
        self.scheduler = Scheduler(self.region, self.executor)
        self.pollers.start()
        self.scheduler.start()
        return self

    def stop(self) -> None:
        """Stop everything started, in any state: the workers first, so that no invocation in
        flight keeps a poller (or this call) waiting for its function's timeout."""
        if hasattr(self, "scheduler"):
            self.scheduler.stop()
        if hasattr(self, "executor"):
            self.executor.close()
        if hasattr(self, "pollers"):
            self.pollers.stop()
        if hasattr(self, "queue_metrics"):
            self.queue_metrics.stop()
        if hasattr(self, "shipper"):
            self.shipper.stop()  # the last lines, while the server still answers
        if hasattr(self, "server"):
            self.server.stop()
        if getattr(self, "_enforcing", False):
            from objbackup.sandbox import access

            access.relax()
            self._enforcing = False

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


def _bound_server(host: str, port: int) -> Any:
    """moto's ThreadedMotoServer on a socket bound here, in the calling thread. Its own start()
    binds in a background thread where werkzeug meets a taken port with sys.exit, and then
    waits forever for a readiness that never comes (moto 5.2, werkzeug 3)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As werkzeug binds (SO_REUSEADDR: a port in TIME_WAIT is free, a listened one is not).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(host, port) from None
            raise
        listener.listen(128)
        bound = int(listener.getsockname()[1])
        server = ThreadedMotoServer(ip_address=host, port=bound, verbose=False)
        # werkzeug serves a duplicate of the descriptor (socket.fromfd).
        server._server = make_server(
            host,
            bound,
            _marked(DomainDispatcherApplication(create_backend_app)),
            True,
            request_handler=MotoRequestHandler,
            fd=listener.fileno(),
        )
    finally:
        listener.close()
    server._thread = threading.Thread(
        target=server._server.serve_forever, name="moto-server", daemon=True
    )
    server._thread.start()
    server._server_ready_event.set()
    return server


def _marked(app: Any) -> Any:
    """The WSGI app, with the sandbox's header on every answer."""
    from objbackup.sandbox import SANDBOX_HEADER

    def marked(environ: Any, start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, (SANDBOX_HEADER, "1")], exc_info)

        return app(environ, start)

    return marked


def client_environment(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """What a shell needs to point the AWS CLI, boto3 and objbackup at the sandbox at
    `endpoint_url` (its credentials are the sandbox's fixed fake ones: the operator's)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
    }


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
    stopping = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        # Raised in the main thread wherever it waits (startup included), so the `finally`
        # below always runs; a second signal while stopping is ignored, stop() is bounded.
        if not stopping.is_set():
            stopping.set()
            raise _Stopped

    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(
        host, port, function_log=sys.stderr, fault_rate=fault_rate, fault_log=fault_log
    )
    try:
        sandbox.start()
        exports = " ".join(f"{k}={v}" for k, v in sandbox.environment().items())
        print(f"objbackup sandbox ready at {sandbox.endpoint_url}; export {exports}", file=out)
        out.flush()
        threading.Event().wait()  # until a signal raises _Stopped
    except _Stopped:
        pass
    finally:
        stopping.set()
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stopped(BaseException):
    """SIGINT or SIGTERM arrived: unwind whatever the main thread is doing, then stop."""
