"""Running deployed functions inside the test process, under the active moto mock.

moto's Lambda Invoke needs Docker; the sandbox's executor runs the bundle in a subprocess, which
cannot reach an in-process mock. This executor runs the same handler classes the bundle's entry
points run (objbackup.core.runtime), with the function's configured environment as its settings.
"""

from __future__ import annotations

import traceback
from typing import Any

from objbackup.core.config import Settings
from objbackup.core.runtime import CleanerApp, ReplicatorApp
from objbackup.sandbox.executor import FunctionSpec, Invocation


class InProcessExecutor:
    """The `executor` that objbackup.sandbox.patches.install_lambda_executor expects."""

    def __init__(self) -> None:
        self.invocations: list[tuple[str, Any]] = []

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        self.invocations.append((spec.name, event))
        settings = Settings.from_env(spec.environment)
        app: Any
        if spec.handler == "replicator.handler":
            app = ReplicatorApp.create(settings)
        elif spec.handler == "cleaner.handler":
            app = CleanerApp.create(settings)
        else:
            return Invocation(None, {"errorType": "Unknown", "errorMessage": spec.handler})
        try:
            return Invocation(app(event))
        except Exception as exc:
            return Invocation(
                None,
                {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                },
            )
