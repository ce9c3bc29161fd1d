"""CloudFormation as moto 5.2 runs it short of AWS: change sets, parameter-only updates, updates
moto cannot apply, RetainExceptOnCreate, and bucket and rule properties it ignores or misreads;
with the wrappers the other services' resource patches use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from objbackup.sandbox.patches.registry import Patch


def around_cloudformation_create(
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


def around_cloudformation_update(
    model: Any,
    before: Callable[[Any], Any] | None = None,
    after: Callable[[Any, Any, str], None] | None = None,
) -> None:
    """Wrap a moto model's `update_from_cloudformation_json`: `before(cloudformation_json)` may
    rewrite the template's resource in place, or return another for moto to see (None: the
    template's own); `after(resource, cloudformation_json, account_id)` completes what moto made,
    from the template's own."""
    original = model.update_from_cloudformation_json.__func__

    # moto may call this with keywords: keep its parameter names.
    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        given = before(cloudformation_json) if before is not None else None
        resource = original(
            cls,
            original_resource,
            new_resource_name,
            cloudformation_json if given is None else given,
            account_id,
            region_name,
        )
        if after is not None:
            after(resource, cloudformation_json, account_id)
        return resource

    model.update_from_cloudformation_json = classmethod(update)


def close_cloudformation_bucket_gap() -> None:
    """moto's CloudFormation ignores a bucket's NotificationConfiguration (EventBridge),
    VersioningConfiguration and PublicAccessBlockConfiguration; apply them as S3 would. An
    update that gives a bucket without a BucketName its Tags fails in moto (KeyError
    'BucketName'); tag the bucket it has instead (Tags update with no interruption)."""
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

    def without_tags(cloudformation_json: Any) -> Any:
        # moto tags a bucket by its BucketName property: an unnamed one's Tags are ours to apply.
        properties = cloudformation_json.get("Properties", {})
        if "BucketName" in properties or "Tags" not in properties:
            return None
        untagged = {key: value for key, value in properties.items() if key != "Tags"}
        return {**cloudformation_json, "Properties": untagged}

    def tag_and_apply(bucket: Any, cloudformation_json: Any, account_id: str) -> None:
        properties = cloudformation_json.get("Properties", {})
        tags = None if "BucketName" in properties else properties.get("Tags")
        if tags is not None:
            flat = TaggingService().flatten_tag_list(tags)
            s3_backends[account_id]["aws"].put_bucket_tagging(
                bucket.name, {key: value or "" for key, value in flat.items()}
            )
        apply(bucket, cloudformation_json, account_id)

    around_cloudformation_create(FakeBucket, after=apply)
    around_cloudformation_update(FakeBucket, before=without_tags, after=tag_and_apply)


def close_rule_pattern_text_gap() -> None:
    """CloudFormation takes an AWS::Events::Rule EventPattern as JSON text as well as an object
    (the replicator's filtered rule is text); moto JSON-encodes the text a second time and then
    fails to read its own pattern. Parse the text first."""
    from moto.events.models import Rule

    def parse_pattern_text(cloudformation_json: Any) -> None:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("EventPattern"), str):
            properties["EventPattern"] = json.loads(properties["EventPattern"])

    around_cloudformation_create(Rule, before=parse_pattern_text)


def close_change_set_gap() -> None:
    """moto's ExecuteChangeSet applies the resources but leaves the stack's template, parameters,
    description and Outputs as they were (none at all for a new stack); refresh them as
    CloudFormation does, so deploys through change sets read their outputs back."""
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


_SUB_VARIABLE = re.compile(r"\$\{([^}!.]+)\}")


def close_sub_parameter_gap() -> None:
    """On a parameter-only update moto reaches only resources that `Ref` the parameter, not
    those that use it in `Fn::Sub` (the functions' OBJBACKUP_RETAIN, OBJBACKUP_GRACE_SECONDS):
    count `${Name}` inside Fn::Sub as a reference too."""
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


def close_unupdatable_resource_gap() -> None:
    """An update touching a resource moto cannot update (a DynamoDB table given a new
    DeletionPolicy) drops it from the stack, whose outputs then fail: keep the resource."""
    from moto.cloudformation import parsing

    original = parsing.parse_and_update_resource

    def parse_and_update_resource(
        logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        previous = resources_map._parsed_resources.get(logical_id)
        updated = original(logical_id, resource_json, resources_map, account_id, region_name)
        return previous if updated is None else updated

    parsing.parse_and_update_resource = parse_and_update_resource


def close_retain_except_on_create_gap() -> None:
    """moto 5.2 retains only `DeletionPolicy: Retain` when a stack is deleted; CloudFormation
    retains `RetainExceptOnCreate` resources too, on every operation but the rollback of their
    creation ("DeletionPolicy attribute", AWS CloudFormation Template Reference). moto models
    no rollbacks, so a stack deletion treats it as Retain."""
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


PATCHES = (
    Patch(
        "cloudformation",
        "bucket-properties",
        "AWS::S3::Bucket applies NotificationConfiguration (EventBridge), VersioningConfiguration "
        "and PublicAccessBlockConfiguration, and tags an unnamed bucket on update; moto does not",
        (
            "tests/sandbox/test_sandbox_gaps.py::test_cloudformation_applies_bucket_notification_versioning_and_public_access_block",
            "tests/unit/test_moto_cfn_gaps.py::test_an_update_that_tags_a_bucket_keeps_it_and_tags_it",
        ),
        close_cloudformation_bucket_gap,
    ),
    Patch(
        "cloudformation",
        "rule-pattern-text",
        "AWS::Events::Rule takes an EventPattern as JSON text; moto encodes the text twice",
        ("tests/unit/test_filters.py::test_sandbox_gap_a_rule_pattern_given_as_json_text",),
        close_rule_pattern_text_gap,
    ),
    Patch(
        "cloudformation",
        "change-set-outputs",
        "ExecuteChangeSet refreshes the stack's template, parameters, description and Outputs; "
        "moto leaves them as they were",
        (
            "tests/unit/test_moto_cfn_gaps.py::test_create_change_set_gives_outputs_and_update_gives_parameters",
        ),
        close_change_set_gap,
    ),
    Patch(
        "cloudformation",
        "sub-parameters",
        "a parameter-only update reaches resources that use the parameter in Fn::Sub; moto "
        "follows only Ref",
        ("tests/unit/test_moto_cfn_gaps.py::test_sub_only_parameter_update_reaches_the_resource",),
        close_sub_parameter_gap,
    ),
    Patch(
        "cloudformation",
        "unupdatable-resource",
        "an update moto cannot apply to a resource (a table's new DeletionPolicy) must keep the "
        "resource; moto drops it from the stack",
        (
            "tests/unit/test_moto_cfn_gaps.py::test_policy_only_updates_of_a_bucket_and_a_table_keep_them_in_the_stack",
        ),
        close_unupdatable_resource_gap,
    ),
    Patch(
        "cloudformation",
        "retain-except-on-create",
        "a stack deletion retains RetainExceptOnCreate resources (DeletionPolicy attribute, AWS "
        "CloudFormation Template Reference); moto retains only Retain",
        (
            "tests/unit/test_moto_cfn_gaps.py::test_a_stack_deletion_keeps_retain_except_on_create_resources",
        ),
        close_retain_except_on_create_gap,
    ),
)
