"""`restore` and `undelete` through the CLI against moto: JSON shapes, prompts, and error paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from objbackup.cli.commands import restore as restore_command
from tests.cli.conftest import Cli

KEY = "docs/a b+c.txt"
OLD, NEW = "2026-11-25T12:00:00Z~01", "2026-11-25T12:00:05Z~02"


def put_copy(
    cli: Cli, deployed: dict[str, Any], key: str, stamp: str, body: bytes, **record: str
) -> str:
    """A copy (content type, metadata, tags) and its record, as the replicator leaves them."""
    name = f"{key}@{stamp.replace('-', '').replace(':', '').replace('~', '-')}"
    cli.client("s3").put_object(
        Bucket=deployed["backup_bucket"],
        Key=name,
        Body=body,
        ContentType="text/csv",
        Metadata={"owner": "ops"},
        Tagging="team=data",
    )
    item = {
        "source_object": {"S": key},
        "copy_timestamp": {"S": stamp},
        "copy_name": {"S": name},
        "status": {"S": "active"},
        "size": {"N": str(len(body))},
    }
    item.update({k: {"S": v} for k, v in record.items()})
    cli.client("dynamodb").put_item(TableName=deployed["table"], Item=item)
    return name


def source_body(cli: Cli, deployed: dict[str, Any], key: str) -> bytes:
    body: bytes = (
        cli.client("s3").get_object(Bucket=deployed["source_bucket"], Key=key)["Body"].read()
    )
    return body


def source_keys(cli: Cli, deployed: dict[str, Any]) -> set[str]:
    listed = cli.client("s3").list_objects_v2(Bucket=deployed["source_bucket"])
    return {o["Key"] for o in listed.get("Contents", [])}


# --- restore ----------------------------------------------------------------------------------


def test_restore_latest_to_another_key_keeps_type_metadata_tags(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    put_copy(cli, deployed, KEY, OLD, b"old")
    newer = put_copy(cli, deployed, KEY, NEW, b"new")
    document = cli.json("restore", KEY, "--to", "restored/x.csv")
    assert set(document) >= {"object", "copy", "to", "dry_run", "restored", "version_id"}
    assert (document["object"], document["to"]) == (KEY, "restored/x.csv")
    assert (document["dry_run"], document["restored"], document["overwrites"]) == (
        False,
        True,
        False,
    )
    assert document["copy"]["copy_name"] == newer
    assert source_body(cli, deployed, "restored/x.csv") == b"new"
    s3 = cli.client("s3")
    head = s3.head_object(Bucket=deployed["source_bucket"], Key="restored/x.csv")
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"owner": "ops"})
    tags = s3.get_object_tagging(Bucket=deployed["source_bucket"], Key="restored/x.csv")
    assert tags["TagSet"] == [{"Key": "team", "Value": "data"}]


def test_restore_a_chosen_copy_by_timestamp_and_compact_form(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    put_copy(cli, deployed, KEY, OLD, b"old")
    put_copy(cli, deployed, KEY, NEW, b"new")
    cli.ok("restore", KEY, "--copy", OLD)
    assert source_body(cli, deployed, KEY) == b"old"
    text = cli.ok("restore", KEY, "--copy", "20261125T120005Z-02", "--yes")
    assert source_body(cli, deployed, KEY) == b"new"
    assert f"Restored {KEY} to {KEY} (over the existing object)" in text.stderr
    assert NEW in text.stdout


def test_restore_dry_run_changes_nothing(cli: Cli, deployed: dict[str, Any]) -> None:
    put_copy(cli, deployed, KEY, OLD, b"old")
    document = cli.json("restore", KEY, "--dry-run")
    assert (document["dry_run"], document["restored"], document["version_id"]) == (
        True,
        False,
        None,
    )
    assert source_keys(cli, deployed) == set()
    assert f"Would restore {KEY} to {KEY}." in cli.ok("restore", KEY, "--dry-run").stderr


def test_restore_over_an_object_needs_yes_when_nobody_can_answer(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    put_copy(cli, deployed, KEY, OLD, b"old")
    cli.client("s3").put_object(Bucket=deployed["source_bucket"], Key=KEY, Body=b"current")
    result = cli("restore", KEY)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {KEY} exists and restoring would overwrite it")
    assert "Hint: pass --yes" in result.stderr
    assert source_body(cli, deployed, KEY) == b"current"
    cli.ok("restore", KEY, "--yes")
    assert source_body(cli, deployed, KEY) == b"old"


@pytest.mark.parametrize(("answer", "code", "body"), [("y\n", 0, b"old"), ("n\n", 1, b"current")])
def test_restore_over_an_object_asks_on_a_terminal(
    cli: Cli,
    deployed: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
    body: bytes,
) -> None:
    put_copy(cli, deployed, KEY, OLD, b"old")
    cli.client("s3").put_object(Bucket=deployed["source_bucket"], Key=KEY, Body=b"current")
    monkeypatch.setattr(restore_command, "stdin_is_terminal", lambda: True)
    result = cli("restore", KEY, input=answer)
    assert result.exit_code == code, result.stderr
    assert f"Overwrite {KEY} with copy {OLD}?" in result.stderr
    assert source_body(cli, deployed, KEY) == body


def test_restore_over_an_object_rewritten_while_the_operator_answered(
    cli: Cli, deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from objbackup.cli import render

    put_copy(cli, deployed, KEY, OLD, b"old")
    s3 = cli.client("s3")
    s3.put_object(Bucket=deployed["source_bucket"], Key=KEY, Body=b"current")

    def answered_yes_after_a_write(prompt: str) -> bool:
        s3.put_object(Bucket=deployed["source_bucket"], Key=KEY, Body=b"written meanwhile")
        return True

    monkeypatch.setattr(restore_command, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(render, "confirm", answered_yes_after_a_write)
    result = cli("restore", KEY)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: {KEY} changed after it was checked; nothing was overwritten"
    )
    assert "Hint: something wrote or deleted it meanwhile" in result.stderr
    assert "Traceback" not in result.stderr
    assert source_body(cli, deployed, KEY) == b"written meanwhile"


def test_restore_usage_errors_exit_2(cli: Cli) -> None:
    both = cli("restore", KEY, "--copy", OLD, "--latest")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert cli("restore").exit_code == 2
    assert cli("restore", KEY, "--to", "").exit_code == 2


def test_restore_operational_errors_exit_1_with_a_hint(cli: Cli, deployed: dict[str, Any]) -> None:
    nothing = cli("restore", "nothing-here")
    assert nothing.exit_code == 1
    assert nothing.stderr.startswith("Error: no copy of nothing-here to restore")
    assert "Hint:" in nothing.stderr
    put_copy(cli, deployed, KEY, OLD, b"old")
    wrong = cli("restore", KEY, "--copy", "2000-01-01T00:00:00Z~00")
    assert wrong.exit_code == 1 and f"Hint: run `objbackup list {KEY}`" in wrong.stderr
    missing = put_copy(cli, deployed, "gone", OLD, b"x")
    cli.client("s3").delete_object(Bucket=deployed["backup_bucket"], Key=missing)
    gone = cli("restore", "gone", "--json")
    assert gone.exit_code == 1 and json.loads(gone.stdout)["exit_code"] == 1
    assert f"copy {missing} is no longer in the backup bucket" in gone.stderr


def test_restore_and_undelete_without_a_deployment(cli: Cli) -> None:
    for args in (("restore", KEY), ("undelete", KEY)):
        result = cli("--name", "nowhere", *args)
        assert result.exit_code == 1
        assert "no objbackup deployment named nowhere" in result.stderr


# --- undelete ---------------------------------------------------------------------------------


def deleted(cli: Cli, deployed: dict[str, Any]) -> tuple[str, str]:
    at = {"status": "disowned", "disowned_at": "2020-01-01T00:00:00.000000Z"}
    return (
        put_copy(cli, deployed, KEY, OLD, b"old", **at),
        put_copy(cli, deployed, KEY, NEW, b"new", **at),
    )


def test_undelete_brings_back_the_newest_and_reactivates(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    older, newer = deleted(cli, deployed)
    document = cli.json("undelete", KEY)
    assert set(document) >= {"object", "dry_run", "restored", "copy", "reactivated"}
    assert (document["object"], document["restored"], document["dry_run"]) == (KEY, True, False)
    assert document["copy"]["copy_name"] == newer and document["resumed"] is False
    assert document["reactivated"] == [newer, older]
    assert source_body(cli, deployed, KEY) == b"new"
    head = cli.client("s3").head_object(Bucket=deployed["source_bucket"], Key=KEY)
    assert (head["ContentType"], head["Metadata"]) == ("text/csv", {"owner": "ops"})
    copies = cli.json("list", KEY)["copies"]
    assert [(c["status"], c["disowned_at"]) for c in copies] == [("active", None)] * 2
    assert cli.json("list", "--disowned")["disowned"] == []


def test_undelete_text_and_dry_run(cli: Cli, deployed: dict[str, Any]) -> None:
    older, newer = deleted(cli, deployed)
    dry = cli.ok("undelete", KEY, "--dry-run")
    assert f"Would undelete {KEY} and reactivate 2 copies." in dry.stderr
    assert newer in dry.stdout and older in dry.stdout
    assert source_keys(cli, deployed) == set()
    assert {c["status"] for c in cli.json("list", KEY)["copies"]} == {"disowned"}
    done = cli.ok("undelete", KEY)
    assert f"Undeleted {KEY}; 2 copies active again." in done.stderr


def test_undelete_of_an_existing_object_points_to_restore(
    cli: Cli, deployed: dict[str, Any]
) -> None:
    deleted(cli, deployed)
    cli.client("s3").put_object(Bucket=deployed["source_bucket"], Key=KEY, Body=b"back")
    result = cli("undelete", KEY, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["exit_code"] == 1
    assert result.stderr.startswith(f"Error: {KEY} exists in the source bucket")
    assert f"Hint: to bring back an older content, run `objbackup restore {KEY}`" in result.stderr


def test_undelete_after_the_clean_exits_1(cli: Cli, deployed: dict[str, Any]) -> None:
    deleted(cli, deployed)
    assert cli.json("clean", "--now")["deleted"] == 2
    result = cli("undelete", KEY)
    assert result.exit_code == 1
    assert "has no copy to undelete: objbackup never backed it up, or the grace period is over" in (
        result.stderr
    )
    assert "Hint: no copy of it remains" in result.stderr


def test_undelete_usage_error_exits_2(cli: Cli) -> None:
    assert cli("undelete").exit_code == 2
    assert cli("undelete", KEY, "--bogus").exit_code == 2
