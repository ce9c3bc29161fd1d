"""Which kept bucket and table a deploy reattaches, and the storage parameters it passes."""

from __future__ import annotations

from objbackup.deploy.deployment import StackInfo
from objbackup.deploy.kept import (
    Attachment,
    KeptResource,
    choose,
    deployed_attachment,
    storage_parameters,
)


def bucket(name: str, kept_at: str | None = None) -> KeptResource:
    return KeptResource("bucket", name, f"arn:aws:s3:::{name}", kept_at)


def table(name: str, kept_at: str | None = None) -> KeptResource:
    return KeptResource("table", name, f"arn:aws:dynamodb:r:1:table/{name}", kept_at)


def test_the_only_pair_is_chosen_whatever_its_tags() -> None:
    assert choose([bucket("b"), table("t", "2026-11-30T10:00:00Z")]) == (
        bucket("b"),
        table("t", "2026-11-30T10:00:00Z"),
    )


def test_the_newest_pair_kept_by_one_teardown_is_chosen() -> None:
    old, new = "2026-11-01T10:00:00Z", "2026-11-30T10:00:00Z"
    found = [bucket("b1", old), bucket("b2", new), table("t1", old), table("t2", new)]
    assert choose(found) == (bucket("b2", new), table("t2", new))


def test_no_complete_pair_reattaches_nothing() -> None:
    assert choose([]) is None
    assert choose([bucket("b")]) is None
    assert choose([table("t")]) is None
    two = [bucket("b1", "x"), bucket("b2", "y"), table("t", "z")]
    assert choose(two) is None


def test_storage_parameters_follow_the_deployed_attachment() -> None:
    assert storage_parameters(None) == {}
    attached = Attachment("b", "t")
    parameters = storage_parameters(attached)
    assert parameters == {"KeptBackupBucketName": "b", "KeptTableName": "t"}
    stack = StackInfo("storage", "x-storage", "id", "CREATE_COMPLETE", parameters=parameters)
    assert deployed_attachment(stack) == attached
    assert deployed_attachment(None) is None
    blank = StackInfo("storage", "x-storage", "id", "CREATE_COMPLETE", parameters={})
    assert deployed_attachment(blank) is None
