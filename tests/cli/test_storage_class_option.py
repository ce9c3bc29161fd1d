"""`deploy --storage-class`: the plan and `status` show it, the function's environment carries it
to the copier (a copy made with the deployed settings is in that class), later deploys keep it,
and an archive class restore could not read at once is a usage error before any AWS call."""

from __future__ import annotations

import pytest

from objbackup.core.config import Settings
from tests.cli.conftest import Cli
from tests.harness import FakeClock, Harness
from tests.queue import drain


def test_the_storage_class_reaches_the_copies_and_is_kept(cli: Cli) -> None:
    planned = cli.ok("deploy", "--dry-run", "--json", "--storage-class", "standard_ia")
    assert '"storage_class": "STANDARD_IA"' in planned.stdout
    assert "copies in STANDARD_IA (instant restore; a fee per GB read" in " ".join(
        planned.stderr.split()
    )
    cli.ok("deploy", "--yes", "--storage-class", "STANDARD_IA")
    status = cli.json("status")
    assert status["storage_class"] == "STANDARD_IA"
    assert "copy storage class" in cli.ok("status").stdout
    assert "No changes" in cli.ok("deploy").stderr  # kept when left out
    cli.ok("deploy", "--yes", "--retain", "4")
    assert cli.json("status")["storage_class"] == "STANDARD_IA"

    env = cli.client("lambda").get_function_configuration(
        FunctionName=status["replicator_function"]
    )["Environment"]["Variables"]
    settings = Settings.from_env(env)
    assert settings.storage_class == "STANDARD_IA"
    s3 = cli.client("s3")
    s3.put_object(Bucket=status["source_bucket"], Key="ledger.csv", Body=b"1,2,3")
    system = Harness(settings, s3, cli.client("dynamodb"), FakeClock())
    drain(cli.client("sqs"), status["queue_url"], system)
    [record] = system.copies("ledger.csv")
    head = s3.head_object(Bucket=status["backup_bucket"], Key=record.copy_name)
    assert head["StorageClass"] == "STANDARD_IA"


def test_a_first_deploy_writes_standard_copies(cli: Cli) -> None:
    assert cli.json("deploy", "--yes")["settings"]["storage_class"] == "STANDARD"
    assert cli.json("status")["storage_class"] == "STANDARD"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("GLACIER", "GLACIER is an archive class"),
        ("DEEP_ARCHIVE", "DEEP_ARCHIVE is an archive class"),
        ("ONEZONE_IA", "must be one of STANDARD, STANDARD_IA"),
        ("", "must be one of STANDARD, STANDARD_IA"),
    ],
)
def test_a_class_copies_may_not_be_written_in_is_a_usage_error(
    cli: Cli, value: str, says: str
) -> None:
    result = cli("deploy", "--yes", "--storage-class", value)
    assert result.exit_code == 2, result.stderr
    # The error box wraps its text: compare it without the frame and the line breaks.
    text = " ".join(result.stderr.replace("│", " ").split())
    assert says in text and "Traceback" not in result.output
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []
