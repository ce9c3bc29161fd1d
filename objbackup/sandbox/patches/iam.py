"""IAM as the sandbox needs it: roles' inline policies from CloudFormation stored as IAM stores
them, and the hook through which objbackup/sandbox/access.py enforces policies.

moto's CloudFormation stores an IAM role's inline policies as the template's parsed objects, so
GetRolePolicy answers Python repr text (`{'Version': '2012-10-17', ...`) and moto's access control,
which reads policies with json.loads, cannot evaluate them; an update of the role leaves its old
policies in place. The patch stores them as JSON text, on create and on update, as IAM does
("GetRolePolicy": the document is URL-encoded JSON,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html).
"""

from __future__ import annotations

import json
from typing import Any

from objbackup.sandbox.patches.cloudformation import (
    around_cloudformation_create,
    around_cloudformation_update,
)
from objbackup.sandbox.patches.registry import Patch

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
    from moto.iam.models import InlinePolicy, Role

    def policy_as_json(cloudformation_json: Any) -> None:
        properties = cloudformation_json.get("Properties", {})
        if "PolicyDocument" in properties:
            properties["PolicyDocument"] = _as_json(properties["PolicyDocument"])

    def policies_as_json(cloudformation_json: Any) -> None:
        _policies_as_json(cloudformation_json)

    def remember(role: Any, cloudformation_json: Any, account_id: str) -> None:
        setattr(role, _TEMPLATE_POLICIES, set(_policies_as_json(cloudformation_json)))

    def replace(role: Any, cloudformation_json: Any, account_id: str) -> None:
        policies = _policies_as_json(cloudformation_json)
        for name in getattr(role, _TEMPLATE_POLICIES, set()) - set(policies):
            role.policies.pop(name, None)
        role.policies.update(policies)
        setattr(role, _TEMPLATE_POLICIES, set(policies))

    around_cloudformation_create(Role, before=policies_as_json, after=remember)
    around_cloudformation_create(InlinePolicy, before=policy_as_json)
    around_cloudformation_update(Role, after=replace)
    around_cloudformation_update(InlinePolicy, before=policy_as_json)


def close_access_control_gap() -> None:
    """moto's access control is on for every key or none (INITIAL_NO_AUTH_ACTION_COUNT): hook its
    check so that the sandbox holds its own principals to their policies while enforcing, and
    leaves the operator's keys (and everything while not enforcing) to moto as it is."""
    from objbackup.sandbox import access

    access.hook_authorization()


INLINE_POLICIES = Patch(
    "iam",
    "cloudformation-inline-policies",
    "IAM stores inline policies as JSON text (GetRolePolicy, "
    "https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html) and a role's "
    "update replaces them; moto's CloudFormation stores Python repr and keeps old ones",
    (
        "tests/unit/test_iam_gaps.py::test_a_deployed_roles_inline_policies_read_back_as_json_and_follow_updates",
    ),
    close_cloudformation_inline_policy_gap,
)
ACCESS_CONTROL = Patch(
    "iam",
    "access-control",
    "IAM holds each principal to its policies; moto checks all keys or none, and by its own "
    "resources and action names (objbackup/sandbox/access.py, iam_rules.py)",
    ("tests/unit/test_policy_mutations.py::test_access_control_is_really_on",),
    close_access_control_gap,
)
PATCHES = (INLINE_POLICIES, ACCESS_CONTROL)
