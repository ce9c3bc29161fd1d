"""Options several commands take are declared once (cli/options.py): every --json reads the same,
and every --dry-run and --yes is the same switch, whichever command it belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
import typer.main

from objbackup.cli import options
from objbackup.cli.app import app

# What makes two declarations the same option, help text aside.
DECLARATION = (
    *("name", "opts", "secondary_opts", "is_flag", "default", "multiple", "required"),
    *("hidden", "envvar", "metavar", "count", "is_eager", "expose_value", "callback"),
)


def parameters(command: Any, path: str = "objbackup") -> Iterator[tuple[str, Any]]:
    """Every parameter of every command and group, with the command line that reaches it."""
    for parameter in command.params:
        yield path, parameter
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from parameters(sub, f"{path} {name}")


def taking(flag: str) -> dict[str, Any]:
    """The commands that declare `flag`, each with its parameter."""
    found = dict((path, p) for path, p in parameters(typer.main.get_command(app)) if flag in p.opts)
    assert len(found) >= 2, f"{flag} is no longer shared: {sorted(found)}"
    return found


def declaration(parameter: Any) -> tuple[Any, ...]:
    return tuple(getattr(parameter, attribute) for attribute in DECLARATION)


def test_every_json_option_is_the_shared_one() -> None:
    shared = get_args(options.AsJson)[1]
    found = taking("--json")
    assert {path: p.help for path, p in found.items()} == dict.fromkeys(found, shared.help)
    first = declaration(next(iter(found.values())))
    assert {path: declaration(p) for path, p in found.items()} == dict.fromkeys(found, first)
    # status, list, clean, verify, backfill, restore, undelete, estimate, dlq, logs, deploy
    assert len(found) >= 11


@pytest.mark.parametrize("flag", ["--dry-run", "--yes"])
def test_dry_run_and_yes_are_declared_alike(flag: str) -> None:
    """Their help says what the command would do, so it differs; the switch itself does not."""
    found = taking(flag)
    first = declaration(next(iter(found.values())))
    assert {path: declaration(p) for path, p in found.items()} == dict.fromkeys(found, first)
    assert first[DECLARATION.index("default")] is False
