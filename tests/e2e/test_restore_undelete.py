"""`restore` and `undelete` end to end: the AWS CLI writes and deletes, `objbackup` brings objects
back, and the deployed replicator and cleaner (run by `objbackup sandbox`) react as on AWS."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Tools
from tests.polling import wait_for

pytestmark = pytest.mark.e2e
KEY = "contracts/2026/acme & co+final.txt"


def _head(tools: Tools, bucket: str, key: str) -> dict[str, Any]:
    head: dict[str, Any] = tools.aws_json("s3api", "head-object", "--bucket", bucket, "--key", key)
    return head


def _read(tools: Tools, bucket: str, key: str, tmp_path: Path) -> str:
    out = tmp_path / "read.out"
    tools.aws("s3", "cp", f"s3://{bucket}/{key}", str(out))
    return out.read_text()


def _newest_is(tools: Tools, key: str, etag: str) -> bool:
    active = tools.table_active(key)
    return bool(active) and active[0]["etag"] == etag


def _at_rest(tools: Tools, deployed: dict[str, Any], key: str, body: str, tmp: Path) -> None:
    """Invariants 1 and 3 for `key`: 1 to 3 active copies, the newest holds `body`, no orphans."""
    active = tools.active(key)
    assert 1 <= len(active) <= 3, active
    assert _read(tools, deployed["backup_bucket"], active[0]["copy_name"], tmp) == body
    names = sorted(c["copy_name"] for c in tools.copies(key))
    stored = tools.bucket_keys(deployed["backup_bucket"])
    assert [n for n in stored if n.startswith(f"{key}@")] == names


@pytest.fixture(scope="module")
def deployed(tools: Tools) -> dict[str, Any]:
    # A long grace period: the undelete below happens well inside it.
    tools.objbackup("deploy", "--yes", "--grace", "600")
    status: dict[str, Any] = tools.objbackup_json("status")
    return status


def _write_versions(tools: Tools, deployed: dict[str, Any], tmp_path: Path, count: int) -> None:
    source = deployed["source_bucket"]
    for version in range(1, count + 1):
        body = tmp_path / f"v{version}.txt"
        body.write_text(f"version {version}\n")
        tools.aws(
            "s3api",
            "put-object",
            "--bucket",
            source,
            "--key",
            KEY,
            "--body",
            str(body),
            "--content-type",
            "text/plain; charset=utf-8",
            "--metadata",
            f"revision={version}",
            "--tagging",
            f"class=legal&revision={version}",
        )
        etag = _head(tools, source, KEY)["ETag"].strip('"')
        wait_for(partial(_newest_is, tools, KEY, etag), what=f"version {version} backed up")


def test_undelete_inside_the_grace_period(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    source = deployed["source_bucket"]
    _write_versions(tools, deployed, tmp_path, 4)
    tools.aws("s3", "rm", f"s3://{source}/{KEY}")
    wait_for(
        lambda: (c := tools.table_copies(KEY)) and all(x["status"] == "disowned" for x in c),
        what="copies disowned",
    )
    dry = tools.objbackup_json("undelete", KEY, "--dry-run")
    assert dry["dry_run"] is True and dry["restored"] is False
    assert tools.aws_json("s3api", "list-objects-v2", "--bucket", source).get("Contents") is None

    result = tools.objbackup_json("undelete", KEY)
    assert result["restored"] is True and len(result["reactivated"]) == 3
    assert _read(tools, source, KEY, tmp_path) == "version 4\n"
    head = _head(tools, source, KEY)
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["Metadata"] == {"revision": "4"}
    tags = tools.aws_json("s3api", "get-object-tagging", "--bucket", source, "--key", KEY)
    assert sorted((t["Key"], t["Value"]) for t in tags["TagSet"]) == [
        ("class", "legal"),
        ("revision", "4"),
    ]

    # The copy-back is a write like any other: the replicator backs it up and prunes to 3.
    etag = head["ETag"].strip('"')
    wait_for(
        lambda: (a := tools.table_active(KEY)) and a[0]["etag"] == etag and len(a) == 3,
        what="the restored object backed up",
    )
    wait_for(lambda: len(tools.table_copies(KEY)) == 3, what="pruning back to 3 copies")
    assert tools.objbackup_json("list", "--disowned")["disowned"] == []
    _at_rest(tools, deployed, KEY, "version 4\n", tmp_path)

    again = tools.objbackup("undelete", KEY, check=False)
    assert again.returncode == 1
    assert "exists in the source bucket" in again.stderr
    assert f"objbackup restore {KEY}" in again.stderr


def test_restore_an_older_copy_over_the_object_and_beside_it(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    source = deployed["source_bucket"]
    oldest = tools.active(KEY)[-1]
    content = _read(tools, deployed["backup_bucket"], oldest["copy_name"], tmp_path)

    refused = tools.objbackup("restore", KEY, "--copy", oldest["copy_timestamp"], check=False)
    assert refused.returncode == 1 and "pass --yes" in refused.stderr

    beside = tools.objbackup_json(
        "restore", KEY, "--copy", oldest["copy_timestamp"], "--to", "restored/older.txt"
    )
    assert beside["restored"] is True and beside["overwrites"] is False
    assert _read(tools, source, "restored/older.txt", tmp_path) == content
    assert _head(tools, source, "restored/older.txt")["ContentType"] == (
        "text/plain; charset=utf-8"
    )

    over = tools.objbackup_json("restore", KEY, "--copy", oldest["copy_timestamp"], "--yes")
    assert over["restored"] is True and over["overwrites"] is True
    assert _read(tools, source, KEY, tmp_path) == content
    etag = _head(tools, source, KEY)["ETag"].strip('"')
    wait_for(
        lambda: (a := tools.table_active(KEY)) and a[0]["etag"] == etag,
        what="the restored content backed up as the newest copy",
    )
    wait_for(lambda: len(tools.table_copies(KEY)) == 3, what="pruning back to 3 copies")
    _at_rest(tools, deployed, KEY, content, tmp_path)


def test_undelete_after_the_clean_has_nothing_left(
    tools: Tools, deployed: dict[str, Any], tmp_path: Path
) -> None:
    source = deployed["source_bucket"]
    key = "scratch/short-lived.txt"
    body = tmp_path / "s.txt"
    body.write_text("short")
    tools.aws("s3", "cp", str(body), f"s3://{source}/{key}")
    wait_for(lambda: len(tools.table_active(key)) == 1, what="the copy")
    tools.aws("s3", "rm", f"s3://{source}/{key}")
    wait_for(lambda: tools.table_active(key) == [] and tools.table_copies(key), what="disowned")
    # The deployment's grace is 600 s: invoke the deployed cleaner with a grace of 0 instead.
    tools.aws(
        "lambda",
        "invoke",
        "--function-name",
        deployed["cleaner_function"],
        "--payload",
        '{"grace_seconds": 0}',  # the AWS CLI v1 sends the text as is
        str(tmp_path / "clean.json"),
    )
    report = json.loads((tmp_path / "clean.json").read_text())
    assert report["deleted"] >= 1 and report["failed"] == 0
    assert tools.copies(key) == []
    gone = tools.objbackup("undelete", key, check=False)
    assert gone.returncode == 1
    assert "the grace period is over" in gone.stderr and "no copy of it remains" in gone.stderr
