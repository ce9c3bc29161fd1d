"""The sandbox's SQS event source mappings poll as Lambda's long polls do: a message is taken as
soon as it arrives, with the queue's visibility timeout as it is when the message is received."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from objbackup.sandbox.server import Sandbox
from tests.polling import wait_for
from tests.sandbox.conftest import SandboxClients as Client
from tests.sandbox.conftest import create_function, lambda_role, queue_with_dlq

if TYPE_CHECKING:
    from types_boto3_sqs.literals import QueueAttributeNameType

FAILING = """
def handler(event, context):
    raise RuntimeError("every batch fails")
"""


def _failing_mapping(
    client: Client, name: str, queue_attributes: Mapping[QueueAttributeNameType, str]
) -> str:
    """A queue (and its DLQ, after 2 receives) mapped to a function that always fails: the
    mapping's UUID."""
    _queue, arn, _dlq = queue_with_dlq(client("sqs"), name, 2, queue_attributes)
    create_function(client, name, FAILING, lambda_role(client, "pollers-test"), timeout=30)
    mapping = client("lambda").create_event_source_mapping(
        EventSourceArn=arn, FunctionName=name, BatchSize=10
    )
    return str(mapping["UUID"])


def _all_waiting(sandbox: Sandbox, uuid: str) -> bool:
    threads = sandbox.pollers._threads.get(uuid, [])
    return bool(threads) and all(t.ident in sandbox.pollers._waiting for t in threads)


def test_an_idle_mapping_waits_for_the_queue_not_between_receives(
    sandbox: Sandbox, client: Client
) -> None:
    """Lambda long-polls the queue (Using Lambda with Amazon SQS), which answers as soon as a
    message arrives: an idle mapping's pollers wait on the queue itself, making no receive while
    it is empty, instead of sleeping between empty short polls (a message then waited for the
    next one). A message sent then is received and handled (here: fails, and stays)."""
    waits: list[Any] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        waits.append(params.get("WaitTimeSeconds"))

    events = sandbox.pollers._sqs.meta.events
    events.register("provide-client-params.sqs.ReceiveMessage", seen)
    uuid = _failing_mapping(client, "idle-poll", {"VisibilityTimeout": "30"})
    try:
        wait_for(lambda: _all_waiting(sandbox, uuid), 30, "every poller waiting on the queue")
        assert waits == [], "receives made while the queue was empty"
        sqs = client("sqs")
        queue = sqs.get_queue_url(QueueName="idle-poll")["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="fails")
        wait_for(lambda: waits, 30, "a receive of the message")
        assert set(waits) == {0}, waits
    finally:
        events.unregister("provide-client-params.sqs.ReceiveMessage", seen)
        client("lambda").delete_event_source_mapping(UUID=uuid)


def test_a_visibility_timeout_changed_during_a_long_poll_applies(
    sandbox: Sandbox, client: Client
) -> None:
    """SQS hides a received message for the queue's visibility timeout as it is at receipt.
    moto fixes it when a long ReceiveMessage starts; the pollers wait on the queue and receive
    after, so a timeout shortened while they wait (as tests and operators do) is the one a failed
    message gets back after: here it reaches the DLQ after two 1 s timeouts, not two of 10 min."""
    uuid = _failing_mapping(client, "retimed", {"VisibilityTimeout": "600"})
    wait_for(lambda: _all_waiting(sandbox, uuid), 30, "every poller waiting on the queue")
    sqs = client("sqs")
    queue = sqs.get_queue_url(QueueName="retimed")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="retimed-dlq")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    sqs.send_message(QueueUrl=queue, MessageBody="fails")

    def dead() -> list[Any]:
        return list(sqs.receive_message(QueueUrl=dlq).get("Messages", []))

    [message] = wait_for(dead, 60, "the failed message in the DLQ")
    assert message["Body"] == "fails"
    client("lambda").delete_event_source_mapping(UUID=uuid)
