"""S3 -> EventBridge as AWS delivers it: events in AWS's shape (objbackup/sandbox/s3events.py), on
the default bus, for every write and delete, and the notification configuration read back whole."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, cast

from objbackup.sandbox.patches.lambda_ import invoke_async
from objbackup.sandbox.patches.registry import Patch


def close_s3_eventbridge_gap() -> None:
    """Send S3 -> EventBridge events in AWS's shape (see s3events.py), to the default bus only,
    including the delete-marker and version deletions of versioned buckets that moto omits, and
    one event (not a PutObject before it) per completed multipart upload."""
    from moto.s3 import models as s3_models
    from moto.s3 import notifications

    completing = threading.local()

    def send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        name = str(getattr(event_name, "value", event_name))
        if bucket.is_versioned and name.startswith("s3:ObjectRemoved"):
            return  # the delete_object wrapper below speaks for versioned buckets
        if getattr(completing, "active", False) and name == "s3:ObjectCreated:Put":
            return  # moto's multipart completion stores through put_object: one event, not two
        _route(
            account_id,
            bucket,
            name,
            key.name,
            size=key.size,
            etag=key.etag,
            version_id=key.version_id if bucket.is_versioned else None,
        )

    original_delete = s3_models.S3Backend.delete_object

    def delete_object(
        self: Any, bucket_name: str, key_name: str, version_id: str | None = None, **kwargs: Any
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        existed = key_name in bucket.keys
        result = original_delete(self, bucket_name, key_name, version_id=version_id, **kwargs)
        config = bucket.notification_configuration
        if (
            bucket.is_versioned
            and existed
            and config is not None
            and config.event_bridge is not None
        ):
            meta = result[1] if isinstance(result, tuple) and len(result) > 1 else {}
            marker = version_id is None
            _route(
                self.account_id,
                bucket,
                "s3:ObjectRemoved:DeleteMarkerCreated" if marker else "s3:ObjectRemoved:Delete",
                key_name,
                version_id=str(meta.get("version-id") or version_id or ""),
            )
        return result

    original_complete = s3_models.S3Backend.complete_multipart_upload

    def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        completing.active = True
        try:
            return original_complete(self, *args, **kwargs)
        finally:
            completing.active = False

    notifications._send_event_bridge_message = send
    s3_models.S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign]
    s3_models.S3Backend.delete_object = delete_object  # type: ignore[method-assign, assignment]


def _route(account_id: str, bucket: Any, event_name: str, key: str, **fields: Any) -> None:
    from moto.events.models import events_backends

    from objbackup.sandbox.s3events import build_event

    event = build_event(
        account=account_id,
        region=bucket.region_name,
        bucket=bucket.name,
        key=key,
        event_name=event_name,
        **fields,
    )
    if event is None:
        return
    bus = events_backends[account_id][bucket.region_name].event_buses.get("default")
    if bus is None:
        return
    # moto's targets expect `time` as a Unix timestamp and write it out as ISO 8601 themselves.
    event["time"] = int(datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp())
    for rule in list(bus.rules.values()):
        if rule.state != "ENABLED" or rule.scheduled_expression:
            continue
        if not rule.event_pattern.matches_event(cast(Any, event)):
            continue
        for target in list(rule.targets):
            arn = str(target["Arn"])
            if arn.startswith("arn:aws:sqs:"):
                group = target.get("SqsParameters", {}).get("MessageGroupId")
                rule._send_to_sqs_queue(arn.rsplit(":", 1)[-1], dict(event), group)
            elif ":lambda:" in arn:
                # moto's Lambda targets do nothing; EventBridge invokes them asynchronously.
                invoke_async(arn, dict(event))


def close_get_notification_eventbridge_gap() -> None:
    """moto's GetBucketNotificationConfiguration never returns `EventBridgeConfiguration`, so a
    read-modify-write of a bucket's notifications would silently switch EventBridge off."""
    from moto.core.responses import ActionResult, EmptyResult
    from moto.s3 import responses

    def get_bucket_notification(self: Any) -> Any:
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if not config:
            return self.serialized(EmptyResult())

        def build(item: Any, arn_key: str) -> dict[str, Any]:
            built: dict[str, Any] = {"Id": item.id, arn_key: item.arn, "Events": item.events}
            if item.filters:
                built["Filter"] = {"Key": {"FilterRules": item.filters["S3Key"]["FilterRule"]}}
            return built

        result: dict[str, Any] = {
            "TopicConfigurations": [build(t, "TopicArn") for t in config.topic],
            "QueueConfigurations": [build(q, "QueueArn") for q in config.queue],
            "LambdaFunctionConfigurations": [
                build(f, "LambdaFunctionArn") for f in config.cloud_function
            ],
        }
        if config.event_bridge is not None:
            result["EventBridgeConfiguration"] = {}
        self.data["Action"] = "GetBucketNotificationConfiguration"
        return self.serialized(ActionResult(result))

    responses.S3Response.get_bucket_notification = get_bucket_notification  # type: ignore[method-assign]


PATCHES = (
    Patch(
        "s3",
        "eventbridge-events",
        "S3 sends AWS-shaped events to the default bus for delete markers, version deletions and "
        "one per multipart upload; moto omits or doubles them and its Lambda targets do nothing",
        (
            "tests/sandbox/test_sandbox_gaps.py::test_s3_events_have_aws_shape_unique_ids_and_increasing_sequencers",
            "tests/sandbox/test_sandbox_gaps.py::test_versioned_bucket_delete_marker_and_version_deletions_send_events",
            "tests/sandbox/test_sandbox_gaps.py::test_multipart_upload_sends_complete_multipart_upload",
        ),
        close_s3_eventbridge_gap,
    ),
    Patch(
        "s3",
        "get-notification-eventbridge",
        "GetBucketNotificationConfiguration returns EventBridgeConfiguration; moto's never does, "
        "so a read-modify-write would switch EventBridge off",
        ("tests/unit/test_adopt.py::test_turning_eventbridge_on_keeps_every_other_notification",),
        close_get_notification_eventbridge_gap,
    ),
)
