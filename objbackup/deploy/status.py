"""`status`: the stacks' states, resource names, settings and queue depths, in the contract's
JSON shape. Missing pieces (a stack not there, an output moto does not produce) are null.

Health (objbackup.deploy.health) adds backup lag, the last clean, alarm states and whether the
source bucket still delivers its events to EventBridge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from botocore.exceptions import ClientError

from objbackup.core.storage_class import DEFAULT_STORAGE_CLASS
from objbackup.deploy.connection import Connection
from objbackup.deploy.deployment import Deployment, find_deployment
from objbackup.deploy.scale import deployed_scale
from objbackup.deploy.stacks import O_SCHEDULE, ROLES

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient


def queue_depths(sqs: SQSClient, url: str | None) -> tuple[int | None, int | None]:
    """(messages waiting, messages in flight) of a queue; (None, None) if it is not there."""
    if url is None:
        return None, None
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
    except ClientError:
        return None, None
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def reachable_queue_url(url: str | None, endpoint_url: str | None) -> str | None:
    """The queue URL on `endpoint_url`'s scheme and host (moto names another host), so the
    URL `status` prints works with the AWS CLI there; unchanged without an endpoint."""
    if url is None or not endpoint_url:
        return url
    endpoint, queue = urlsplit(endpoint_url), urlsplit(url)
    return urlunsplit((endpoint.scheme, endpoint.netloc, queue.path, queue.query, ""))


def deployment_status(
    connection: Connection, deployment: Deployment | None = None
) -> dict[str, Any]:
    """The `status --json` document of the deployment `connection` names."""
    deployment = deployment or find_deployment(connection)
    settings = deployment.settings
    from objbackup.deploy.health import health

    sqs = connection.client("sqs")
    queue_url = reachable_queue_url(deployment.queue_url, connection.endpoint_url)
    dlq_url = reachable_queue_url(deployment.dlq_url, connection.endpoint_url)
    queue_depth, queue_in_flight = queue_depths(sqs, queue_url)
    dlq_depth, dlq_in_flight = queue_depths(sqs, dlq_url)
    empty = queue_depth == 0 and queue_in_flight == 0
    return {
        "name": deployment.name,
        "region": deployment.region,
        "stacks": {
            role: (deployment.stacks[role].status if role in deployment.stacks else None)
            for role in ROLES
        },
        "stack_names": connection.names.all(),
        "source_bucket": deployment.source_bucket,
        "source_bucket_created": deployment.source_bucket_created,
        "adopted_source_bucket": deployment.adopted_source_bucket,
        "source_eventbridge_by_objbackup": deployment.eventbridge_by_objbackup,
        "include_prefixes": list(settings.key_filter.include),
        "exclude_prefixes": list(settings.key_filter.exclude),
        "rule_keys": settings.key_filter.describe_rule(),
        "backup_bucket": deployment.backup_bucket,
        "artifacts_bucket": deployment.artifacts_bucket,
        "table": deployment.table,
        "disowned_index": deployment.disowned_index,
        "queue_url": queue_url,
        "dlq_url": dlq_url,
        "queue_depth": queue_depth,
        "queue_in_flight": queue_in_flight,
        "dlq_depth": dlq_depth,
        "dlq_in_flight": dlq_in_flight,
        "alarm_name": deployment.alarm_name,
        "replicator_function": deployment.replicator_function,
        "cleaner_function": deployment.cleaner_function,
        "bundle_key": settings.bundle_key,
        "retain": settings.retain,
        "grace_seconds": settings.grace_seconds,
        "schedule": deployment.output("cleaner", O_SCHEDULE) or settings.schedule,
        # The KMS key ARN copies are written with (None: SSE-S3).
        "backup_kms_key": settings.backup_kms_key,
        # The class copies are written in; a replicator stack without the parameter writes
        # STANDARD (the template's default). None: no replicator deployed.
        "storage_class": (
            settings.storage_class or DEFAULT_STORAGE_CLASS
            if "replicator" in deployment.stacks
            else None
        ),
        **health(connection, deployment, queue_empty=empty),
    } | deployed_scale(settings.replicator_parameters or {})
