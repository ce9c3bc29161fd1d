"""A sandbox served over HTTP for the tests of this folder, and clients that reach it."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
import pytest

from objbackup.sandbox.server import Sandbox

T = TypeVar("T")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as running:
        yield running


@pytest.fixture
def session(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    for name, value in sandbox.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.Session(region_name=sandbox.region)


@pytest.fixture
def client(session: boto3.Session, sandbox: Sandbox) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return session.client(service, endpoint_url=sandbox.endpoint_url)

    return make


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or probe}")
        time.sleep(0.1)


def function_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn.py", source)
    return buffer.getvalue()
