"""`deploy --retain` lowered: the plan says so, and the deploy prunes every object at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from objbackup.core.config import Settings
from objbackup.core.records import ACTIVE
from objbackup.core.table import CopyTable
from tests.cli.conftest import Cli
from tests.harness import FakeClock, Harness
from tests.queue import drain

# "a@1" is a key whose copy names sort among those of "a"; the long key's copy names are hashed.
KEYS = ["a", "a@1", "dir/b", "long/" + "x" * 1000]


def replicate(cli: Cli, status: dict[str, Any]) -> None:
    """Run the queued events through a replicator with the deployed retain (the Lambda's work)."""
    settings = Settings(
        source_bucket=status["source_bucket"],
        backup_bucket=status["backup_bucket"],
        table=status["table"],
        retain=status["retain"],
    )
    drain(
        cli.client("sqs"),
        status["queue_url"],
        Harness(settings, cli.client("s3"), cli.client("dynamodb"), FakeClock()),
    )


def active_copies(cli: Cli, status: dict[str, Any], key: str) -> list[str]:
    """The key's active copy names, newest first."""
    table = CopyTable(cli.client("dynamodb"), status["table"])
    return [r.copy_name for r in table.copies(key) if r.status == ACTIVE]


def backup_names(cli: Cli, status: dict[str, Any]) -> set[str]:
    listed = cli.client("s3").list_objects_v2(Bucket=status["backup_bucket"])
    return {item["Key"] for item in listed.get("Contents", [])}


def write_versions(cli: Cli, status: dict[str, Any], keys: list[str], versions: int) -> None:
    s3 = cli.client("s3")
    for version in range(versions):
        for key in keys:
            s3.put_object(Bucket=status["source_bucket"], Key=key, Body=f"{key} {version}".encode())
        replicate(cli, status)


@pytest.mark.slow  # several deploys
def test_lowering_retain_prunes_every_object_in_the_deploy(cli: Cli) -> None:
    cli.ok("deploy", "--yes", "--retain", "5")
    status = cli.json("status")
    write_versions(cli, status, KEYS, 5)
    write_versions(cli, status, ["one"], 1)
    before = {key: active_copies(cli, status, key) for key in [*KEYS, "one"]}
    assert [len(before[key]) for key in KEYS] == [5] * len(KEYS)
    copies = backup_names(cli, status)

    dry = cli.ok("deploy", "--retain", "2", "--dry-run")
    said = " ".join(dry.stderr.split())
    assert (
        "retain lowered from 5 to 2: after the update, copies beyond the newest 2 of each object "
        "are pruned" in said
    )
    assert backup_names(cli, status) == copies and cli.json("status")["retain"] == 5

    done = json.loads(cli.ok("deploy", "--retain", "2", "--yes", "--json").stdout)
    assert done["prune"] == {
        "from": 5,
        "to": 2,
        "unfinished": False,
        "message": "retain lowered from 5 to 2: after the update, copies beyond the newest 2 of "
        "each object are pruned (the backup bucket is listed)",
    }
    assert done["pruned"] == {
        "listed": 5 * len(KEYS) + 1,
        "checked": len(KEYS),
        "pruned": 3 * len(KEYS),
        "pruned_objects": len(KEYS),
        "left": 0,
    }
    status = cli.json("status")
    assert status["retain"] == 2
    for key in KEYS:
        assert active_copies(cli, status, key) == before[key][:2], key
    assert active_copies(cli, status, "one") == before["one"]
    kept = {name for names in before.values() for name in names[:2]}
    assert backup_names(cli, status) == kept
    assert cli.json("verify")["consistent"] is True
    assert "No changes" in cli.ok("deploy", "--yes").stderr


@pytest.mark.slow  # several deploys
def test_a_prune_cut_short_is_finished_by_the_next_deploy(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objbackup.deploy import deployer

    cli.ok("deploy", "--yes", "--retain", "3")
    status = cli.json("status")
    write_versions(cli, status, ["k"], 3)

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the network went away")

    with monkeypatch.context() as patch:
        patch.setattr(deployer, "prune_over_retention", crash)
        stopped = cli("deploy", "--yes", "--retain", "1")
    assert stopped.exit_code == 1
    said = " ".join(stopped.stderr.split())
    assert "Error: the stacks are updated, but the prune to retain 1 stopped" in said
    assert "Hint: run `objbackup deploy` again to finish the prune" in said
    status = cli.json("status")
    assert status["retain"] == 1 and len(active_copies(cli, status, "k")) == 3

    again = cli.ok("deploy", "--yes")  # the retain is the deployed one now
    assert "an earlier deploy's prune did not finish" in " ".join(again.stderr.split())
    assert "Pruned 2 copies of 1 object beyond the newest 1" in " ".join(again.stderr.split())
    assert len(active_copies(cli, status, "k")) == 1
    assert "No changes" in cli.ok("deploy", "--yes").stderr
