"""Runs deployed Lambda functions on this machine: the uploaded bundle, in worker processes.

Each function version (code hash + configuration) gets a pool of warm worker processes, up to a
concurrency limit, so several batches run at once as several Lambda instances would. A worker is
isolated from the CLI's imports: it sees the unpacked bundle, boto3's directory and the function's
configured environment, pointed at the sandbox's endpoint. A worker that overruns the function's
timeout is killed, as Lambda kills a timed-out instance; the handler's context counts down to
that moment (`get_remaining_time_in_millis`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

_RUNNER = Path(__file__).with_name("runner.py")


@dataclass(frozen=True)
class FunctionSpec:
    """What the sandbox needs to know of a deployed function to run it."""

    name: str
    handler: str
    code: bytes
    environment: dict[str, str]
    timeout: float

    @property
    def version_key(self) -> str:
        digest = hashlib.sha256(self.code)
        digest.update(json.dumps([self.handler, self.environment], sort_keys=True).encode())
        return f"{self.name}:{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation: the handler's answer, or its error."""

    payload: Any
    error: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def body(self) -> str:
        return json.dumps(self.error if self.error is not None else self.payload, default=str)


@dataclass
class _Worker:
    process: subprocess.Popen[str]
    results: IO[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.results.close()


class LambdaExecutor:
    """Invokes functions in pooled worker processes; thread-safe."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        max_concurrency: int = 4,
        log: IO[str] | None = None,
        fault_rate: float = 0.0,
        fault_log: str | None = None,
    ) -> None:
        self.fault_rate = fault_rate
        self.fault_log = fault_log
        self.endpoint_url = endpoint_url
        self.region = region
        self.max_concurrency = max_concurrency
        self.log = log
        self._root = Path(tempfile.mkdtemp(prefix="objbackup-sandbox-"))
        self._idle: dict[str, queue.Queue[_Worker]] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Run one invocation, waiting for a free instance of the function if all are busy."""
        key = spec.version_key
        with self._lock:
            slots = self._slots.setdefault(key, threading.BoundedSemaphore(self.max_concurrency))
            idle = self._idle.setdefault(key, queue.Queue())
        with slots:
            worker = self._take(idle, spec)
            try:
                result = self._call(worker, spec, event)
            finally:
                if worker.alive() and not self._closed:
                    idle.put(worker)
            return result

    def kill_busy(self, function_name: str | None = None) -> int:
        """Kill the instances (of one function, or all) that are in the middle of an invocation,
        as a crashed Lambda instance dies: the process, not an exception. Returns how many."""
        killed = 0
        with self._lock:
            for worker in self._workers:
                if (
                    worker.busy
                    and worker.alive()
                    and (function_name is None or worker.process.args[-1] == function_name)  # type: ignore[index]
                ):
                    worker.process.kill()
                    killed += 1
        return killed

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.kill()
        shutil.rmtree(self._root, ignore_errors=True)

    def _take(self, idle: queue.Queue[_Worker], spec: FunctionSpec) -> _Worker:
        while True:
            try:
                worker = idle.get_nowait()
            except queue.Empty:
                return self._start(spec)
            if worker.alive():
                return worker

    def _call(self, worker: _Worker, spec: FunctionSpec, event: Any) -> Invocation:
        answer: dict[str, Any] = {}
        done = threading.Event()

        def read() -> None:
            line = worker.results.readline()
            if line:
                answer.update(json.loads(line))
            done.set()

        with worker.lock:
            worker.busy = True
            try:
                assert worker.process.stdin is not None
                # The handler's context counts down to the moment the process is killed.
                request = {"event": event, "deadline": time.time() + spec.timeout}
                worker.process.stdin.write(json.dumps(request) + "\n")
                worker.process.stdin.flush()
            except (BrokenPipeError, OSError):
                worker.busy = False
                return Invocation(None, _error("Runtime.ExitError", "the instance died"))
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            timed_out = not done.wait(spec.timeout)
            worker.busy = False
            if timed_out:
                worker.process.kill()
                return Invocation(
                    None, _error("Sandbox.Timeout", f"Task timed out after {spec.timeout:g} s")
                )
        if "result" in answer:
            return Invocation(answer["result"])
        if "error" in answer:
            return Invocation(None, answer["error"])
        return Invocation(None, _error("Runtime.ExitError", "the instance exited"))

    def _start(self, spec: FunctionSpec) -> _Worker:
        code_dir = self._unpack(spec)
        read_fd, write_fd = os.pipe()
        env = {
            **{k: str(v) for k, v in spec.environment.items()},
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{spec.timeout:g}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_SESSION_TOKEN": "sandbox",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LANG": "C.UTF-8",
        }
        if self.fault_rate > 0:
            env["OBJBACKUP_SANDBOX_FAULT_RATE"] = repr(self.fault_rate)
            env["OBJBACKUP_SANDBOX_FAULT_LOG"] = self.fault_log or ""

        process = subprocess.Popen(  # noqa: S603 - our own interpreter and runner
            [
                sys.executable,
                "-S",
                str(_RUNNER),
                str(code_dir),
                _boto3_site(),
                str(write_fd),
                spec.name,
            ],
            stdin=subprocess.PIPE,
            stdout=self.log or subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
            cwd=code_dir,
            env=env,
            text=True,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        worker = _Worker(process, os.fdopen(read_fd, "r"))
        with self._lock:
            self._workers = [w for w in self._workers if w.alive()]
            self._workers.append(worker)
        return worker

    def _unpack(self, spec: FunctionSpec) -> Path:
        target = self._root / hashlib.sha256(spec.code).hexdigest()[:16]
        with self._lock:
            if not target.exists():
                staging = Path(tempfile.mkdtemp(dir=self._root))
                with zipfile.ZipFile(io.BytesIO(spec.code)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
        return target


def spec_of(function: Any) -> FunctionSpec:
    """The FunctionSpec of a moto LambdaFunction (its uploaded zip and configuration)."""
    return FunctionSpec(
        name=str(function.function_name),
        handler=str(function.handler),
        code=bytes(function.code_bytes),
        environment={str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        timeout=float(function.timeout or 3),
    )


def _boto3_site() -> str:
    import boto3

    return str(Path(boto3.__file__).resolve().parent.parent)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"errorType": kind, "errorMessage": message}
