"""moto 5.2 CloudFormation gaps that `deploy` and `teardown` run into, closed for these tests.

They belong with the sandbox's gap closers (objbackup/sandbox/gaps.py, the lead's); until they
move there, the CLI tests apply them here. Each has a test in test_moto_gaps.py that fails if
the gap is closed upstream (or reopens).

1. ExecuteChangeSet leaves the stack's outputs, parameters and description as they were before
   the change set (a CREATE change set gives a stack with no Outputs at all).
2. A parameter-only update reaches only resources that `Ref` the parameter, not those that use it
   in `Fn::Sub` (the functions' OBJBACKUP_RETAIN / OBJBACKUP_GRACE_SECONDS).
3. The sandbox's bucket gap closer wraps FakeBucket.update_from_cloudformation_json with
   positional parameter names, but moto calls it with keywords: any update of a bucket fails.
4. An update that touches a resource moto cannot update (a DynamoDB table, e.g. for a new
   DeletionPolicy) drops the resource from the stack, whose outputs then fail to resolve.
"""

from __future__ import annotations

import re
from typing import Any

_applied: set[str] = set()
_SUB_VARIABLE = re.compile(r"\$\{([^}!.]+)\}")


def close_execute_change_set_gap() -> None:
    if "execute-change-set" in _applied:
        return
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        original(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.parameters = dict(change_set.parameters)
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    _applied.add("execute-change-set")


def close_sub_parameter_gap() -> None:
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


def close_bucket_update_keywords_gap() -> None:
    if "bucket-update-keywords" in _applied:
        return
    from moto.s3.models import FakeBucket

    wrapped = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        return wrapped(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )

    FakeBucket.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment, method-assign]
    _applied.add("bucket-update-keywords")


def close_unupdatable_resource_gap() -> None:
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


def close_all() -> None:
    close_execute_change_set_gap()
    close_sub_parameter_gap()
    close_bucket_update_keywords_gap()
    close_unupdatable_resource_gap()
