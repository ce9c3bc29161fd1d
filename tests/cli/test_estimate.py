"""`objbackup estimate`: a month's cost by line on stdout (or JSON), no AWS call and no deployment
needed; bad input is a usage error while parsing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from objbackup.cli.app import app
from objbackup.estimate import estimate, usd

ARGS = ["--writes-per-day", "100000", "--deletes-per-day", "10000", "--average-size", "1MiB"]


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["estimate", *args])


def test_the_table_gives_each_line_and_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    # No credentials and an endpoint nobody listens on: estimate never calls AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = run(*ARGS, "--stored", "1TiB", "--storage-class", "standard_ia")
    assert result.exit_code == 0, result.output
    expected = estimate(100_000, 10_000, 1024**2, "STANDARD_IA", stored=1024**4)
    assert "minimum storage duration (30 days" in result.stdout
    assert usd(expected.total) in result.stdout
    assert "restore: copies are read at once, $0.01 per GB read" in result.stderr


def test_json_is_the_function_s_result() -> None:
    result = run(*ARGS, "--storage-class", "GLACIER_IR", "--retain", "5", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    expected = estimate(100_000, 10_000, 1024**2, "GLACIER_IR", retain=5)
    assert document == json.loads(json.dumps(expected.to_json()))
    assert {"lines", "total_usd", "storage_class", "copy_lifetime_days", "prices"} <= set(document)
    assert document["restore_retrieval_per_gb_usd"] == 0.03


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--writes-per-day", "-1", "--deletes-per-day", "0", "--average-size", "1MB"], "-per-day"),
        (["--writes-per-day", "1", "--deletes-per-day", "x", "--average-size", "1MB"], "-per-day"),
        (["--writes-per-day", "1", "--deletes-per-day", "0", "--average-size", "1XB"], "1XB"),
        ([*ARGS, "--storage-class", "DEEP_ARCHIVE"], "archive class"),
        ([*ARGS, "--stored", "lots"], "lots"),
        ([*ARGS, "--retain", "0"], "--retain"),
        (["--writes-per-day", "1", "--deletes-per-day", "0", "--average-size", "0"], "1 byte"),
        (["--writes-per-day", "1", "--deletes-per-day", "0"], "--average-size"),
    ],
)
def test_bad_input_is_a_usage_error(args: list[str], says: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
