"""A sandbox served over HTTP for the tests of this folder, and clients that reach it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from botocore.client import BaseClient

from objbackup.deploy.connection import ServiceClients, session_client
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


class SandboxClients(ServiceClients):
    """`clients("s3")`: a client of the sandbox's endpoint, typed by the service's name."""

    def __init__(self, session: boto3.Session, endpoint_url: str) -> None:
        self.session = session
        self.endpoint_url = endpoint_url

    def _client(self, service: str) -> BaseClient:
        return session_client(self.session, service, endpoint_url=self.endpoint_url)

    __call__ = ServiceClients.client


@pytest.fixture
def client(session: boto3.Session, sandbox: Sandbox) -> SandboxClients:
    return SandboxClients(session, sandbox.endpoint_url)


def function_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn.py", source)
    return buffer.getvalue()
