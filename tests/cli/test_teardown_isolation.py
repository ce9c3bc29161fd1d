"""`objbackup teardown` never lets one object sink the emptying: keys XML cannot carry
go, a version S3 refuses is named with its reason once everything else is gone, and a rerun
finishes the job."""

from __future__ import annotations

from typing import Any, cast

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from objbackup.deploy import teardown
from objbackup.deploy.connection import Connection, ServiceClients
from objbackup.deploy.errors import EmptyBucketFailed
from tests.cli.conftest import Cli

HOSTILE = ("soh\x01v", "cr\rv", "plain")
STUCK = "stuck"


def deploy(cli: Cli) -> dict[str, Any]:
    cli.ok("deploy", "--yes")
    status: dict[str, Any] = cli.json("status")
    return status


def fill(cli: Cli, status: dict[str, Any], keys: tuple[str, ...]) -> None:
    s3, source = cli.client("s3"), status["source_bucket"]
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    for bucket in (source, status["backup_bucket"]):
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    for key in keys:  # a second version and a delete marker each, on the versioned source
        s3.put_object(Bucket=source, Key=key, Body=b"2")
        s3.delete_object(Bucket=source, Key=key)


def refuse_deletes_of(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """Every client teardown builds refuses to delete `key`: DeleteObject for it, and any
    DeleteObjects naming it as a whole (as S3 refuses a request it cannot take)."""

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        body = params.get("body") or b""
        named = key.encode() in body if model.name == "DeleteObjects" else None
        if named or str(params.get("url_path", "")).endswith(f"/{key}"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "held"}}, model.name)

    original = Connection._client

    def client(self: Connection, service: str) -> BaseClient:
        made = original(self, service)
        if service == "s3":
            made.meta.events.register("before-call.s3.DeleteObject", refuse, unique_id="refuse")
            made.meta.events.register("before-call.s3.DeleteObjects", refuse, unique_id="refuse2")
        return made

    monkeypatch.setattr(Connection, "_client", client)


def test_teardown_empties_buckets_holding_keys_xml_cannot_carry(cli: Cli) -> None:
    status = deploy(cli)
    fill(cli, status, HOSTILE)
    cli.ok("teardown", "--yes")
    assert cli.client("s3").list_buckets()["Buckets"] == []
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_a_version_s3_refuses_is_named_after_everything_else_is_gone(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = deploy(cli)
    fill(cli, status, (*HOSTILE, STUCK))
    with monkeypatch.context() as patch:
        refuse_deletes_of(patch, STUCK)
        result = cli("teardown", "--yes")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())
    assert "Error:" in text and "Hint:" in text and "run teardown again" in text
    assert "'stuck' version" in text and "AccessDenied" in text
    s3 = cli.client("s3")
    for bucket in (status["source_bucket"], status["backup_bucket"]):
        listing = s3.list_object_versions(Bucket=bucket)
        left = {v["Key"] for v in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]}
        assert left == {STUCK}, bucket
    assert s3.list_objects_v2(Bucket=status["artifacts_bucket"])["KeyCount"] == 0
    stacks = cli.client("cloudformation").describe_stacks()["Stacks"]
    assert [s["StackName"] for s in stacks] == ["objbackup-storage"]
    # Once S3 lets it go, a rerun finishes the job.
    cli.ok("teardown", "--yes")
    assert s3.list_buckets()["Buckets"] == []
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_a_refused_abort_does_not_stop_the_other_uploads(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = deploy(cli)
    s3, source = cli.client("s3"), status["source_bucket"]
    for key in ("a", STUCK, "z"):
        s3.create_multipart_upload(Bucket=source, Key=key)

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        if str(params.get("url_path", "")).endswith(f"/{STUCK}"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, model.name)

    original = Connection._client

    def client(self: Connection, service: str) -> BaseClient:
        made = original(self, service)
        if service == "s3":
            made.meta.events.register("before-call.s3.AbortMultipartUpload", refuse)
        return made

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "_client", client)
        result = cli("teardown", "--yes")
    assert result.exit_code == 1
    assert "upload of 'stuck': AccessDenied" in " ".join(result.stderr.split())
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=source)["Uploads"]] == [STUCK]


class _Connection(ServiceClients):
    """Just what Teardown.empty_bucket uses of a Connection."""

    def __init__(self, s3: BaseClient) -> None:
        self.s3 = s3

    def _client(self, service: str) -> BaseClient:
        return self.s3


def test_refused_versions_across_pages_neither_stall_nor_stop_the_rest(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two versions (so refused versions fill whole pages, and a page may end on a
    deleted one): every other version still goes, and each refused one is named once."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    keys = [f"k{i}" for i in range(8)]
    for key in keys:
        for body in (b"1", b"2"):
            s3.put_object(Bucket="bkt", Key=key, Body=body)
        s3.delete_object(Bucket="bkt", Key=key)
    refused = {"k0", "k1", "k5"}

    def refuse(params: dict[str, Any], model: Any, **_: Any) -> None:
        body = params.get("body") or b""
        named = any(f"<Key>{k}</Key>".encode() in body for k in refused)
        if named or str(params.get("url_path", "")).rsplit("/", 1)[-1] in refused:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "held"}}, model.name)

    s3.meta.events.register("before-call.s3.DeleteObject", refuse)
    s3.meta.events.register("before-call.s3.DeleteObjects", refuse)
    monkeypatch.setattr(teardown, "DELETE_OBJECTS_LIMIT", 2)
    with pytest.raises(EmptyBucketFailed) as caught:
        teardown.Teardown(cast(Connection, _Connection(s3))).empty_bucket("bkt")
    assert str(caught.value).startswith("9 object version(s) or upload(s) in bucket bkt")
    assert "(and 6 more)" in str(caught.value)
    listing = s3.list_object_versions(Bucket="bkt")
    left = [v["Key"] for v in [*listing["Versions"], *listing["DeleteMarkers"]]]
    assert sorted(left) == sorted([k for k in refused for _ in range(3)])
