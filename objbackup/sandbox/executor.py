"""Runs deployed Lambda functions on this machine: the uploaded bundle, in worker processes.

Each function version (code hash + configuration) gets a pool of warm worker processes, up to a
concurrency limit, so several batches run at once as several Lambda instances would. A worker is
isolated from the CLI's imports: it sees the unpacked bundle, boto3's directory and the function's
configured environment, pointed at the sandbox's endpoint. A worker that overruns the function's
Timeout or MemorySize is killed, as Lambda kills such an instance, and the invocation fails with
Lambda's answer; the handler's context counts down to that moment. Workers of a function that
was deleted, or whose code or configuration changed, are stopped. A worker runs with the
credentials of its function's execution role (credentials.py), and is retired before they expire.
With a CloudWatchShipper, a worker's output (the handler's lines and Lambda's START, END and
REPORT lines) goes to the function's log group, one log stream per worker, as Lambda's instances
write theirs.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from objbackup.sandbox.cloudwatch import CloudWatchShipper

from objbackup.sandbox.credentials import OPERATOR, RENEW_BEFORE_SECONDS, RoleSessions, Session

_RUNNER = Path(__file__).with_name("runner.py")
# How often a busy worker's memory is read. VmHWM (the peak resident set) is read, not VmRSS,
# so a peak between two reads is still seen: the invocation fails, if later than Lambda would.
_WATCH_EVERY = 0.02


@dataclass(frozen=True)
class FunctionSpec:
    """What the sandbox needs to know of a deployed function to run it."""

    name: str
    handler: str
    code: bytes
    environment: dict[str, str]
    timeout: float
    memory_mb: int = 128
    role: str = ""

    @property
    def code_hash(self) -> str:
        return hashlib.sha256(self.code).hexdigest()[:16]

    @property
    def version_key(self) -> str:
        digest = hashlib.sha256(self.code)
        settings = [self.handler, self.environment, self.timeout, self.memory_mb, self.role]
        digest.update(json.dumps(settings, sort_keys=True).encode())
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
    key: str
    code_dir: Path
    session: Session = OPERATOR
    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: bool = False
    # The function's log group and this instance's stream, and the thread that reads its output.
    group: str = ""
    stream: str = ""
    pump: threading.Thread | None = None
    peak_kb: int = 0

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
        shipper: CloudWatchShipper | None = None,
        sessions: RoleSessions | None = None,
        renew_before: float = RENEW_BEFORE_SECONDS,
    ) -> None:
        self.shipper = shipper
        self._log_lock = threading.Lock()
        self.sessions = sessions or RoleSessions(endpoint_url, region)
        self.renew_before = renew_before
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
        # The version of each function that runs now: workers of any other one are stale.
        self._current: dict[str, FunctionSpec] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def root(self) -> Path:
        """The temporary folder the bundles are unpacked in (removed by close())."""
        return self._root

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Run one invocation, waiting for a free instance of the function if all are busy."""
        key = spec.version_key
        with self._lock:
            current = self._current.get(spec.name)
            self._current[spec.name] = spec
            slots = self._slots.setdefault(key, threading.BoundedSemaphore(self.max_concurrency))
            idle = self._idle.setdefault(key, queue.Queue())
        if current is not None and current.version_key != key:
            self._retire(spec.name, keep=key)
        with slots:
            worker = self._take(idle, spec)
            try:
                result = self._call(worker, spec, event)
            finally:
                if worker.alive() and not self._closed and self._is_current(worker):
                    idle.put(worker)
                elif worker.alive():
                    worker.kill()
            return result

    def retire(self, function_name: str) -> None:
        """The function was deleted or its code or configuration changed: stop its idle
        workers now and its busy ones when their invocation ends (the next invocation, if
        any, starts a fresh instance of what is deployed then, as Lambda does)."""
        with self._lock:
            self._current.pop(function_name, None)
        self._retire(function_name, keep=None)

    def workers(self) -> int:
        """How many worker processes are alive."""
        with self._lock:
            return sum(1 for worker in self._workers if worker.alive())

    def _is_current(self, worker: _Worker) -> bool:
        name = worker.key.rsplit(":", 1)[0]
        with self._lock:
            current = self._current.get(name)
        return current is not None and current.version_key == worker.key

    def _retire(self, function_name: str, keep: str | None) -> None:
        stale: list[_Worker] = []
        with self._lock:
            for key in [k for k in self._idle if k.rsplit(":", 1)[0] == function_name]:
                if key == keep:
                    continue
                idle = self._idle.pop(key)
                self._slots.pop(key, None)
                while not idle.empty():
                    stale.append(idle.get_nowait())
        for worker in stale:
            worker.kill()
        with self._lock:
            self._workers = [w for w in self._workers if w.alive()]
            used = {w.code_dir for w in self._workers}
            used |= {self._root / spec.code_hash for spec in self._current.values()}
            unused = {w.code_dir for w in stale} - used
        for code_dir in unused:
            shutil.rmtree(code_dir, ignore_errors=True)

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
            if not worker.alive():
                continue
            if worker.session.usable_for(spec.timeout, time.time(), self.renew_before):
                return worker
            worker.kill()  # its credentials could expire mid-invocation: a fresh instance

    def _call(self, worker: _Worker, spec: FunctionSpec, event: Any) -> Invocation:
        answer: dict[str, Any] = {}
        done = threading.Event()
        request_id = str(uuid.uuid4())

        def read() -> None:
            line = worker.results.readline()
            if line:
                answer.update(json.loads(line))
            done.set()

        began = time.monotonic()
        with worker.lock:
            worker.busy = True
            try:
                assert worker.process.stdin is not None
                # The handler's context counts down to the moment the process is killed.
                request = {
                    "event": event,
                    "deadline": time.time() + spec.timeout,
                    "request_id": request_id,
                }
                worker.process.stdin.write(json.dumps(request) + "\n")
                worker.process.stdin.flush()
            except (BrokenPipeError, OSError):
                worker.busy = False
                return Invocation(None, _exited(worker, request_id))
            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            killed = self._watch(worker, spec, done)
            worker.busy = False
        if killed == "memory":
            self._ended(worker, spec, request_id, began, "Runtime.OutOfMemory")
            return Invocation(None, out_of_memory(request_id))
        if killed == "timeout":
            self._ended(worker, spec, request_id, began, None)
            return Invocation(None, timed_out(request_id, spec.timeout))
        if "result" in answer:
            return Invocation(answer["result"])
        if "error" in answer:
            return Invocation(None, answer["error"])
        exited = _exited(worker, request_id)
        self._ended(worker, spec, request_id, began, "Runtime.ExitError")
        return Invocation(None, exited)

    def _ended(
        self, worker: _Worker, spec: FunctionSpec, request_id: str, began: float, error: str | None
    ) -> None:
        """Lambda's lines for an instance it stopped mid-invocation (the runner wrote none):
        a timeout's "Task timed out" line, END, and REPORT with its Status. After the
        instance's last output, so the stream keeps its order."""
        if self.shipper is None:
            return
        if worker.pump is not None:
            worker.pump.join(timeout=2)
        elapsed = (time.monotonic() - began) * 1000
        lines = []
        if error is None:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            lines.append(f"{now}Z {request_id} Task timed out after {spec.timeout:.2f} seconds")
        lines.append(f"END RequestId: {request_id}")
        status = "Status: timeout" if error is None else f"Status: error\tError Type: {error}"
        lines.append(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(elapsed))} ms\t"
            f"Memory Size: {spec.memory_mb} MB\t"
            f"Max Memory Used: {math.ceil((worker.peak_kb or 0) / 1024)} MB\t{status}"
        )
        for line in lines:
            self.shipper.put(worker.group, worker.stream, int(time.time() * 1000), line)

    def _watch(self, worker: _Worker, spec: FunctionSpec, done: threading.Event) -> str | None:
        """Wait for the answer; kill the worker if it overruns its Timeout or MemorySize.
        Returns what it was killed for, if it was."""
        deadline = time.monotonic() + spec.timeout
        limit_kb = spec.memory_mb * 1024
        while True:
            finished = done.wait(_WATCH_EVERY)
            peak = peak_rss_kb(worker.process.pid)
            if peak is not None:
                worker.peak_kb = peak
            if peak is not None and peak > limit_kb:
                _kill(worker)
                return "memory"
            if finished:
                return None
            if time.monotonic() >= deadline:
                _kill(worker)
                return "timeout"

    def _start(self, spec: FunctionSpec) -> _Worker:
        code_dir = self._unpack(spec)
        session = self.sessions.session(spec.role, spec.name)
        read_fd, write_fd = os.pipe()
        env = {
            **{k: str(v) for k, v in spec.environment.items()},
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{spec.timeout:g}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **session.environment,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LANG": "C.UTF-8",
        }
        if self.fault_rate > 0:
            env["OBJBACKUP_SANDBOX_FAULT_RATE"] = repr(self.fault_rate)
            env["OBJBACKUP_SANDBOX_FAULT_LOG"] = self.fault_log or ""

        # With a shipper the output is read here (and copied to the log, if any); else it goes
        # straight to the log.
        output: Any = subprocess.PIPE if self.shipper is not None else self.log
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
            stdout=output or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if output is not None else subprocess.DEVNULL,
            cwd=code_dir,
            env=env,
            text=True,
            errors="replace",  # a handler's undecodable bytes must not stop its log lines
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        worker = _Worker(process, os.fdopen(read_fd, "r"), spec.version_key, code_dir, session)
        if self.shipper is not None:
            from objbackup.sandbox.cloudwatch import log_group, log_stream

            worker.group, worker.stream = log_group(spec.name), log_stream()
            worker.pump = threading.Thread(
                target=self._pump, args=(worker,), name=f"output-{spec.name}", daemon=True
            )
            worker.pump.start()
        with self._lock:
            self._workers = [w for w in self._workers if w.alive()]
            self._workers.append(worker)
        return worker

    def _pump(self, worker: _Worker) -> None:
        """Each line the worker writes, stamped as it is read, to its log stream (and the log)."""
        assert worker.process.stdout is not None and self.shipper is not None
        for line in worker.process.stdout:
            stamp = int(time.time() * 1000)
            if self.log is not None:
                with self._log_lock:
                    self.log.write(line)
                    self.log.flush()
            self.shipper.put(worker.group, worker.stream, stamp, line.rstrip("\n"))
        worker.process.stdout.close()

    def _unpack(self, spec: FunctionSpec) -> Path:
        target = self._root / spec.code_hash
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
        memory_mb=int(function.memory_size or 128),
        role=str(function.role or ""),
    )


def peak_rss_kb(pid: int) -> int | None:
    """The process's peak resident set (VmHWM, kB): what Lambda reports as Max Memory Used and
    holds to MemorySize. None once the process is gone."""
    try:
        with Path(f"/proc/{pid}/status").open(encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


# Lambda's answers for an instance it stopped. A timeout: errorType Sandbox.Timedout
# (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts),
# message "RequestId: ... Error: Task timed out after 3.00 seconds" (seconds with two decimals,
# as in github.com/alexa-samples/skill-sample-nodejs-smarthome-switch/issues/18). Out of memory:
# errorType Runtime.OutOfMemory (github.com/nasa-gcn/gcn.nasa.gov/pull/3628), the runtime
# killed: "Runtime exited with error: signal: killed"
# (github.com/awslabs/amazon-s3-find-and-forget/pull/283, where older runtimes said
# Runtime.ExitError for the same kill).
def timed_out(request_id: str, timeout: float) -> dict[str, Any]:
    return _error(
        "Sandbox.Timedout",
        f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
    )


def out_of_memory(request_id: str) -> dict[str, Any]:
    return _error(
        "Runtime.OutOfMemory",
        f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    )


def _exited(worker: _Worker, request_id: str) -> dict[str, Any]:
    """A worker that died on its own (or was killed from outside) mid-invocation."""
    try:
        code = worker.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    if code is not None and code < 0:
        how = f"signal: {_signal_name(-code)}"
    else:
        how = f"exit status {code}"
    return _error(
        "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {how}"
    )


def _signal_name(number: int) -> str:
    # Go's names, as Lambda's runtime interface prints them ("signal: killed").
    names = {
        int(signal.SIGKILL): "killed",
        int(signal.SIGSEGV): "segmentation fault",
        int(signal.SIGABRT): "aborted",
    }
    return names.get(number, f"signal {number}")


def _kill(worker: _Worker) -> None:
    """SIGKILL, as Lambda stops an instance, and reap it: it is gone once this returns."""
    worker.process.kill()
    worker.process.wait()


def _boto3_site() -> str:
    import boto3

    return str(Path(boto3.__file__).resolve().parent.parent)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"errorType": kind, "errorMessage": message}
