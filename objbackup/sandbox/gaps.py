"""Patches that close gaps between moto and S3 which objbackup's correctness depends on.

Each patch is applied once, is idempotent, and has a test that fails if the gap reopens (for
instance because a moto upgrade changed the method patched here).
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlparse

_applied: set[str] = set()
# Set by install_lambda_executor: invokes a function ARN asynchronously with an event.
_async_invoke: Callable[[str, dict[str, Any]], None] | None = None
# Set by install_lambda_executor: the sandbox's LambdaExecutor, told of replaced functions.
_executor: Any = None


def _check_copies(check: Callable[[Any], None]) -> None:
    """Run `check` on every CopyObject and UploadPartCopy request before moto handles it."""
    from moto.s3.responses import S3Response

    for name in ("copy_object", "upload_part_copy"):
        original = getattr(S3Response, name)

        def guarded(self: Any, _original: Any = original) -> Any:
            check(self)
            return _original(self)

        setattr(S3Response, name, guarded)


def close_copy_source_if_match_gap() -> None:
    """moto 5.2 ignores `x-amz-copy-source-if-match` on CopyObject and UploadPartCopy; S3 answers
    412 PreconditionFailed when the source's ETag differs. The replicator relies on it to copy
    exactly the version an event describes."""
    if "copy-source-if-match" in _applied:
        return
    from moto.s3.exceptions import PreconditionFailed

    def check(response: Any) -> None:
        wanted = response.headers.get("x-amz-copy-source-if-match")
        if not wanted:
            return
        source = response.headers.get("x-amz-copy-source")
        if isinstance(source, bytes):
            source = source.decode("utf-8")
        parsed = urlparse(source)
        bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
        version = parse_qs(parsed.query).get("versionId", [None])[0]
        found = response.backend.get_object(bucket, key, version_id=version)
        if found is not None and found.etag.strip('"') != str(wanted).strip('"'):
            raise PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")

    _check_copies(check)
    _applied.add("copy-source-if-match")


def close_copy_destination_condition_gap() -> None:
    """moto 5.2 ignores `If-None-Match` and `If-Match` on CopyObject, and `If-Match` on
    CompleteMultipartUpload: conditions on the object being written. S3 answers 412 when the
    destination exists (If-None-Match: *) or has another ETag, and 404 when If-Match names a
    missing one. Restore and undelete rely on it never to overwrite a write they did not see."""
    if "copy-destination-condition" in _applied:
        return
    from moto.s3.exceptions import MissingKey, PreconditionFailed
    from moto.s3.responses import S3Response

    def check(response: Any, bucket: str, key: str) -> None:
        if_none_match = response.headers.get("If-None-Match")
        if_match = response.headers.get("If-Match")
        if not (if_none_match or if_match):
            return
        existing = response.backend.get_object(bucket, key)
        if if_none_match == "*" and existing is not None:
            raise PreconditionFailed("If-None-Match")
        if if_match:
            if existing is None:
                raise MissingKey(key=key)
            if existing.etag.strip('"') != str(if_match).strip('"'):
                raise PreconditionFailed("If-Match")

    original_copy = S3Response.copy_object

    def copy_object(self: Any) -> Any:
        check(self, self.bucket_name, self.parse_key_name())
        return original_copy(self)

    original_post = S3Response._key_response_post

    def key_response_post(
        self: Any, request: Any, body: Any, bucket_name: str, query: Any, key_name: str
    ) -> Any:
        # Only the If-Match of a completion: moto already checks its If-None-Match.
        if query.get("uploadId") and self.headers.get("If-Match"):
            existing = self.backend.get_object(bucket_name, key_name)
            upload = query["uploadId"][0]
            if not (
                existing is not None and existing.multipart and existing.multipart.id == upload
            ):
                check(self, bucket_name, key_name)
        return original_post(self, request, body, bucket_name, query, key_name)

    S3Response.copy_object = copy_object  # type: ignore[method-assign]
    S3Response._key_response_post = key_response_post  # type: ignore[method-assign]
    _applied.add("copy-destination-condition")


def close_s3_eventbridge_gap() -> None:
    """Send S3 -> EventBridge events in AWS's shape (see s3events.py), to the default bus only,
    including the delete-marker and version deletions of versioned buckets that moto omits, and
    one event (not a PutObject before it) per completed multipart upload."""
    if "s3-eventbridge" in _applied:
        return
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
    _applied.add("s3-eventbridge")


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
            elif ":lambda:" in arn and _async_invoke is not None:
                # moto's Lambda targets do nothing; EventBridge invokes them asynchronously.
                _async_invoke(arn, dict(event))


def _around_cloudformation_create(
    model: Any,
    before: Callable[[Any], None] | None = None,
    after: Callable[[Any, Any, str], None] | None = None,
) -> None:
    """Wrap a moto model's `create_from_cloudformation_json`: `before(cloudformation_json)` may
    rewrite the template's resource, `after(resource, cloudformation_json, account_id)` completes
    what moto made."""
    original = model.create_from_cloudformation_json.__func__

    # moto may call this with keywords: keep its parameter names.
    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        if before is not None:
            before(cloudformation_json)
        resource = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        if after is not None:
            after(resource, cloudformation_json, account_id)
        return resource

    model.create_from_cloudformation_json = classmethod(create)  # type: ignore[arg-type]


def close_cloudformation_bucket_gap() -> None:
    """moto's CloudFormation ignores a bucket's NotificationConfiguration (EventBridge),
    VersioningConfiguration and PublicAccessBlockConfiguration; apply them as S3 would. An
    update that gives a bucket without a BucketName its Tags fails in moto (KeyError
    'BucketName'); tag the bucket it has instead (Tags update with no interruption)."""
    if "cfn-bucket" in _applied:
        return
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.tagging_service import TaggingService

    def apply(bucket: Any, cloudformation_json: Any, account_id: str) -> None:
        properties = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id]["aws"]
        notification = properties.get("NotificationConfiguration", {})
        if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (
            True,
            "true",
            "True",
        ):
            backend.put_bucket_notification_configuration(
                bucket.name, {"EventBridgeConfiguration": {}}
            )
        status = properties.get("VersioningConfiguration", {}).get("Status")
        if status:
            backend.put_bucket_versioning(bucket.name, status)
        block = properties.get("PublicAccessBlockConfiguration")
        if block:
            backend.put_public_access_block(
                bucket.name, {k: str(v).lower() == "true" for k, v in block.items()}
            )

    _around_cloudformation_create(FakeBucket, after=apply)
    original_update = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    # moto may call this with keywords: keep its parameter names.
    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        tags = None if "BucketName" in properties else properties.pop("Tags", None)
        try:
            bucket = original_update(
                cls,
                original_resource,
                new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
            )
        finally:
            if tags is not None:
                properties["Tags"] = tags
        if tags is not None:
            flat = TaggingService().flatten_tag_list(tags)
            s3_backends[account_id]["aws"].put_bucket_tagging(
                bucket.name, {key: value or "" for key, value in flat.items()}
            )
        apply(bucket, cloudformation_json, account_id)
        return bucket

    FakeBucket.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment, method-assign]
    _applied.add("cfn-bucket")


def close_rule_pattern_text_gap() -> None:
    """CloudFormation takes an AWS::Events::Rule EventPattern as JSON text as well as an object
    (the replicator's filtered rule is text); moto JSON-encodes the text a second time and then
    fails to read its own pattern. Parse the text first."""
    if "rule-pattern-text" in _applied:
        return
    from moto.events.models import Rule

    def parse_pattern_text(cloudformation_json: Any) -> None:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("EventPattern"), str):
            properties["EventPattern"] = json.loads(properties["EventPattern"])

    _around_cloudformation_create(Rule, before=parse_pattern_text)
    _applied.add("rule-pattern-text")


def close_get_notification_eventbridge_gap() -> None:
    """moto's GetBucketNotificationConfiguration never returns `EventBridgeConfiguration`, so a
    read-modify-write of a bucket's notifications would silently switch EventBridge off."""
    if "get-notification" in _applied:
        return
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
    _applied.add("get-notification")


def close_change_set_gap() -> None:
    """moto's ExecuteChangeSet applies the resources but leaves the stack's template, parameters,
    description and Outputs as they were (none at all for a new stack); refresh them as
    CloudFormation does, so deploys through change sets read their outputs back."""
    if "change-set" in _applied:
        return
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        change_set = self.change_sets.get(change_set_name) or next(
            c for c in self.change_sets.values() if c.change_set_name == change_set_name
        )
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.parameters = dict(change_set.parameters)
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    _applied.add("change-set")


_SUB_VARIABLE = re.compile(r"\$\{([^}!.]+)\}")


def close_sub_parameter_gap() -> None:
    """On a parameter-only update moto reaches only resources that `Ref` the parameter, not
    those that use it in `Fn::Sub` (the functions' OBJBACKUP_RETAIN, OBJBACKUP_GRACE_SECONDS):
    count `${Name}` inside Fn::Sub as a reference too."""
    if "sub-parameters" in _applied:
        return
    from moto.cloudformation import parsing

    original = parsing.get_references_from_template

    def references(template: Any) -> list[str]:
        found = list(original(template))

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "Fn::Sub":
                        text, names = (value, {}) if isinstance(value, str) else value[:2]
                        found.extend(v for v in _SUB_VARIABLE.findall(text) if v not in names)
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(template)
        return found

    parsing.get_references_from_template = references
    _applied.add("sub-parameters")


def close_unupdatable_resource_gap() -> None:
    """An update touching a resource moto cannot update (a DynamoDB table given a new
    DeletionPolicy) drops it from the stack, whose outputs then fail: keep the resource."""
    if "unupdatable-resource" in _applied:
        return
    from moto.cloudformation import parsing

    original = parsing.parse_and_update_resource

    def parse_and_update_resource(
        logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        previous = resources_map._parsed_resources.get(logical_id)
        updated = original(logical_id, resource_json, resources_map, account_id, region_name)
        return previous if updated is None else updated

    parsing.parse_and_update_resource = parse_and_update_resource
    _applied.add("unupdatable-resource")


def close_retain_except_on_create_gap() -> None:
    """moto 5.2 retains only `DeletionPolicy: Retain` when a stack is deleted; CloudFormation
    retains `RetainExceptOnCreate` resources too, on every operation but the rollback of their
    creation ("DeletionPolicy attribute", AWS CloudFormation Template Reference). moto models
    no rollbacks, so a stack deletion treats it as Retain."""
    if "retain-except-on-create" in _applied:
        return
    from moto.cloudformation import parsing

    original = parsing.ResourceMap.delete

    def delete(self: Any) -> None:
        for resource in self._resource_json_map.values():
            if isinstance(resource, dict) and resource.get("DeletionPolicy") == (
                "RetainExceptOnCreate"
            ):
                resource["DeletionPolicy"] = "Retain"
        original(self)

    parsing.ResourceMap.delete = delete  # type: ignore[method-assign]
    _applied.add("retain-except-on-create")


def close_sqs_receive_cost_gap() -> None:
    """moto checks each received message's retention by computing every attribute of its queue,
    message counts included: a receive costs O(backlog²). Read the retention period directly;
    the answer is the same, and a backlog no longer slows the sandbox to a crawl."""
    if "sqs-receive-cost" in _applied:
        return
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )
    _applied.add("sqs-receive-cost")


def close_dynamodb_query_cost_gap() -> None:
    """moto answers a Query on the table key by sorting every item of the table and keeping
    those of the key: O(table) per call. Hand it only the key's own items; the answer is the
    same, and the replicator's one Query per event no longer grows with the table."""
    if "dynamodb-query-cost" in _applied:
        return
    from moto.dynamodb.models.table import Table

    only = threading.local()
    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Any) -> Any:
        key = getattr(only, "hash_key", None)
        if key is None:
            return original_all_items(self)
        found = self.items.get(key)
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: x.range_key) if self.range_key_attr else items

    signature = inspect.signature(original_query)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, hash_key, *args, **kwargs)
        if bound.arguments.get("index_name") or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        only.hash_key = hash_key
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            only.hash_key = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    _applied.add("dynamodb-query-cost")


def close_dynamodb_transaction_cost_gap() -> None:
    """moto deep-copies a table once per item of a TransactWriteItems call, to roll back on
    failure: O(items x table) per call, so the cleaner's claims (100 items a transaction) cost
    seconds each on a large table. Take one snapshot per table and call instead: a shallow copy
    of the table with deep copies of only the items the transaction touches (the only ones it can
    change); a rollback restores the same state."""
    if "dynamodb-transaction-cost" in _applied:
        return
    import copy as copy_module

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    active = threading.local()

    def snapshot(table: Any, touched: set[tuple[str, str]]) -> Any:
        saved = copy_module.copy(table)
        if table.range_key_attr:
            saved.items = type(table.items)(
                table.items.default_factory, {h: dict(r) for h, r in table.items.items()}
            )
            for hash_value, range_value in touched:
                if json.loads(range_value) is None:
                    continue  # no such item: the transaction fails validation
                found = saved.items.get(DynamoType(json.loads(hash_value)), {})
                key = DynamoType(json.loads(range_value))
                if key in found:
                    found[key] = copy_module.deepcopy(found[key])
        else:
            saved.items = copy_module.copy(table.items)
            for hash_value, _ in touched:
                key = DynamoType(json.loads(hash_value))
                if key in saved.items:
                    saved.items[key] = copy_module.deepcopy(saved.items[key])
        return saved

    class _Copy:
        """The `copy` module as moto's DynamoDB backend sees it: tables copied cheaply."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy_module, name)

        def deepcopy(self, value: Any, *args: Any) -> Any:
            touched = getattr(active, "touched", None)
            if touched is not None and isinstance(value, Table):
                # moto copies before the first write, once per item: one snapshot serves all.
                saved = active.snapshots.get(value.name)
                if saved is None:
                    saved = snapshot(value, touched.get(value.name, set()))
                    active.snapshots[value.name] = saved
                return saved
            return copy_module.deepcopy(value, *args)

    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: dict[str, set[tuple[str, str]]] = {}
        for item in transact_items:
            for op in item.values():
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                attrs = op.get("Key") or op.get("Item") or {}
                hash_value = attrs.get(table.hash_key_attr)
                range_value = attrs.get(table.range_key_attr) if table.range_key_attr else None
                touched.setdefault(table.name, set()).add(
                    (json.dumps(hash_value), json.dumps(range_value))
                )
        active.touched, active.snapshots = touched, {}
        try:
            original(self, transact_items)
        finally:
            active.touched, active.snapshots = None, {}

    vars(dynamodb_models)["copy"] = _Copy()
    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _applied.add("dynamodb-transaction-cost")


def close_dynamodb_instance_tracking_gap() -> None:
    """moto's BaseModel keeps every instance it makes for ever (`instances_tracked`, read only by
    the /moto-api/data.json dump): every DynamoDB item version (UpdateItem deep-copies the old
    one) and every TransactWriteItems' table snapshot (the closer above), whose copy of the table's
    item dicts is O(table). A 300,000-copy clean grew the server by about 1 GB a minute
    (docs/BENCHMARKS.md). Make items and tables without tracking them."""
    if "dynamodb-instance-tracking" in _applied:
        return
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    def untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    Item.__new__ = staticmethod(untracked)  # type: ignore[method-assign]
    Table.__new__ = staticmethod(untracked)  # type: ignore[method-assign]
    _applied.add("dynamodb-instance-tracking")


def close_sqs_event_source_gap() -> None:
    """moto runs an SQS event source mapping inside SendMessage itself, one message at a time,
    and ignores ReportBatchItemFailures. Detach it: the sandbox's own pollers do the work."""
    if "sqs-esm" in _applied:
        return
    from moto.sqs.models import Queue

    Queue.lambda_event_source_mappings = property(  # type: ignore[assignment]
        lambda self: {}, lambda self, value: None
    )
    _applied.add("sqs-esm")


# What the sandbox keeps on a moto key about things moto does not model.
_SSE_C_ALGORITHM = "_objbackup_sse_customer_algorithm"
_ARCHIVE_STATUS = "_objbackup_archive_status"
_SSE_C_REFUSAL = (
    "The object was stored using a form of Server Side Encryption. The correct parameters must "
    "be provided to retrieve the object."
)


def close_unsupported_source_gap() -> None:
    """moto 5.2 ignores SSE-C (an SSE-C object is copied and HEADed without its key), lets
    UploadPartCopy read an archived object, has no Intelligent-Tiering archive tiers, and refuses
    CopyObject of a GLACIER object with ObjectNotInActiveTierError. S3 refuses a copy of an
    archived, unrestored source with InvalidObjectState (403), and a copy of an SSE-C source
    without its key with 400 InvalidRequest; its HEAD without the key is a bodiless 400 (see
    objbackup/core/unsupported.py for the sources). Do the same, for SSE-C objects written by
    PutObject (a multipart upload's SSE-C is not remembered); `archive_tier` stands in for the
    tiering S3 does after 90 days."""
    if "unsupported-source" in _applied:
        return
    from moto.s3.exceptions import InvalidObjectState, S3ClientError
    from moto.s3.responses import S3Response
    from moto.s3.utils import ARCHIVE_STORAGE_CLASSES

    def archived(key: Any) -> bool:
        if 'ongoing-request="false"' in str(key.response_dict.get("x-amz-restore", "")):
            return False
        tier = getattr(key, _ARCHIVE_STATUS, None)
        return key.storage_class in ARCHIVE_STORAGE_CLASSES or tier is not None

    def refuse(response: Any) -> None:
        source = response.headers.get("x-amz-copy-source")
        if isinstance(source, bytes):
            source = source.decode("utf-8")
        parsed = urlparse(source)
        bucket, key = unquote(parsed.path).lstrip("/").split("/", 1)
        version = parse_qs(parsed.query).get("versionId", [None])[0]
        found = response.backend.get_object(bucket, key, version_id=version)
        if found is None:
            return
        if archived(found):
            refusal = InvalidObjectState(storage_class=found.storage_class)
            refusal.access_tier = getattr(found, _ARCHIVE_STATUS, None)  # type: ignore[attr-defined]
            raise refusal
        customer = "x-amz-copy-source-server-side-encryption-customer-algorithm"
        if getattr(found, _SSE_C_ALGORITHM, None) and not response.headers.get(customer):
            raise S3ClientError("InvalidRequest", _SSE_C_REFUSAL)

    _check_copies(refuse)

    original_put = S3Response.put_object

    def put_object(self: Any) -> Any:
        result = original_put(self)
        algorithm = self.headers.get("x-amz-server-side-encryption-customer-algorithm")
        if algorithm:
            version = result[1].get("x-amz-version-id")
            key = self.backend.get_object(self.bucket_name, self.parse_key_name(), version)
            if key is not None:  # gone again already: nothing to remember
                setattr(key, _SSE_C_ALGORITHM, algorithm)
        return result

    original_head = S3Response.head_object

    def head_object(self: Any, bucket_name: str, query: Any, key_name: str, headers: Any) -> Any:
        status, answer, body = original_head(self, bucket_name, query, key_name, headers)
        if status != 200:
            return status, answer, body
        version = query.get("versionId", [None])[0]
        key = self.backend.get_object(bucket_name, key_name, version_id=version)
        algorithm = getattr(key, _SSE_C_ALGORITHM, None)
        if algorithm:
            if not headers.get("x-amz-server-side-encryption-customer-algorithm"):
                return 400, {}, ""
            answer["x-amz-server-side-encryption-customer-algorithm"] = algorithm
        tier = getattr(key, _ARCHIVE_STATUS, None)
        if tier:
            answer["x-amz-archive-status"] = tier
        return status, answer, body

    S3Response.put_object = put_object  # type: ignore[method-assign]
    S3Response.head_object = head_object  # type: ignore[method-assign]
    _applied.add("unsupported-source")


def archive_tier(bucket: str, key: str, tier: str | None, account_id: str | None = None) -> None:
    """Put an INTELLIGENT_TIERING object in archive tier `tier` (ARCHIVE_ACCESS or
    DEEP_ARCHIVE_ACCESS), as S3 does after 90 (180) days without access when the bucket has an
    archive configuration; None brings it back to Frequent Access, as a completed restore does."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    found = s3_backends[account_id or DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
    if found is None or found.storage_class != "INTELLIGENT_TIERING":
        raise ValueError(f"{bucket}/{key} is not an INTELLIGENT_TIERING object")
    setattr(found, _ARCHIVE_STATUS, tier)


def close_delete_objects_xml_gap() -> None:
    """moto 5.2 lets the XML parser's error escape from DeleteObjects when the body holds a key
    XML 1.0 cannot carry (a control character): in process a Python exception, over HTTP a 500
    that botocore retries. S3 answers 400 MalformedXML for the whole request, and that is what
    objbackup.core.deletes must ride out."""
    if "delete-objects-xml" in _applied:
        return
    from xml.parsers.expat import ExpatError

    from moto.s3.exceptions import MalformedXML
    from moto.s3.responses import S3Response

    original = S3Response._bucket_response_delete_keys

    def delete_keys(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except ExpatError:
            raise MalformedXML() from None

    S3Response._bucket_response_delete_keys = delete_keys  # type: ignore[method-assign]
    _applied.add("delete-objects-xml")


def close_list_object_versions_encoding_gap() -> None:
    """moto 5.2's ListObjectVersions ignores `encoding-type=url` and writes keys raw, so a key
    holding a control character makes the response XML unparseable (a 500 that botocore
    retries). S3 percent-encodes KeyMarker, NextKeyMarker, Prefix, Delimiter and every Key
    when asked ("EncodingType", https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html),
    and botocore always asks and decodes (handlers.py `set_list_objects_encoding_type_url`,
    `decode_list_object_versions`), so teardown and verify list such keys on S3. ListObjects
    and ListObjectsV2 honour the parameter in moto already."""
    if "list-object-versions-encoding" in _applied:
        return
    from urllib.parse import quote

    from moto.s3.responses import S3Response

    original = S3Response.list_object_versions

    def encoded(result: dict[str, Any]) -> dict[str, Any]:
        for name in ("KeyMarker", "NextKeyMarker", "Prefix", "Delimiter"):
            if result.get(name):
                result[name] = quote(str(result[name]))
        for group, name in (("Versions", "Key"), ("DeleteMarkers", "Key")):
            for item in result.get(group, []):
                item[name] = quote(str(item[name]))
        for item in result.get("CommonPrefixes", []):
            item["Prefix"] = quote(str(item["Prefix"]))
        result["EncodingType"] = "url"
        return result

    def list_object_versions(self: Any) -> Any:
        if self.querystring.get("encoding-type", [None])[0] != "url":
            return original(self)
        serialized = self.serialized

        def serialize_encoded(action_result: Any) -> Any:
            if isinstance(action_result.result, dict):
                encoded(action_result.result)
            return serialized(action_result)

        self.serialized = serialize_encoded
        try:
            return original(self)
        finally:
            del self.serialized

    S3Response.list_object_versions = list_object_versions  # type: ignore[method-assign]
    _applied.add("list-object-versions-encoding")


def install_lambda_executor(executor: Any) -> None:
    """Make moto's Lambda Invoke run the deployed bundle through `executor` (no Docker here)."""
    from moto.awslambda.models import LambdaFunction

    from objbackup.sandbox.executor import spec_of

    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) else event
        outcome = executor.invoke(spec_of(self), payload)
        return outcome.body(), outcome.failed, ""

    def invoke_async(function_arn: str, event: dict[str, Any]) -> None:
        from moto.awslambda.models import lambda_backends

        account, region = function_arn.split(":")[4], function_arn.split(":")[3]
        function = lambda_backends[account][region].get_function(function_arn)
        threading.Thread(
            target=executor.invoke, args=(spec_of(function), event), daemon=True
        ).start()

    global _async_invoke, _executor
    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]
    _async_invoke = invoke_async
    _executor = executor
    _retire_replaced_functions()
    _applied.add("lambda-executor")


def _retire_replaced_functions() -> None:
    """Stop the workers of a function that is deleted, or whose code or configuration changes
    (by the API or by CloudFormation, which calls the function's own update methods)."""
    if "lambda-retire" in _applied:
        return
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    def retire(name_or_arn: str) -> None:
        # An ARN: arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
        parts = str(name_or_arn).split(":")
        name = parts[6] if len(parts) > 6 else str(name_or_arn)
        # Duck-typed: the CLI tests install an in-process executor that has no workers.
        stop = getattr(_executor, "retire", None)
        if stop is not None:
            stop(name)

    delete_function = LambdaBackend.delete_function

    def delete(self: Any, function_name: str, qualifier: str | None = None) -> None:
        delete_function(self, function_name, qualifier)
        retire(function_name)

    def after(method: Callable[..., Any]) -> Callable[..., Any]:
        def updated(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            finally:
                retire(self.function_name)

        return updated

    LambdaBackend.delete_function = delete  # type: ignore[method-assign]
    LambdaFunction.update_configuration = after(LambdaFunction.update_configuration)  # type: ignore[method-assign]
    LambdaFunction.update_function_code = after(LambdaFunction.update_function_code)  # type: ignore[method-assign]
    _applied.add("lambda-retire")


def close_all() -> None:
    """Apply every gap closer (in-process moto and the sandbox's server alike)."""
    close_copy_source_if_match_gap()
    close_copy_destination_condition_gap()
    close_s3_eventbridge_gap()
    close_cloudformation_bucket_gap()
    close_get_notification_eventbridge_gap()
    close_rule_pattern_text_gap()
    close_change_set_gap()
    close_sub_parameter_gap()
    close_unupdatable_resource_gap()
    close_retain_except_on_create_gap()
    close_delete_objects_xml_gap()
    close_list_object_versions_encoding_gap()
    close_sqs_event_source_gap()
    close_sqs_receive_cost_gap()
    close_dynamodb_query_cost_gap()
    close_dynamodb_transaction_cost_gap()
    close_dynamodb_instance_tracking_gap()
    close_unsupported_source_gap()
    from objbackup.sandbox import (  # kept apart from the gaps
        alarm_gaps,
        iam_gaps,
        partition_limit,
        speedups,
    )

    alarm_gaps.close_cloudformation_alarm_gap()
    iam_gaps.close_cloudformation_inline_policy_gap()

    speedups.close_all()
    # Off unless OBJBACKUP_SANDBOX_INDEX_WRITE_RATE is set: benchmarks turn it on.
    partition_limit.limit_from_environment()
