"""End to end: adopting a bucket whose default encryption is SSE-KMS (set up with the
AWS CLI, the key named by its alias): the plan names the key, and the sandbox's replicator writes
the copy with SSE-KMS under it, under its role: the sandbox checks kms:Decrypt on the source's key
and kms:GenerateDataKey on the copy's (objbackup/sandbox/access.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Tools
from tests.polling import wait_for

pytestmark = pytest.mark.e2e
BUCKET = "their-secrets"


def test_copies_of_an_sse_kms_bucket_are_encrypted_with_its_key(
    tools: Tools, tmp_path: Path
) -> None:
    key = tools.aws_json("kms", "create-key", "--description", "theirs")["KeyMetadata"]
    tools.aws(
        "kms", "create-alias", "--alias-name", "alias/theirs", "--target-key-id", key["KeyId"]
    )
    tools.aws("s3api", "create-bucket", "--bucket", BUCKET)
    rule = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/theirs"}
    tools.aws(
        "s3api",
        "put-bucket-encryption",
        "--bucket",
        BUCKET,
        "--server-side-encryption-configuration",
        json.dumps({"Rules": [{"ApplyServerSideEncryptionByDefault": rule}]}),
    )

    planned = tools.objbackup_json("deploy", "--dry-run", "--source-bucket", BUCKET)
    assert planned["encryption"]["backup_kms_key"] == key["Arn"]
    tools.objbackup("deploy", "--yes", "--source-bucket", BUCKET)
    status = tools.objbackup_json("status")
    assert status["backup_kms_key"] == key["Arn"]

    body = tmp_path / "ledger.csv"
    body.write_text("1,2,3\n")
    tools.aws("s3", "cp", str(body), f"s3://{BUCKET}/ledger.csv")
    wait_for(lambda: len(tools.table_copies("ledger.csv")) == 1, what="ledger.csv backed up")
    (copy,) = tools.copies("ledger.csv")
    head = tools.aws_json(
        "s3api", "head-object", "--bucket", status["backup_bucket"], "--key", copy["copy_name"]
    )
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert tools.objbackup_json("status")["dlq_depth"] == 0
