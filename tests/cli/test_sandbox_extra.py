"""moto is the `sandbox` extra: without it, `sandbox` and `demo` fail with the command that
installs it, and every other command still imports and runs (the CLI never imports moto at its
own import)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from objbackup.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "pip install 'objbackup[sandbox]'"

# A Python without moto: a finder ahead of all others refuses it, as a missing install would.
WITHOUT_MOTO = """
import sys

class NoMoto:
    def find_spec(self, name, path=None, target=None):
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoMoto())
sys.argv = ["objbackup", *sys.argv[1:]]
from objbackup.cli.app import main

try:
    main()
finally:
    assert not [m for m in sys.modules if m.split(".")[0] == "moto"], "moto was imported"
"""


def objbackup_without_moto(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MOTO, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["sandbox", "demo"])
def test_the_sandbox_without_moto_names_the_install(command: str) -> None:
    result = objbackup_without_moto(command)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "Error: the sandbox needs moto: no module named 'moto'",
        f"Hint: {INSTALL}",
    ]
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["deploy", "--help"], ["status", "--help"], ["sandbox", "--help"]],
)
def test_other_commands_run_without_moto(args: list[str]) -> None:
    result = objbackup_without_moto(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_a_usage_error_is_unchanged_without_moto() -> None:
    result = objbackup_without_moto("--name", "1bad", "status")
    assert result.returncode == 2, result.stderr
    assert "moto" not in result.stderr


def test_in_process_a_hidden_moto_stops_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)
    for command in ("sandbox", "demo"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 1
        assert f"Hint: {INSTALL}" in result.stderr
