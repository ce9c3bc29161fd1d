"""Lambda without Docker: moto's Invoke (and EventBridge's Lambda targets) run the deployed bundle
through the sandbox's executor, and a deleted or changed function's workers are stopped."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from objbackup.sandbox.patches.registry import Patch, install

# The sandbox's LambdaExecutor (or the CLI tests' in-process one); None: moto's own Invoke.
_executor: Any = None


def install_lambda_executor(executor: Any) -> None:
    """Make moto's Lambda Invoke run the deployed bundle through `executor` (no Docker here)."""
    global _executor
    install(*PATCHES)
    _executor = executor


def invoke_async(function_arn: str, event: dict[str, Any]) -> None:
    """Invoke a function ARN asynchronously with `event`, as EventBridge does (no executor: the
    invocation is dropped, as moto's Lambda targets drop it)."""
    executor = _executor
    if executor is None:
        return
    from moto.awslambda.models import lambda_backends

    from objbackup.sandbox.executor import spec_of

    account, region = function_arn.split(":")[4], function_arn.split(":")[3]
    function = lambda_backends[account][region].get_function(function_arn)
    threading.Thread(target=executor.invoke, args=(spec_of(function), event), daemon=True).start()


def close_invoke_gap() -> None:
    """moto runs a function's Invoke in Docker, which the sandbox does not have: run it through
    the executor once one is installed."""
    from moto.awslambda.models import LambdaFunction

    from objbackup.sandbox.executor import spec_of

    original = LambdaFunction._invoke_lambda

    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        executor = _executor
        if executor is None:
            return original(self, event)
        payload = json.loads(event) if isinstance(event, str | bytes) else event
        outcome = executor.invoke(spec_of(self), payload)
        return outcome.body(), outcome.failed, ""

    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]


def close_replaced_function_gap() -> None:
    """Stop the workers of a function that is deleted, or whose code or configuration changes
    (by the API or by CloudFormation, which calls the function's own update methods)."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    def retire(name_or_arn: str) -> None:
        # An ARN: arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
        parts = str(name_or_arn).split(":")
        name = parts[6] if len(parts) > 6 else str(name_or_arn)
        # Duck-typed: the CLI tests install an in-process executor that has no workers.
        stop = getattr(_executor, "retire", None)
        if stop is not None:
            stop(name)

    delete_function = LambdaBackend.delete_function

    def delete(self: Any, function_name: str, qualifier: str | None = None) -> None:
        delete_function(self, function_name, qualifier)
        retire(function_name)

    def after(method: Callable[..., Any]) -> Callable[..., Any]:
        def updated(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            finally:
                retire(self.function_name)

        return updated

    LambdaBackend.delete_function = delete  # type: ignore[method-assign]
    LambdaFunction.update_configuration = after(LambdaFunction.update_configuration)  # type: ignore[method-assign]
    LambdaFunction.update_function_code = after(LambdaFunction.update_function_code)  # type: ignore[method-assign]


PATCHES = (
    Patch(
        "lambda",
        "invoke-without-docker",
        "moto's Invoke needs Docker; the sandbox runs the deployed bundle in its own workers",
        (
            "tests/sandbox/test_sandbox_gaps.py::test_direct_invoke_runs_the_uploaded_code_with_its_environment",
        ),
        close_invoke_gap,
    ),
    Patch(
        "lambda",
        "retire-replaced-functions",
        "a deleted function, or one whose code or configuration changed, must not run its old "
        "workers; moto's delete and update methods tell the executor",
        (
            "tests/sandbox/test_sandbox_process.py::test_twenty_deploy_and_teardown_cycles_hold_no_more_than_one",
        ),
        close_replaced_function_gap,
    ),
)
