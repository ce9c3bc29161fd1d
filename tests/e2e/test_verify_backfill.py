"""End to end: objects that predate the deployment are backed up by `objbackup backfill`,
and `objbackup verify --repair` finds and fixes damage done with the AWS CLI, all against
`objbackup sandbox` over HTTP.

The objects predate the deployment for real: the bucket is made and filled with the AWS CLI before
`deploy --source-bucket` adopts it (and only then turns on its EventBridge delivery), so no event
for them exists anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Tools
from tests.polling import wait_for

pytestmark = pytest.mark.e2e
BUCKET = "legacy-data"
KEYS = ["old/a b.txt", "old/ü+ö%20.csv", "old/nested/deep.bin", "skip/tmp.txt"]


def _verify(tools: Tools, *args: str) -> tuple[int, dict[str, Any]]:
    result = tools.objbackup("verify", *args, "--json", check=False)
    assert result.returncode in (0, 1), result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return result.returncode, document


def _consistent(tools: Tools) -> bool:
    code, document = _verify(tools)
    return code == 0 and bool(document["consistent"])


@pytest.fixture(scope="module")
def deployed(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    here = tmp_path_factory.mktemp("bodies")
    tools.aws("s3api", "create-bucket", "--bucket", BUCKET)
    for number, key in enumerate(KEYS):
        body = here / f"{number}.txt"
        body.write_text(f"before the deployment: {key}\n")
        tools.aws("s3", "cp", str(body), f"s3://{BUCKET}/{key}")
    tools.objbackup("deploy", "--yes", "--source-bucket", BUCKET, "--exclude-prefix", "skip/")
    status: dict[str, Any] = tools.objbackup_json("status")
    return status


def test_backfill_backs_up_what_predates_the_deployment_once(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    code, before = _verify(tools)
    assert code == 1 and before["consistent"] is False
    assert sorted(f["object"] for f in before["findings"]) == sorted(KEYS[:3])
    assert {f["kind"] for f in before["findings"]} == {"missing-copy"}

    dry = tools.objbackup_json("backfill", "--dry-run")
    assert dry["dry_run"] is True and dry["sent"] == 0 and dry["excluded"] == 1
    assert sorted(dry["objects"]) == sorted(KEYS[:3])

    sent = tools.objbackup_json("backfill")
    assert (sent["listed"], sent["sent"], sent["skipped"]) == (3, 3, 0)
    wait_for(lambda: all(tools.table_active(k) for k in KEYS[:3]), timeout=90, what="the copies")
    wait_for(lambda: _consistent(tools), timeout=90, what="the backfilled copies")
    for key in KEYS[:3]:
        [copy] = tools.active(key)
        restored = tmp_path / "restored"
        tools.aws(
            "s3", "cp", f"s3://{deployed['backup_bucket']}/{copy['copy_name']}", str(restored)
        )
        assert restored.read_text() == f"before the deployment: {key}\n"
    assert tools.active("skip/tmp.txt") == []

    again = tools.objbackup_json("backfill")
    assert (again["sent"], again["skipped"]) == (0, 3), "a second backfill added something"


def test_verify_repair_fixes_damage_done_with_the_aws_cli(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    backup = deployed["backup_bucket"]
    wait_for(lambda: _consistent(tools), timeout=90, what="a consistent start")
    [lost] = tools.active(KEYS[0])
    tools.aws("s3", "rm", f"s3://{backup}/{lost['copy_name']}")
    stray = tmp_path / "stray"
    stray.write_text("nobody's copy")
    orphan = f"{KEYS[1]}@20200101T000000Z-{'0' * 32}"
    tools.aws("s3", "cp", str(stray), f"s3://{backup}/{orphan}")

    code, found = _verify(tools)
    assert code == 1
    assert sorted((f["kind"], f["object"]) for f in found["findings"]) == [
        ("missing-copy", KEYS[0]),
        ("orphan-copy", KEYS[1]),
        ("record-without-copy", KEYS[0]),
    ]
    code, dry = _verify(tools, "--repair", "--dry-run")
    assert code == 1 and dry["repaired"] == 0
    assert _verify(tools)[1]["findings"] == found["findings"], "the dry run changed something"

    code, repaired = _verify(tools, "--repair")
    assert code == 0 and repaired["remaining"] == 0 and repaired["repaired"] == 3
    actions = {f["kind"]: f["action"] for f in repaired["findings"]}
    assert actions == {
        "orphan-copy": "deleted the copy",
        "record-without-copy": "deleted the record",
        "missing-copy": "sent an Object Created event to the replicator queue",
    }
    wait_for(lambda: tools.table_active(KEYS[0]), timeout=90, what="the re-sent copy")
    wait_for(lambda: _consistent(tools), timeout=90, what="a consistent deployment again")
    [copy] = tools.active(KEYS[0])
    assert copy["copy_name"] == lost["copy_name"], "the same write, the same copy name"
