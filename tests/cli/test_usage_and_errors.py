"""Global options, usage errors (exit 2) and operational errors (exit 1, one line and a hint)."""

from __future__ import annotations

import json
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError
from typer.testing import CliRunner

from objbackup.cli.app import app
from objbackup.cli.errors import explain
from objbackup.deploy.errors import NotDeployed

COMMANDS = ("deploy", "list", "clean", "status", "teardown", "sandbox", "demo")


def invoke(*args: str, input: str | None = None) -> object:
    return CliRunner().invoke(app, list(args), input=input)


def test_help_lists_every_command_and_global_option() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in (*COMMANDS, "--name", "--region", "--profile", "--endpoint-url", "--debug"):
        assert word in result.stdout
    for variable in ("OBJBACKUP_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        assert variable in result.stdout
    assert "AWS_ENDPOINT_URL" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.stdout
    assert f"objbackup {command}" in result.stdout


def test_sandbox_options_and_defaults() -> None:
    text = CliRunner().invoke(app, ["sandbox", "--help"]).stdout
    assert "--host" in text and "127.0.0.1" in text
    assert "--port" in text and "4566" in text


def test_sandbox_forwards_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from objbackup.sandbox import server

    calls: list[tuple[str, int, float, str | None]] = []

    def run(host: str, port: int, fault_rate: float, fault_log: str | None) -> None:
        calls.append((host, port, fault_rate, fault_log))

    monkeypatch.setattr(server, "run", run)
    assert CliRunner().invoke(app, ["sandbox"]).exit_code == 0
    wanted = ["sandbox", "--host", "0.0.0.0", "--port", "4570", "--fault-rate", "0.05"]
    assert CliRunner().invoke(app, [*wanted, "--fault-log", "f.jsonl"]).exit_code == 0
    assert calls == [("127.0.0.1", 4566, 0.0, None), ("0.0.0.0", 4570, 0.05, "f.jsonl")]
    assert CliRunner().invoke(app, ["sandbox", "--fault-rate", "1.5"]).exit_code == 2


def test_demo_forwards_to_cli_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fake = types.ModuleType("objbackup.cli.demo")
    fake.run = lambda: calls.append("run")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objbackup.cli.demo", fake)
    assert CliRunner().invoke(app, ["demo"]).exit_code == 0
    assert calls == ["run"]


def test_demo_missing_is_an_operational_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "objbackup.cli.demo", None)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 1
    assert "the demo is not part of this build" in result.stderr


USAGE_ERRORS = [
    ["--name", "1bad", "status"],
    ["--name", "has_underscore", "status"],
    ["--name", "x" * 43, "status"],
    ["--endpoint-url", "localhost:4566", "status"],
    ["deploy", "--retain", "0"],
    ["deploy", "--retain", "two"],
    ["deploy", "--grace", "-1"],
    ["deploy", "--grace", "nan"],
    ["deploy", "--grace", "inf"],
    ["deploy", "--retain", "101"],
    ["deploy", "--grace", "1e12"],
    ["deploy", "--grace", "31536001"],
    ["deploy", "--schedule", "every minute"],
    ["deploy", "--schedule", "rate(5 minute)"],
    ["deploy", "--schedule", "rate(1 minutes)"],
    ["deploy", "--schedule", "rate(0 minutes)"],
    ["deploy", "--schedule", "cron(* * *)"],
    ["deploy", "--source-bucket", "Bad_Bucket"],
    ["deploy", "--source-bucket", "ab"],
    ["deploy", "--source-bucket", "192.168.1.1"],
    ["deploy", "--source-bucket", "a..b"],
    ["list"],
    ["list", "key", "--disowned"],
    ["list", "key", "--older-than", "5"],
    ["list", "--disowned", "--older-than", "-1"],
    ["list", "--disowned", "--older-than", "1e12"],
    ["clean"],
    ["clean", "--dry-run"],
    ["status", "--bogus"],
    ["teardown", "--force"],
    ["sandbox", "--port", "70000"],
    ["no-such-command"],
]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=[" ".join(a) for a in USAGE_ERRORS])
def test_usage_errors_exit_2_before_any_aws_call(aws_credentials: None, args: list[str]) -> None:
    # No moto here: a usage error that reached AWS would fail differently (exit 1).
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["list", "a"],
        ["list", "--disowned"],
        ["clean", "--now"],
        ["teardown", "--yes"],
        ["teardown"],
    ],
)
def test_not_deployed(moto_aws: None, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "Error: no objbackup deployment named objbackup in region us-east-1",
        "Hint: run `objbackup deploy` to create it, or check --name and --region",
    ]
    if "--json" in args:  # and for scripts, the same as a JSON document on stdout
        assert json.loads(result.stdout) == {
            "error": "no objbackup deployment named objbackup in region us-east-1",
            "hint": "run `objbackup deploy` to create it, or check --name and --region",
            "exit_code": 1,
        }
    else:
        assert result.stdout == ""


def test_name_and_region_come_from_the_environment_or_the_options(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBJBACKUP_NAME", "prod")
    result = CliRunner().invoke(app, ["status"])
    assert "no objbackup deployment named prod in region us-east-1" in result.stderr
    result = CliRunner().invoke(app, ["--name", "dev", "--region", "eu-west-1", "status"])
    assert "no objbackup deployment named dev in region eu-west-1" in result.stderr
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    result = CliRunner().invoke(app, ["status"])
    assert "no objbackup deployment named prod in region ap-south-1" in result.stderr


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials and no region anywhere: environment, files, instance metadata."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "OBJBACKUP_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_missing_credentials(no_aws_config: None) -> None:
    result = CliRunner().invoke(app, ["--region", "us-east-1", "status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: no AWS credentials found",
        "Hint: run `aws configure`, pass --profile, or set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY",
    ]


def test_missing_region(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: no AWS region configured",
        "Hint: pass --region or set AWS_REGION (e.g. us-east-1)",
    ]


def test_unknown_profile(no_aws_config: None) -> None:
    result = CliRunner().invoke(app, ["--profile", "nope", "--region", "us-east-1", "status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: AWS profile 'nope' not found"


def test_debug_shows_the_traceback_and_only_then(moto_aws: None) -> None:
    quiet = CliRunner().invoke(app, ["status"])
    assert quiet.exit_code == 1 and "Traceback" not in quiet.output
    assert isinstance(quiet.exception, SystemExit)
    loud = CliRunner().invoke(app, ["--debug", "status"])
    assert loud.exit_code == 1
    assert isinstance(loud.exception, NotDeployed)  # propagates: Python prints the traceback


def test_unexpected_failure_says_how_to_see_more(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objbackup.deploy import status

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(status, "deployment_status", boom)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: unexpected RuntimeError: boom",
        "Hint: run again with --debug for the traceback",
    ]


def test_aws_client_error_shows_code_and_message(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objbackup.deploy import status

    def denied(*args: object, **kwargs: object) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not for you"}}, "DescribeStacks"
        )

    monkeypatch.setattr(status, "deployment_status", denied)
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == (
        "AWS error AccessDenied in DescribeStacks: not for you"
    )
    assert result.stderr.splitlines()[0] == (
        "Error: AWS error AccessDenied in DescribeStacks: not for you"
    )


def test_a_cause_is_always_one_line() -> None:
    page = "<html>\n<title>500 Internal Server Error</title>\n" + "x" * 1000 + "\n</html>"
    cause, _ = explain(RuntimeError(page))
    assert "\n" not in cause and len(cause) <= 400 and cause.endswith("...")
    assert cause.startswith("unexpected RuntimeError: <html> <title>500 Internal Server Error")


def test_explain_botocore_failures() -> None:
    expired = ClientError({"Error": {"Code": "ExpiredToken", "Message": "old"}}, "Query")
    assert explain(expired) == (
        "AWS error ExpiredToken in Query: old",
        "refresh your AWS credentials (e.g. `aws sso login`)",
    )
    cause, hint = explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert "http://127.0.0.1:1" in cause and hint and "--endpoint-url" in hint
    assert explain(NoRegionError())[1] == "pass --region or set AWS_REGION (e.g. us-east-1)"


def test_the_console_script_exit_codes_and_traceback(no_aws_config: None) -> None:
    """As a shell sees it: 2 for usage, 1 with one cause line, a traceback only with --debug."""
    import os
    import subprocess

    script = Path(sys.executable).with_name("objbackup")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), *args], capture_output=True, text=True, env=dict(os.environ), check=False
        )

    usage = run("deploy", "--retain", "0")
    assert usage.returncode == 2 and "--retain" in usage.stderr
    quiet = run("--region", "us-east-1", "status")
    assert (quiet.returncode, quiet.stdout) == (1, "")
    assert quiet.stderr.splitlines()[0] == "Error: no AWS credentials found"
    assert "Traceback" not in quiet.stderr
    loud = run("--debug", "--region", "us-east-1", "status")
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().endswith("AwsSetupError: no AWS credentials found")


# --- hostile input the operator may hand the CLI -------------------------------------

MORE_USAGE_ERRORS = [
    ["deploy", "--retain", "abc"],
    ["deploy", "--retain", "1.5"],
    ["deploy", "--grace", "abc"],
    ["deploy", "--grace", ""],
    ["list", "--disowned", "--older-than", "abc"],
    ["--name", "", "status"],
    ["--name", "a/b", "status"],
    ["--endpoint-url", "ftp://127.0.0.1:1", "status"],
]


@pytest.mark.parametrize("args", MORE_USAGE_ERRORS, ids=[" ".join(a) for a in MORE_USAGE_ERRORS])
def test_wrong_types_are_usage_errors(aws_credentials: None, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output and result.stdout == ""


def _one_cause_and_a_hint(stderr: str) -> tuple[str, str]:
    """Exactly an `Error:` line and a `Hint:` line, and no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), lines
    assert "Traceback" not in stderr
    return lines[0], lines[1]


def test_unknown_deployment_name(moto_aws: None) -> None:
    result = CliRunner().invoke(app, ["--name", "no-such-deployment", "list", "some/key"])
    assert (result.exit_code, result.stdout) == (1, "")
    cause, hint = _one_cause_and_a_hint(result.stderr)
    assert cause == "Error: no objbackup deployment named no-such-deployment in region us-east-1"
    assert "--name" in hint


def test_nonexistent_profile_from_the_environment(
    no_aws_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "ghost")
    result = CliRunner().invoke(app, ["--region", "us-east-1", "status"])
    assert (result.exit_code, result.stdout) == (1, "")
    cause, hint = _one_cause_and_a_hint(result.stderr)
    assert cause == "Error: AWS profile 'ghost' not found"
    assert "AWS_PROFILE" in hint


def test_unreachable_endpoint(aws_credentials: None) -> None:
    from objbackup.sandbox.server import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(app, ["--endpoint-url", endpoint, "status", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["exit_code"] == 1
    cause, hint = _one_cause_and_a_hint(result.stderr)
    assert endpoint in cause and "Could not connect" in cause
    assert "--endpoint-url" in hint


class _Refusing(BaseHTTPRequestHandler):
    """Answers every AWS request with one error, in the request's protocol (XML or JSON)."""

    code = "ExpiredToken"
    status = 403

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        message = "The security token included in the request is expired"
        if self.headers.get("X-Amz-Target"):  # JSON protocols (DynamoDB, Lambda, ...)
            body = json.dumps({"__type": self.code, "message": message}).encode()
            kind = "application/x-amz-json-1.0"
        else:  # query protocols (CloudFormation, SQS, STS)
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{self.code}</Code><Message>{message}</Message>"
                "</Error><RequestId>r-1</RequestId></ErrorResponse>"
            ).encode()
            kind = "text/xml"
        self.send_response(self.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        """Quiet: the test reads the CLI's output, not the server's."""


@pytest.mark.parametrize(
    ("code", "hint_word"),
    [
        ("ExpiredToken", "refresh"),
        ("ExpiredTokenException", "refresh"),
        ("RequestExpired", "clock"),
    ],
)
@pytest.mark.parametrize("args", [["status"], ["list", "k", "--json"], ["clean", "--now"]])
def test_expired_credentials(
    aws_credentials: None, code: str, hint_word: str, args: list[str]
) -> None:
    handler = type("Refusing", (_Refusing,), {"code": code})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        result = CliRunner().invoke(app, ["--endpoint-url", endpoint, *args])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1
    assert (json.loads(result.stdout)["exit_code"] if "--json" in args else result.stdout) in (
        1,
        "",
    )
    cause, hint = _one_cause_and_a_hint(result.stderr)
    assert cause.startswith(f"Error: AWS error {code} in ")
    assert cause.endswith("The security token included in the request is expired")
    assert hint_word in hint
