"""A sandbox served over HTTP for the tests of this folder, and clients that reach it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from objbackup.deploy.connection import session_client
from objbackup.sandbox.server import Sandbox


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
        return session_client(session, service, endpoint_url=sandbox.endpoint_url)

    return make


def function_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn.py", source)
    return buffer.getvalue()
