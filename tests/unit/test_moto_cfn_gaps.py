"""The moto CloudFormation gaps deploy and teardown depend on stay closed (minimal templates):
the sandbox's patches in objbackup/sandbox/patches/cloudformation.py, which the moto_aws fixture
applies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from objbackup.deploy.stackops import StackOperations

if TYPE_CHECKING:
    from types_boto3_cloudformation import CloudFormationClient


@pytest.fixture
def cfn(moto_aws: None) -> Iterator[Any]:
    yield boto3.client("cloudformation", region_name="us-east-1")


def outputs(cfn: CloudFormationClient, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}


def test_create_change_set_gives_outputs_and_update_gives_parameters(
    cfn: CloudFormationClient,
) -> None:
    template = json.dumps(
        {
            "Parameters": {"Name": {"Type": "String"}},
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {"Name": {"Value": {"Ref": "Name"}}, "Url": {"Value": {"Ref": "Queue"}}},
        }
    )
    ops = StackOperations(cfn)
    ops.apply_change_set("gap", "CREATE", template, {"Name": "one"})
    assert outputs(cfn, "gap")["Name"] == "one" and "Url" in outputs(cfn, "gap")
    ops.apply_change_set("gap", "UPDATE", template, {"Name": "two"})
    described = cfn.describe_stacks(StackName="gap")["Stacks"][0]
    assert described["Parameters"] == [{"ParameterKey": "Name", "ParameterValue": "two"}]
    assert outputs(cfn, "gap")["Name"] == "two"


def test_sub_only_parameter_update_reaches_the_resource(cfn: CloudFormationClient) -> None:
    template = json.dumps(
        {
            "Parameters": {"Seconds": {"Type": "Number"}},
            "Resources": {
                "Setting": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {
                        "Name": "/gap/seconds",
                        "Type": "String",
                        "Value": {"Fn::Sub": "${Seconds}"},
                    },
                }
            },
        }
    )
    ops = StackOperations(cfn)
    ops.apply_change_set("gap", "CREATE", template, {"Seconds": "10"})
    ops.apply_change_set("gap", "UPDATE", template, {"Seconds": "30"})
    ssm = boto3.client("ssm", region_name="us-east-1")
    assert ssm.get_parameter(Name="/gap/seconds")["Parameter"]["Value"] == "30"


def test_policy_only_updates_of_a_bucket_and_a_table_keep_them_in_the_stack(
    cfn: CloudFormationClient,
) -> None:
    def template(policy: str) -> str:
        table = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": policy,
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
            },
        }
        bucket = {"Type": "AWS::S3::Bucket", "DeletionPolicy": policy}
        return json.dumps(
            {
                "Resources": {"Table": table, "Bucket": bucket},
                "Outputs": {
                    "Table": {"Value": {"Fn::GetAtt": ["Table", "Arn"]}},
                    "Bucket": {"Value": {"Ref": "Bucket"}},
                },
            }
        )

    ops = StackOperations(cfn)
    ops.apply_change_set("gap", "CREATE", template("Delete"), {})
    assert ops.apply_change_set("gap", "UPDATE", template("Retain"), {}) == "updated"
    assert set(outputs(cfn, "gap")) == {"Table", "Bucket"}
    cfn.delete_stack(StackName="gap")
    assert len(boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]) == 1
    assert len(boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]) == 1


def test_a_stack_deletion_keeps_retain_except_on_create_resources(
    cfn: CloudFormationClient,
) -> None:
    template = json.dumps(
        {
            "Resources": {
                "Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "RetainExceptOnCreate"},
                "Gone": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete"},
            },
            "Outputs": {"Kept": {"Value": {"Ref": "Kept"}}},
        }
    )
    StackOperations(cfn).apply_change_set("gap", "CREATE", template, {})
    kept = outputs(cfn, "gap")["Kept"]
    cfn.delete_stack(StackName="gap")
    buckets = boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets] == [kept]


def test_an_update_that_tags_a_bucket_keeps_it_and_tags_it(cfn: CloudFormationClient) -> None:
    def template(tags: list[dict[str, str]] | None) -> str:
        bucket: dict[str, Any] = {"Type": "AWS::S3::Bucket"}
        if tags is not None:
            bucket["Properties"] = {"Tags": tags}
        return json.dumps(
            {"Resources": {"Bucket": bucket}, "Outputs": {"Bucket": {"Value": {"Ref": "Bucket"}}}}
        )

    ops = StackOperations(cfn)
    ops.apply_change_set("gap", "CREATE", template(None), {})
    name = outputs(cfn, "gap")["Bucket"]
    tags = [{"Key": "objbackup:backups-of", "Value": "gap"}]
    assert ops.apply_change_set("gap", "UPDATE", template(tags), {}) == "updated"
    assert outputs(cfn, "gap")["Bucket"] == name
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == tags
