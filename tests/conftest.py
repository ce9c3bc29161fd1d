"""Shared fixtures: moto in process, fake credentials, and a guard against any DynamoDB Scan;
the suite's markers (e2e by folder or fixture) and Hypothesis profiles (tests/profiles.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from moto import mock_aws

import tests.profiles  # noqa: F401 - registers the "ci" and "dev" Hypothesis profiles
from objbackup.sandbox.patches import install_all
from tests import speedups
from tests.harness import FAKE_AWS_ENV, Harness

SCANS: list[str] = []
# Tests that run a sandbox over HTTP: every test of these folders, and any test elsewhere that asks
# for one of these fixtures, is marked e2e (so `make check`'s `-m "not e2e"` leaves it out).
E2E_FOLDERS = ("e2e", "sandbox")
E2E_FIXTURES = frozenset({"tools", "sandbox", "e2e_sandbox"})
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark e2e by where a test lives or what it uses, so new sandbox tests need no mark."""
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if folder in E2E_FOLDERS or E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def parse_once() -> Iterator[None]:
    """Service models and templates parsed once per process (tests/speedups.py says why)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        speedups.install(monkeypatch)
        yield


@pytest.fixture(scope="session", autouse=True)
def no_scan_anywhere() -> Iterator[None]:
    """Invariant 6: fail the suite if any client in this process issues a DynamoDB Scan."""
    original = vars(BaseClient)["_make_api_call"]  # private: the stubs leave it out

    def guarded(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb" and operation_name == "Scan":
            SCANS.append(repr(api_params))
            raise AssertionError(f"DynamoDB Scan issued: {api_params!r}")
        return original(self, operation_name, api_params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", guarded)
        yield
    assert not SCANS, f"DynamoDB Scan issued during the suite: {SCANS}"


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can reach a real account."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can reach a real account."""
    fake_credentials(monkeypatch)


@pytest.fixture
def moto_aws(aws_credentials: None) -> Iterator[None]:
    """moto in process, with the sandbox's gap closers applied (as the sandbox serves it)."""
    install_all()
    with mock_aws():
        yield


@pytest.fixture
def system(moto_aws: None) -> Harness:
    return Harness.create()
