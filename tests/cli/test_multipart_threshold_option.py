"""The hidden `deploy --multipart-threshold`: it reaches the replicator and sticks like --retain."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from objbackup.cli.app import app
from objbackup.deploy.errors import InvalidSetting
from objbackup.deploy.plan import DeployOptions, DeploySettings, resolve_settings
from tests.cli.conftest import Cli


def _replicator_threshold(cli: Cli) -> str:
    function = cli.json("status")["replicator_function"]
    config = cli.client("lambda").get_function_configuration(FunctionName=function)
    value: str = config["Environment"]["Variables"]["OBJBACKUP_MULTIPART_THRESHOLD"]
    return value


@pytest.mark.slow  # several deploys
def test_threshold_reaches_the_replicator_and_is_kept_by_later_deploys(cli: Cli) -> None:
    cli.ok("deploy", "--yes")
    assert _replicator_threshold(cli) == str(1024**3)  # the template's default
    cli.ok("deploy", "--yes", "--multipart-threshold", "65536")
    assert _replicator_threshold(cli) == "65536"
    again = cli.ok("deploy")  # nothing asked for: the deployed value stays, nothing changes
    assert "No changes" in again.stderr
    cli.ok("deploy", "--yes", "--retain", "4")
    assert _replicator_threshold(cli) == "65536"


def test_the_option_is_hidden_from_help() -> None:
    assert "--multipart-threshold" not in CliRunner().invoke(app, ["deploy", "--help"]).stdout


@pytest.mark.parametrize("value", ["0", "abc", str(5 * 1024**3 + 1)])
def test_out_of_range_threshold_is_a_usage_error(aws_credentials: None, value: str) -> None:
    result = CliRunner().invoke(app, ["deploy", "--multipart-threshold", value])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_settings_refuse_a_threshold_above_copy_objects_limit() -> None:
    with pytest.raises(InvalidSetting):
        DeploySettings("", 3, 10.0, "rate(1 minute)", multipart_threshold=5 * 1024**3 + 1)
    assert resolve_settings(DeployOptions(multipart_threshold=7), {}).multipart_threshold == 7
    assert resolve_settings(DeployOptions(), {}).multipart_threshold is None
