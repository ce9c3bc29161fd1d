"""Fault injection for sandboxed functions: a share of their AWS calls fails as AWS calls fail.

Installed inside a worker process (runner.py) when the sandbox runs with a fault rate. Faults are
answered at botocore's `before-send` step, so the SDK sees a real throttling, 5xx or connection
failure and its own retry logic runs, exactly as against AWS. Each fault is appended as one JSON
line to the fault log, for reports, and so
is each SDK retry (kind `retry`), whatever caused it.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError

KINDS = ("throttle", "server-error", "connection")
_lock = threading.Lock()


class _Body:
    """The minimal raw response botocore reads a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._data


def _response(request: Any, service: str, kind: str) -> AWSResponse:
    if service == "s3":
        code, status = ("SlowDown", 503) if kind == "throttle" else ("InternalError", 500)
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    else:
        code, status = (
            ("ThrottlingException", 400) if kind == "throttle" else ("InternalServerError", 500)
        )
        body = json.dumps({"__type": f"com.amazonaws#{code}", "message": "injected"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, HTTPHeaders.from_dict(headers), _Body(body))


def install(rate: float, log_path: str | None, seed: int | None = None) -> None:
    """Make `rate` of every client's requests in this process fail with an injected fault."""
    from botocore.client import BaseClient

    chooser = random.Random(seed)
    original_init = BaseClient.__init__

    def record(service: str, operation: str, kind: str) -> None:
        if log_path:
            with _lock, open(log_path, "a", encoding="utf-8") as log:  # noqa: PTH123
                log.write(json.dumps({"service": service, "op": operation, "kind": kind}) + "\n")

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        service = self.meta.service_model.service_name

        def before_send(request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
            operation = event_name.rsplit(".", 1)[-1]
            # botocore numbers each attempt in this header: a second attempt is an SDK retry.
            attempt = request.headers.get("amz-sdk-request") or ""
            if isinstance(attempt, bytes):
                attempt = attempt.decode()
            if "attempt=1;" not in attempt and "attempt=" in attempt:
                record(service, operation, "retry")
            if chooser.random() >= rate:
                return None
            kind = chooser.choice(KINDS)
            record(service, operation, kind)
            if kind == "connection":
                raise EndpointConnectionError(endpoint_url=request.url)
            return _response(request, service, kind)

        self.meta.events.register("before-send", before_send)

    BaseClient.__init__ = init  # type: ignore[method-assign]  # every client, for the process
