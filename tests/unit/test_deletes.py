"""objbackup.core.deletes: keys XML cannot carry, and refused requests, never sink their chunk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from objbackup.core.deletes import DELETE_OBJECTS_LIMIT, Target, delete_targets, xml_safe
from tests.harness import REGION

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

BUCKET = "deletes-test"
# A key XML 1.0 cannot carry, one whose CR an XML parser would turn into LF, and plain ones.
HOSTILE = ["soh\x01key", "cr\rkey", "nul\x00key", "ff\x0ckey", "fffe\ufffekey"]
PLAIN = ["plain", "tab\tkey", "lf\nkey", "space key", "é/ü"]


@pytest.fixture
def s3(moto_aws: None) -> S3Client:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


def keys(s3: S3Client, bucket: str = BUCKET) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


@given(st.text(max_size=30))
def test_xml_safe_is_exactly_what_xml_1_0_carries_unchanged(key: str) -> None:
    carried = all(
        c in "\t\n"
        or 0x20 <= ord(c) <= 0xD7FF
        or 0xE000 <= ord(c) <= 0xFFFD
        or 0x10000 <= ord(c) <= 0x10FFFF
        for c in key
    )
    assert xml_safe(key) is carried


def test_one_hostile_key_in_a_plain_delete_objects_sinks_the_whole_request(s3: S3Client) -> None:
    """The gap this module closes, as S3 (and the sandbox) answer it: MalformedXML for all."""
    for key in ["plain", "soh\x01key"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.delete_objects(
            Bucket=BUCKET,
            Delete={"Objects": [{"Key": "plain"}, {"Key": "soh\x01key"}], "Quiet": True},
        )
    assert caught.value.response["Error"]["Code"] == "MalformedXML"
    assert keys(s3) == {"plain", "soh\x01key"}


def test_hostile_keys_are_deleted_one_by_one_and_their_neighbours_in_one_call(s3: S3Client) -> None:
    for key in HOSTILE + PLAIN:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    calls: list[str] = []
    s3.meta.events.register(
        "before-call.s3.*", lambda model, **_: calls.append(model.name), unique_id="count"
    )
    report = delete_targets(s3, BUCKET, [Target(k) for k in HOSTILE + PLAIN])
    assert keys(s3) == set()
    assert {t.key for t in report.deleted} == set(HOSTILE + PLAIN)
    assert report.failed == []
    assert calls.count("DeleteObjects") == 1
    assert calls.count("DeleteObject") == len(HOSTILE)


def test_versions_and_delete_markers_are_deleted_by_version(s3: S3Client) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    targets: list[Target] = []
    for key in ["v", "soh\x01v"]:
        for body in (b"1", b"2"):
            targets.append(
                Target(key, s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])
            )
        targets.append(Target(key, s3.delete_object(Bucket=BUCKET, Key=key)["VersionId"]))
    report = delete_targets(s3, BUCKET, targets)
    assert report.deleted == targets
    for target in targets:
        with pytest.raises(ClientError):
            assert target.version_id is not None
            s3.head_object(Bucket=BUCKET, Key=target.key, VersionId=target.version_id)


def test_a_refused_request_is_retried_key_by_key_and_each_key_gets_its_answer(
    s3: S3Client,
) -> None:
    """A DeleteObjects that S3 refuses whole (here: a key the parser rejects that `xml_safe` did
    not predict) costs its chunk nothing: every key is asked again on its own."""
    for key in ["a", "b", "c"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")

    def refuse(params: dict[str, Any], **_: Any) -> None:
        raise ClientError({"Error": {"Code": "MalformedXML", "Message": "no"}}, "DeleteObjects")

    s3.meta.events.register("before-call.s3.DeleteObjects", refuse, unique_id="refuse")

    def deny_b(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "b":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteObject")

    s3.meta.events.register("before-parameter-build.s3.DeleteObject", deny_b, unique_id="deny")
    report = delete_targets(s3, BUCKET, [Target(k) for k in ["a", "b", "c"]])
    assert {t.key for t in report.deleted} == {"a", "c"}
    assert report.failed == [(Target("b"), "AccessDenied")]
    assert keys(s3) == {"b"}


def test_per_key_errors_of_a_delete_objects_answer_name_their_reason(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="a", Body=b"x")

    def one_error(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        parsed["Errors"] = [{"Key": "locked", "Code": "AccessDenied", "Message": "Access Denied"}]

    s3.meta.events.register("after-call.s3.DeleteObjects", one_error, unique_id="err")
    report = delete_targets(s3, BUCKET, [Target("a"), Target("locked")])
    assert [t.key for t in report.deleted] == ["a"]
    assert report.failed == [(Target("locked"), "AccessDenied: Access Denied")]


def test_a_chunk_holds_at_most_the_api_limit(s3: S3Client) -> None:
    sizes: list[int] = []
    s3.meta.events.register(
        "before-parameter-build.s3.DeleteObjects",
        lambda params, **_: sizes.append(len(params["Delete"]["Objects"])),
        unique_id="sizes",
    )
    report = delete_targets(s3, BUCKET, (Target(f"k{i}") for i in range(DELETE_OBJECTS_LIMIT + 5)))
    assert sizes == [DELETE_OBJECTS_LIMIT, 5]
    assert len(report.deleted) == DELETE_OBJECTS_LIMIT + 5
