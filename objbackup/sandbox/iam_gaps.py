"""moto's CloudFormation stores an IAM role's inline policies as the template's parsed objects, so
GetRolePolicy answers Python repr text (`{'Version': '2012-10-17', ...`) and moto's access control,
which reads policies with json.loads, cannot evaluate them; an update of the role leaves its old
policies in place. This closer stores them as JSON text, on create and on update, as IAM does
("GetRolePolicy": the document is URL-encoded JSON,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html).

Kept apart from objbackup/sandbox/gaps.py (its close_all calls this) so that it merges cleanly.
"""

from __future__ import annotations

import json
from typing import Any

_applied: set[str] = set()
# Kept on a moto Role: the names of the inline policies its template's `Policies` gave it (an
# AWS::IAM::Policy resource may add others, which a role's update must keep).
_TEMPLATE_POLICIES = "_objbackup_template_policies"


def _as_json(document: Any) -> str:
    """JSON text; a statement `Fn::If` left out (AWS::NoValue, which moto keeps as null) dropped,
    as CloudFormation drops it ("Condition functions", AWS CloudFormation Template Reference)."""
    if isinstance(document, str):
        return document
    if isinstance(document, dict) and isinstance(document.get("Statement"), list):
        document = {**document, "Statement": [s for s in document["Statement"] if s is not None]}
    return json.dumps(document)


def _policies_as_json(cloudformation_json: Any) -> dict[str, str]:
    """The resource's `Policies`, rewritten in place with JSON documents; by name."""
    policies = cloudformation_json.get("Properties", {}).get("Policies") or []
    for policy in policies:
        policy["PolicyDocument"] = _as_json(policy["PolicyDocument"])
    return {policy["PolicyName"]: policy["PolicyDocument"] for policy in policies}


def close_cloudformation_inline_policy_gap() -> None:
    """AWS::IAM::Role `Policies` and AWS::IAM::Policy `PolicyDocument` are stored as JSON text;
    a role's update replaces its inline policies with the template's ("AWS::IAM::Role Policies":
    update requires no interruption, AWS CloudFormation Template Reference)."""
    if "cfn-inline-policy" in _applied:
        return
    from moto.iam.models import InlinePolicy, Role

    from objbackup.sandbox.gaps import _around_cloudformation_create

    def policy_as_json(cloudformation_json: Any) -> None:
        properties = cloudformation_json.get("Properties", {})
        if "PolicyDocument" in properties:
            properties["PolicyDocument"] = _as_json(properties["PolicyDocument"])

    def remember(role: Any, cloudformation_json: Any, account_id: str) -> None:
        setattr(role, _TEMPLATE_POLICIES, set(_policies_as_json(cloudformation_json)))

    def policies_as_json(cloudformation_json: Any) -> None:
        _policies_as_json(cloudformation_json)

    _around_cloudformation_create(Role, before=policies_as_json, after=remember)
    _around_cloudformation_create(InlinePolicy, before=policy_as_json)

    original_role_update = Role.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    # moto may call this with keywords: keep its parameter names.
    def update_role(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        role = original_role_update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        policies = _policies_as_json(cloudformation_json)
        for name in getattr(role, _TEMPLATE_POLICIES, set()) - set(policies):
            role.policies.pop(name, None)
        role.policies.update(policies)
        setattr(role, _TEMPLATE_POLICIES, set(policies))
        return role

    original_policy_update = InlinePolicy.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update_policy(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        policy_as_json(cloudformation_json)
        return original_policy_update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )

    Role.update_from_cloudformation_json = classmethod(update_role)  # type: ignore[assignment, method-assign]
    InlinePolicy.update_from_cloudformation_json = classmethod(update_policy)  # type: ignore[assignment, method-assign]
    _applied.add("cfn-inline-policy")
