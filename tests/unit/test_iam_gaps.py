"""moto's CloudFormation gives roles inline policies IAM (and moto's access control) can read:
the patch in objbackup/sandbox/patches/iam.py, which the moto_aws fixture applies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from objbackup.deploy.stackops import StackOperations
from tests.iam_access import LAMBDA_TRUST

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient


@pytest.fixture
def cfn(moto_aws: None) -> Iterator[Any]:
    yield boto3.client("cloudformation", region_name="us-east-1")


def _template(action: str) -> str:
    """A role with one inline policy, and one more given by an AWS::IAM::Policy resource."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Write",
                "Effect": "Allow",
                "Action": action,
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"},
            },
            {"Fn::If": ["Never", {"Effect": "Allow", "Action": "s3:*"}, {"Ref": "AWS::NoValue"}]},
        ],
    }
    return json.dumps(
        {
            "Parameters": {"Bucket": {"Type": "String"}},
            "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "RoleName": "gap-role",
                        "AssumeRolePolicyDocument": LAMBDA_TRUST,
                        "Policies": [{"PolicyName": "inline", "PolicyDocument": document}],
                    },
                },
                "Extra": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {
                        "PolicyName": "extra",
                        "PolicyDocument": document,
                        "Roles": [{"Ref": "Role"}],
                    },
                },
            },
        }
    )


def test_a_deployed_roles_inline_policies_read_back_as_json_and_follow_updates(
    cfn: CloudFormationClient,
) -> None:
    ops = StackOperations(cfn)
    iam = boto3.client("iam", region_name="us-east-1")
    ops.apply_change_set("gap", "CREATE", _template("s3:PutObject"), {"Bucket": "one"})
    # The raw answer: botocore would decode a JSON document into a dict and leave repr text a str.
    raw = iam.get_role_policy(RoleName="gap-role", PolicyName="inline")["PolicyDocument"]
    assert isinstance(raw, dict), raw
    [statement] = raw["Statement"]  # the AWS::NoValue statement left out, not null
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == "arn:aws:s3:::one/*"
    extra = iam.get_role_policy(RoleName="gap-role", PolicyName="extra")["PolicyDocument"]
    assert isinstance(extra, dict), extra

    ops.apply_change_set("gap", "UPDATE", _template("s3:GetObject"), {"Bucket": "two"})
    updated = iam.get_role_policy(RoleName="gap-role", PolicyName="inline")["PolicyDocument"]
    assert isinstance(updated, dict), updated
    assert updated["Statement"][0]["Action"] == "s3:GetObject"
    assert updated["Statement"][0]["Resource"] == "arn:aws:s3:::two/*"
    assert sorted(iam.list_role_policies(RoleName="gap-role")["PolicyNames"]) == [
        "extra",
        "inline",
    ]
