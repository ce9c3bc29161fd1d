"""The process a sandboxed Lambda function runs in, like one warm Lambda container.

Started as `python -S runner.py <code dir> <boto3 site dir> <result fd>`: imports the
handler from the unpacked bundle only (no site-packages beyond boto3's own directory), then
answers one invocation per line of stdin with one JSON line on the result fd. The handler's own
output (its logs) goes to stdout and stderr, as in Lambda. It imports nothing from objbackup.
Each request carries the invocation's deadline (epoch seconds, set by the executor that kills
the process when it passes), which the handler's context reports as Lambda's does.
"""

import importlib
import json
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
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # an import error fails every invocation, as in Lambda
        handler = None
        init_error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, object]
        if handler is None:
            answer = {"error": init_error}
        else:
            try:
                context = Context(float(request["deadline"]), request.get("request_id"))
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
        sys.stdout.flush()
        sys.stderr.flush()
        results.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
