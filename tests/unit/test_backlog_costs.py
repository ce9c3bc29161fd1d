"""The sandbox's backlog cost patches (objbackup/sandbox/patches/sqs.py, dispatch.py) keep moto's
SQS answers and drop its per-message work; each cost test fails if its patch stops being applied,
because moto would call the per-message method the test forbids or counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from moto.sqs.models import Message, Queue, sqs_backends

from objbackup.sandbox.patches import dispatch, registry

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.literals import QueueAttributeFilterType, QueueAttributeNameType
    from types_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

ACCOUNT = "123456789012"


@pytest.fixture
def sqs(moto_aws: None) -> SQSClient:
    return boto3.client("sqs", region_name="us-east-1")


def _queue(sqs: SQSClient, name: str = "backlog", **attributes: str) -> str:
    named = cast("dict[QueueAttributeNameType, str]", attributes)  # SQS attribute names
    return str(sqs.create_queue(QueueName=name, Attributes=named)["QueueUrl"])


def _fill(sqs: SQSClient, url: str, count: int) -> None:
    for start in range(0, count, 10):
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries[: count - start])


def _moto_queue(name: str = "backlog") -> Any:
    return sqs_backends[ACCOUNT]["us-east-1"].get_queue(name)


def _counts(sqs: SQSClient, url: str) -> dict[str, str]:
    names: list[QueueAttributeFilterType] = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {str(name): value for name, value in attributes.items()}


@pytest.fixture
def counted_visibility(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts moto's per-message visibility checks (two clock reads each)."""
    calls: list[int] = []
    original = Message.visible

    def visible(self: Any) -> bool:
        calls.append(1)
        return bool(original.fget(self))  # type: ignore[attr-defined]

    monkeypatch.setattr(Message, "visible", property(visible))
    yield calls


def test_counts_match_moto_in_every_state(sqs: SQSClient) -> None:
    url = _queue(sqs)
    _fill(sqs, url, 7)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=60)
    queue = _moto_queue()
    moto_says = {
        "ApproximateNumberOfMessages": str(
            len([m for m in queue._messages if m.visible and not m.delayed])
        ),
        "ApproximateNumberOfMessagesNotVisible": str(
            queue.approximate_number_of_messages_not_visible
        ),
        "ApproximateNumberOfMessagesDelayed": str(queue.approximate_number_of_messages_delayed),
    }
    assert _counts(sqs, url) == moto_says
    # 8 sent (one delayed), 3 taken: 4 visible, 3 in flight, 1 delayed
    assert moto_says == {
        "ApproximateNumberOfMessages": "4",
        "ApproximateNumberOfMessagesNotVisible": "3",
        "ApproximateNumberOfMessagesDelayed": "1",
    }
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert everything["ApproximateNumberOfMessages"] == "4"
    assert everything["QueueArn"].endswith(":backlog")


def test_send_does_not_count_the_backlog(
    sqs: SQSClient, counted_visibility: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _queue(sqs)
    _fill(sqs, url, 50)
    for name in ("messages", "approximate_number_of_messages_delayed"):
        monkeypatch.setattr(Queue, name, property(lambda self: pytest.fail("backlog counted")))
    counted_visibility.clear()
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    assert counted_visibility == []
    assert len(_moto_queue()._messages) == 51


def test_counting_takes_one_clock_reading_per_call_not_two_per_message(
    sqs: SQSClient, counted_visibility: list[int]
) -> None:
    url = _queue(sqs)
    _fill(sqs, url, 40)
    counted_visibility.clear()
    assert _counts(sqs, url)["ApproximateNumberOfMessages"] == "40"
    assert counted_visibility == []


def test_a_receive_reads_its_batch_not_the_backlog(
    sqs: SQSClient, counted_visibility: list[int]
) -> None:
    url = _queue(sqs)
    _fill(sqs, url, 300)
    counted_visibility.clear()
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == [f"m{n}" for n in range(10)]
    assert len(counted_visibility) <= 10, f"{len(counted_visibility)} messages looked at"
    # the next receive skips the ten in flight and takes the next ten
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == [f"m{n}" for n in range(10, 20)]


def test_receive_keeps_visibility_receive_counts_and_the_dead_letter_redrive(
    sqs: SQSClient,
) -> None:
    dlq = _queue(sqs, "dead")
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": 2}}'
    url = _queue(sqs, RedrivePolicy=redrive)
    _fill(sqs, url, 3)
    for receive_count in ("1", "2"):
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )["Messages"]
        assert sorted(m["Body"] for m in got) == ["m0", "m1", "m2"]
        assert {m["Attributes"]["ApproximateReceiveCount"] for m in got} == {receive_count}
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == ["m0", "m1", "m2"]
    # a redriven message is deleted from the dead-letter queue by its new receipt handle
    for message in dead:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    assert _counts(sqs, dlq)["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_delete_finds_its_message_without_walking_the_backlog(
    sqs: SQSClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _queue(sqs)
    _fill(sqs, url, 200)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    walked: list[int] = []
    original = Message.had_receipt_handle

    def had_receipt_handle(self: Any, receipt_handle: str) -> bool:
        walked.append(1)
        return bool(original(self, receipt_handle))

    monkeypatch.setattr(Message, "had_receipt_handle", had_receipt_handle)
    answer = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)],
    )
    assert len(answer["Successful"]) == 10
    assert walked == [], f"{len(walked)} messages searched for 10 receipt handles"
    assert _counts(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert len(_moto_queue()._messages) == 190


def test_delete_keeps_moto_answers_for_old_repeated_and_unknown_handles(sqs: SQSClient) -> None:
    url = _queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="only")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"][0]
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # an older handle
    assert len(_moto_queue()._messages) == 0
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])  # already deleted
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="never-given")
    other = _queue(sqs, "other")
    sqs.send_message(QueueUrl=other, MessageBody="elsewhere")
    elsewhere = sqs.receive_message(QueueUrl=other)["Messages"][0]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=elsewhere["ReceiptHandle"])
    assert len(_moto_queue("other")._messages) == 1


def test_a_delete_replaces_the_message_list_under_the_queue_lock(
    sqs: SQSClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto rebuilds the list without the lock SendMessage appends under: a send landing between
    the rebuild and the assignment was lost. Every replacement must happen under the lock."""
    url = _queue(sqs)
    _fill(sqs, url, 20)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5)["Messages"]
    queue = _moto_queue()
    lock = queue._messages_lock
    held: list[bool] = []
    unlocked: list[bool] = []

    class Watched:
        def __enter__(self) -> Any:
            held.append(True)
            return lock.__enter__()

        def __exit__(self, *exc: Any) -> Any:
            held.pop()
            return lock.__exit__(*exc)

        def __getattr__(self, name: str) -> Any:
            return getattr(lock, name)

    def replace(self: Any, value: list[Any]) -> None:
        if self is queue and not held:
            unlocked.append(True)
        self.__dict__["_messages"] = value

    monkeypatch.setattr(queue, "_messages_lock", Watched())
    monkeypatch.setattr(
        Queue,
        "_messages",
        property(lambda self: self.__dict__["_messages"], replace),
        raising=False,
    )
    for message in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(queue._messages) == 15
    assert unlocked == [], f"{len(unlocked)} of 5 deletes replaced the list without the lock"


def test_the_server_lists_its_services_once(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.install(*dispatch.PATCHES)
    from moto import backends

    first = list(backends.list_of_moto_modules())
    assert "sqs" in first and "s3" in first

    def forbidden(path: str) -> Any:
        raise AssertionError("moto's package directory listed again")

    monkeypatch.setattr("os.listdir", forbidden)
    assert list(backends.list_of_moto_modules()) == first
