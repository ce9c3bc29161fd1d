"""Caches for the in-process tests: the same calls and the same answers, computed once per test
process instead of once per use. Profiled on CLI tests in moto, they were about 60% of the CPU.

- Every botocore session shares one data loader, as the clients of one session already do: each
  `boto3.Session()` (a command, a function invocation) otherwise parses the service models' JSON
  again (`botocore.loaders.create_loader`, called by each new session).
- moto's CloudFormation parses a template body once with its own YAML loader and hands each stack,
  change set or validation a deep copy: it parses with the pure-Python `yaml.Loader`, twice per
  stack (the stack and its change set).
- Typer's CliRunner builds the click command from the app again at each `invoke` (about 15 ms):
  built once, as the `objbackup` process builds it once (the tests patch what commands call, never
  the commands themselves).
- moto gives every KMS key, symmetric ones too, a freshly generated RSA-2048 private key (about
  0.1 s each), used only by asymmetric Sign/Verify/GetPublicKey, which nothing here calls: keys of
  one spec share one.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import botocore.loaders
import botocore.session
import pytest
import yaml


@functools.cache
def _loader(search_path_string: str | None = None) -> Any:
    return botocore.loaders.create_loader(search_path_string)


@functools.lru_cache(maxsize=128)
def _parsed(text: str, loader: type) -> Any:
    return yaml.load(text, Loader=loader)


class _CachedYaml:
    """The `yaml` module as moto's CloudFormation sees it: `load` of a string is cached."""

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)

    def load(self, stream: Any, Loader: type) -> Any:
        if not isinstance(stream, str):
            return yaml.load(stream, Loader=Loader)
        # A failed parse raises and is not cached; moto then reads the body as JSON.
        return copy.deepcopy(_parsed(stream, Loader))


def install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply the caches for as long as `monkeypatch` lives (the test session)."""
    from moto.cloudformation import models, responses
    from moto.kms import models as kms_models
    from typer import testing

    monkeypatch.setattr(botocore.session, "create_loader", _loader)
    cached = _CachedYaml()
    monkeypatch.setattr(models, "yaml", cached)
    monkeypatch.setattr(responses, "yaml", cached)
    # Private names of typer and moto (neither exports them): pinned by tests/unit/test_speedups.py.
    command = testing._get_command  # type: ignore[attr-defined]
    monkeypatch.setattr(testing, "_get_command", functools.cache(command))
    key = kms_models.generate_private_key  # type: ignore[attr-defined]
    monkeypatch.setattr(kms_models, "generate_private_key", functools.cache(key))
