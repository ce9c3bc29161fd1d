"""Output tried as a new user would, piped and scripted: never wrapped, errors as JSON with
--json, no waiting for an answer that cannot come, and a fast failure on an unreachable endpoint."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from objbackup.deploy.connection import Connection
from tests.cli.conftest import Cli
from tests.cli.test_query_commands import put_record

LONG_KEY = "reports/" + "quarterly-revenue-breakdown-" * 4 + "final.csv"
STAMP = "2026-12-01T10:20:30Z~0000000000000000000000000001"


def test_output_that_is_not_a_terminal_is_never_wrapped(
    cli: Cli, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # rich's default for a pipe is then 80
    name = put_record(cli, deployed, LONG_KEY, STAMP)
    listed = cli.ok("list", LONG_KEY)
    lines = listed.stdout.splitlines()
    assert any(LONG_KEY in line for line in lines), listed.stdout
    row = next(line for line in lines if name in line)
    assert STAMP in row
    status = cli.ok("status").stdout
    assert any(deployed["backup_bucket"] in line for line in status.splitlines())
    assert any(deployed["queue_url"] in line for line in status.splitlines())
    # And what was pasted from it works.
    restored = cli.json("restore", LONG_KEY, "--copy", STAMP, "--dry-run")
    assert restored["copy"]["copy_timestamp"] == STAMP


def test_json_errors_are_json_on_stdout_with_the_exit_code(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    failed = cli("restore", "never-written", "--json")
    assert failed.exit_code == 1
    document = json.loads(failed.stdout)
    assert set(document) == {"error", "hint", "exit_code"} and document["exit_code"] == 1
    assert failed.stderr.startswith("Error: ")  # the human lines stay on stderr
    usage = cli("restore", "k", "--copy", "x", "--latest", "--json")
    assert usage.exit_code == 2
    assert json.loads(usage.stdout)["exit_code"] == 2
    assert "not both" in json.loads(usage.stdout)["error"]


def test_deploy_and_teardown_without_a_terminal_end_with_a_hint(cli: Cli) -> None:
    deploy = cli("deploy")  # CliRunner's stdin is no terminal, and nothing is piped in
    assert deploy.exit_code == 1
    assert "Hint: pass --yes" in deploy.stderr and "Aborted" not in deploy.output
    assert cli("status").exit_code == 1  # nothing was deployed
    cli.ok("deploy", "--yes")
    teardown = cli("teardown")
    assert teardown.exit_code == 1 and "Hint: pass --yes" in teardown.stderr
    assert cli("status").exit_code == 0  # nothing was torn down
    # An answer piped in is still read.
    assert cli("teardown", input="n\n").exit_code == 1
    assert cli("status").exit_code == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed once the block ends: connections are refused


def test_an_unreachable_endpoint_fails_after_two_connection_attempts(
    aws_credentials: None,
) -> None:
    connection = Connection(endpoint_url=f"http://127.0.0.1:{_closed_port()}", region="us-east-1")
    sts = connection.client("sts")
    attempts: list[str] = []
    sts.meta.events.register("before-send", lambda **kwargs: attempts.append("sent"))
    with pytest.raises(EndpointConnectionError):
        sts.get_caller_identity()
    # Standard retry mode alone makes 8 attempts with backoff (7 s and more); fail fast makes 2.
    assert len(attempts) == 2


def test_restore_copy_takes_a_unique_prefix_and_lists_an_ambiguous_one(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    put_record(cli, deployed, "k", "2026-12-01T10:20:30Z~0001")
    put_record(cli, deployed, "k", "2026-12-01T10:21:00Z~0002")
    plan = cli.json("restore", "k", "--copy", "2026-12-01T10:20", "--dry-run")
    assert plan["copy"]["copy_timestamp"] == "2026-12-01T10:20:30Z~0001"
    compact = cli.json("restore", "k", "--copy", "20261201T1021", "--dry-run")
    assert compact["copy"]["copy_timestamp"] == "2026-12-01T10:21:00Z~0002"
    ambiguous = cli("restore", "k", "--copy", "2026-12-01T10:2", "--dry-run")
    assert ambiguous.exit_code == 2
    assert "2026-12-01T10:20:30Z~0001" in ambiguous.stderr
    assert "2026-12-01T10:21:00Z~0002" in ambiguous.stderr
    assert cli("restore", "k", "--copy", "2027", "--dry-run").exit_code == 1


def test_undelete_of_a_key_that_never_had_a_copy_says_so(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    result = cli("undelete", "never-written")
    assert result.exit_code == 1
    assert "has no copy to undelete: objbackup never backed it up" in result.stderr
    assert "has no disowned copy" not in result.stderr  # what it said before


def test_the_plan_of_a_redeploy_does_not_call_the_source_bucket_new(cli: Cli) -> None:
    first = cli.ok("deploy", "--dry-run")
    assert "source: a new bucket" in first.stderr
    cli.ok("deploy", "--yes")
    again = cli.ok("deploy", "--retain", "5", "--dry-run")
    assert "a new bucket" not in again.stderr
    assert "source: the bucket objbackup created" in again.stderr
