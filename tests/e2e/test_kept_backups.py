"""Kept backups end to end: the AWS CLI writes, `teardown --keep-backups` keeps the copies, the
AWS CLI finds them by tag, a new `deploy` under the same name reattaches them, and a plain
`teardown` leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Tools
from tests.polling import wait_for

pytestmark = pytest.mark.e2e
KEY = "ledger/2026/q4 close.csv"


def test_kept_backups_are_reattached_then_deleted(tools: Tools, tmp_path: Path) -> None:
    tools.objbackup("deploy", "--yes", "--grace", "600")
    old = tools.objbackup_json("status")
    body = tmp_path / "body.csv"
    body.write_text("total,42\n")
    tools.aws(
        "s3api", "put-object", "--bucket", old["source_bucket"], "--key", KEY, "--body", str(body)
    )
    wait_for(lambda: tools.table_active(KEY), what="the object backed up")
    assert len(tools.active(KEY)) == 1

    tools.objbackup("teardown", "--keep-backups", "--yes")
    found = tools.aws_json(
        "resourcegroupstaggingapi",
        "get-resources",
        "--tag-filters",
        f"Key=objbackup:backups-of,Values={tools.name}-storage",
    )["ResourceTagMappingList"]
    arns = sorted(mapping["ResourceARN"] for mapping in found)
    assert [arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1] for arn in arns] == sorted(
        [old["backup_bucket"], old["table"]]
    )
    assert all("objbackup:kept-at" in {t["Key"] for t in m["Tags"]} for m in found)

    deployed = tools.objbackup("deploy", "--yes")
    assert "they will be reattached" in " ".join(deployed.stderr.split())
    status = tools.objbackup_json("status")
    assert (status["backup_bucket"], status["table"]) == (old["backup_bucket"], old["table"])
    assert len(tools.copies(KEY)) == 1

    tools.objbackup("teardown", "--yes")
    buckets = [b["Name"] for b in tools.aws_json("s3api", "list-buckets").get("Buckets", [])]
    assert tools.own(buckets) == [] and old["backup_bucket"] not in buckets
    tables = tools.aws_json("dynamodb", "list-tables")["TableNames"]
    assert tools.own(tables) == [] and old["table"] not in tables
