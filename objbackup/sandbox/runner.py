"""The process a sandboxed Lambda function runs in, like one warm Lambda container.

Started as `python -S runner.py <code dir> <boto3 site dir> <result fd>`: imports the
handler from the unpacked bundle only (no site-packages beyond boto3's own directory), then
answers one invocation per line of stdin with one JSON line on the result fd. The handler's own
output (its logs) goes to stdout and stderr, as in Lambda. It imports nothing from objbackup.
Each request carries the invocation's deadline (epoch seconds, set by the executor that kills
the process when it passes), which the handler's context reports as Lambda's does. Around each
invocation it writes Lambda's START, END and REPORT lines to stdout, where the sandbox reads them
with the handler's own lines and ships them to CloudWatch Logs (objbackup/sandbox/cloudwatch.py).
"""

import importlib
import json
import math
import os
import sys
import time
import traceback
import uuid
from pathlib import Path


class Context:
    """The part of Lambda's context object a handler may use: names and the time left.

    https://docs.aws.amazon.com/lambda/latest/dg/python-context.html
    """

    def __init__(self, deadline: float, request_id: str | None = None) -> None:
        self._deadline = deadline
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _platform(line: str) -> None:
    """One of Lambda's own lines (START, END, REPORT), after whatever the handler wrote.

    Their text is Lambda's, fields separated by tabs: "START RequestId: <id> Version: $LATEST",
    "END RequestId: <id>", "REPORT RequestId: <id>  Duration: <ms> ms  Billed Duration: <ms> ms
    Memory Size: <MB> MB  Max Memory Used: <MB> MB  [Init Duration: <ms> ms]" (AWS Lambda operator
    guide, "How CloudWatch structures logs",
    https://docs.aws.amazon.com/lambda/latest/operatorguide/log-structure.html).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    out = sys.__stdout__
    if out is not None:
        out.write(line + "\n")
        out.flush()


def _peak_mb() -> int:
    """This process's peak resident set in MB (VmHWM): what REPORT calls Max Memory Used."""
    try:
        with Path("/proc/self/status").open(encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except (OSError, ValueError):
        pass
    return 0


def _report(request_id: str, began: float, init_ms: float | None) -> str:
    elapsed = (time.monotonic() - began) * 1000
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    # Lambda bills by the millisecond, rounded up.
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(elapsed))} ms\tMemory Size: {memory} MB\t"
        f"Max Memory Used: {_peak_mb()} MB\t"
    )
    if init_ms is not None:
        line += f"Init Duration: {init_ms:.2f} ms\t"
    return line


def main() -> None:
    code_dir, site_dir, result_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    here = Path(__file__).resolve().parent
    stdlib = [p for p in sys.path if "site-packages" not in p and Path(p or ".").resolve() != here]
    sys.path[:] = [code_dir, site_dir, *stdlib]
    results = os.fdopen(result_fd, "w", buffering=1)
    rate = float(os.environ.get("OBJBACKUP_SANDBOX_FAULT_RATE") or 0)
    if rate > 0:
        # The sandbox's own fault injector, loaded from beside this file, not from the bundle.
        sys.path.insert(1, str(here))
        faults = importlib.import_module("faults")
        faults.install(rate, os.environ.get("OBJBACKUP_SANDBOX_FAULT_LOG"))
        sys.path.pop(1)
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    init_began = time.monotonic()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # an import error fails every invocation, as in Lambda
        handler = None
        init_error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
    init_ms: float | None = (time.monotonic() - init_began) * 1000
    for line in sys.stdin:
        request = json.loads(line)
        request_id = str(request.get("request_id") or uuid.uuid4())
        began = time.monotonic()
        _platform(f"START RequestId: {request_id} Version: $LATEST")
        answer: dict[str, object]
        if handler is None:
            answer = {"error": init_error}
        else:
            try:
                context = Context(float(request["deadline"]), request_id)
                answer = {"result": handler(request["event"], context)}
            except Exception as exc:
                traceback.print_exc()
                answer = {
                    "error": {
                        "errorType": type(exc).__name__,
                        "errorMessage": str(exc),
                        "stackTrace": traceback.format_tb(exc.__traceback__),
                    }
                }
        _platform(f"END RequestId: {request_id}")
        _platform(_report(request_id, began, init_ms))
        init_ms = None  # Init Duration is reported on an instance's first invocation only
        results.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
