"""moto 5.2 CloudFormation gaps that `deploy` updates and `teardown --keep-backups` run into,
closed for these tests (the sandbox closes the change-set gap itself: gaps.close_change_set_gap).

They belong with the sandbox's gap closers (objbackup/sandbox/gaps.py); until they move there,
the CLI tests apply them here. test_moto_gaps.py checks each one.

1. A parameter-only update reaches only resources that `Ref` the parameter, not those that use it
   in `Fn::Sub` (the functions' OBJBACKUP_RETAIN / OBJBACKUP_GRACE_SECONDS).
2. The sandbox's bucket gap closer wraps FakeBucket.update_from_cloudformation_json with
   positional parameter names, but moto calls it with keywords: any update of a bucket fails.
3. An update that touches a resource moto cannot update (a DynamoDB table, e.g. for a new
   DeletionPolicy) drops the resource from the stack, whose outputs then fail to resolve.
"""

from __future__ import annotations

import re
from typing import Any

_applied: set[str] = set()
_SUB_VARIABLE = re.compile(r"\$\{([^}!.]+)\}")


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
    close_sub_parameter_gap()
    close_bucket_update_keywords_gap()
    close_unupdatable_resource_gap()
