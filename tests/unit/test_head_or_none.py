"""objbackup.core.aws.head_or_none: HeadObject's answer, None for a missing key, any other error
raised (a 403 for a missing key without s3:ListBucket is not taken for absence)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from objbackup.core.aws import head_or_none
from tests.harness import Harness


def test_head_or_none_answers_the_head_of_a_present_key_and_none_for_a_missing_one(
    system: Harness,
) -> None:
    system.s3.put_object(Bucket="src", Key="here", Body=b"data")
    head = head_or_none(system.s3, "src", "here")
    assert head is not None and head["ContentLength"] == 4
    assert head_or_none(system.s3, "src", "gone") is None


def test_head_or_none_raises_any_other_error(system: Harness, monkeypatch: Any) -> None:
    def forbidden(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    monkeypatch.setattr(system.s3, "head_object", forbidden)
    with pytest.raises(ClientError, match="Forbidden"):
        head_or_none(system.s3, "src", "gone")
