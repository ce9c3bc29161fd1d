"""The least IAM policy an operator needs to run every objbackup command for one deployment.

Two parts. The CLI's own calls (deploy, list, clean --now, status, restore, undelete, verify,
backfill, teardown): tests/cli/test_operator_policy.py runs every command as an IAM user holding
exactly this policy, with moto's access control on. And what CloudFormation does with the
operator's credentials while it creates, updates and deletes the stacks' resources (no service
role is passed, so CloudFormation "uses your credentials": "AWS CloudFormation service role",
CloudFormation user guide): for each resource type the templates declare, the actions its
registry schema lists under `handlers` (create, update, delete) that the templates' properties use;
the test checks each is listed there. moto's CloudFormation creates resources without asking IAM,
so that part is checked against the documentation only.

Resources are the deployment's own: its three stacks, and the names CloudFormation generates
from them (`<stack>-<LogicalId>-<suffix>`, buckets in lower case). Only tag:GetResources needs
"*": the Resource Group Tagging API has no resource types ("Actions, resources, and condition
keys for Amazon Resource Group Tagging API", Service Authorization Reference); teardown and deploy
use it to find a kept backup bucket and table by their tag.
"""

from __future__ import annotations

from typing import Any

Statement = dict[str, Any]

# What the templates' resources need from CloudFormation's handlers, by resource type (a subset of
# each type's schema `handlers` permissions: the features the templates set, the reads the
# handlers make, and the deletes).
CLOUDFORMATION_ACTIONS: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": (
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:GetBucketAcl",
        "s3:ListBucket",
        "s3:PutBucketNotification",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketTagging",
        "s3:PutBucketVersioning",
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
    "AWS::S3::BucketPolicy": ("s3:DeleteBucketPolicy", "s3:GetBucketPolicy", "s3:PutBucketPolicy"),
    "AWS::DynamoDB::Table": (
        "dynamodb:CreateTable",
        "dynamodb:DeleteTable",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:DescribeContributorInsights",
        "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:GetResourcePolicy",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:UntagResource",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:UpdateTable",
    ),
    "AWS::SQS::Queue": (
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ListQueueTags",
        "sqs:SetQueueAttributes",
        "sqs:TagQueue",
        "sqs:UntagQueue",
    ),
    "AWS::SQS::QueuePolicy": ("sqs:SetQueueAttributes",),
    "AWS::IAM::Role": (
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:DeleteRolePolicy",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:PutRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:UpdateRoleDescription",
    ),
    "AWS::Lambda::Function": (
        "lambda:CreateFunction",
        "lambda:DeleteFunction",
        "lambda:GetFunction",
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetFunctionRecursionConfig",
        "lambda:GetRuntimeManagementConfig",
        "lambda:TagResource",
        "lambda:UntagResource",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
    ),
    "AWS::Lambda::EventSourceMapping": (
        "lambda:CreateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
        "lambda:GetEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
    ),
    "AWS::Lambda::Permission": ("lambda:AddPermission", "lambda:RemovePermission"),
    "AWS::Events::Rule": (
        "events:DeleteRule",
        "events:DescribeRule",
        "events:ListTargetsByRule",
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
    ),
    "AWS::Logs::LogGroup": (
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:DescribeLogGroups",
        "logs:ListTagsForResource",
        "logs:PutRetentionPolicy",
        "logs:TagResource",
    ),
    "AWS::CloudWatch::Alarm": (
        "cloudwatch:DeleteAlarms",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
    ),
    "AWS::CloudWatch::Dashboard": (
        "cloudwatch:DeleteDashboards",
        "cloudwatch:GetDashboard",
        "cloudwatch:PutDashboard",
    ),
    "AWS::SNS::Topic": (
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:ListSubscriptionsByTopic",
        "sns:ListTagsForResource",
        "sns:SetTopicAttributes",
        "sns:TagResource",
        "sns:UntagResource",
    ),
    "AWS::SNS::TopicPolicy": ("sns:SetTopicAttributes",),
    "AWS::SNS::Subscription": (
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
        "sns:Subscribe",
        "sns:Unsubscribe",
    ),
}

# The CLI's own calls, by the resource they act on (the test proves each is needed).
CLI_ACTIONS: dict[str, tuple[str, ...]] = {
    "stacks": (
        "cloudformation:CreateChangeSet",
        "cloudformation:DeleteChangeSet",
        "cloudformation:DeleteStack",
        "cloudformation:DescribeChangeSet",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStacks",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:GetTemplate",
        "cloudformation:ListStackResources",
    ),
    # HEAD of a missing key answers 404 only with s3:ListBucket (else 403): S3 API reference,
    # HeadObject, "Permissions". Teardown empties the buckets of every version
    # (ListObjectVersions, DeleteObjects with version ids) and of uploads in progress.
    "buckets": (
        "s3:GetBucketNotification",
        "s3:GetBucketVersioning",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:ListBucketVersions",
    ),
    # The bundle (deploy), restores and undeletes (CopyObject from a copy: its source read, its
    # tags copied), teardown's deletes.
    "objects": (
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:PutObject",
        "s3:PutObjectTagging",
    ),
    "table": ("dynamodb:Query", "dynamodb:UpdateItem"),
    "queue": ("sqs:SendMessage",),
    "cleaner": ("lambda:InvokeFunction",),
    "logs": ("logs:DescribeLogStreams",),
    "tagged": ("tag:GetResources",),
}


def _merge(*groups: tuple[str, ...] | list[str]) -> list[str]:
    return sorted({action for group in groups for action in group})


def _types(*names: str) -> tuple[str, ...]:
    return tuple(a for name in names for a in CLOUDFORMATION_ACTIONS[name])


def operator_policy(name: str) -> dict[str, Any]:
    """The policy document for the deployment `name` (any account, any region)."""
    stacks = [f"{name}-{role}" for role in ("storage", "replicator", "cleaner")]
    storage, replicator, cleaner = stacks
    functions = [
        f"arn:aws:lambda:*:*:function:{replicator}-replicator",
        f"arn:aws:lambda:*:*:function:{cleaner}-cleaner",
    ]
    roles = [f"arn:aws:iam::*:role/{replicator}-*", f"arn:aws:iam::*:role/{cleaner}-*"]
    statements: list[Statement] = [
        _allow(
            "Stacks",
            _merge(CLI_ACTIONS["stacks"]),
            [f"arn:aws:cloudformation:*:*:stack/{stack}/*" for stack in stacks]
            # The change sets deploy creates (objbackup/deploy/stackops.py names them); a change
            # set's ARN is arn:aws:cloudformation:<region>:<account>:changeSet/<name>/<id>, as
            # CreateChangeSet answers (`Id`; SAM CLI prints it on every deploy).
            + ["arn:aws:cloudformation:*:*:changeSet/objbackup-*/*"],
        ),
        _allow(
            "Buckets",
            _merge(
                CLI_ACTIONS["buckets"],
                _types("AWS::S3::Bucket", "AWS::S3::BucketPolicy"),
            ),
            [f"arn:aws:s3:::{storage.lower()}-*"],  # bucket names are lower case
        ),
        _allow("Objects", _merge(CLI_ACTIONS["objects"]), [f"arn:aws:s3:::{storage.lower()}-*/*"]),
        _allow(
            "Table",
            _merge(CLI_ACTIONS["table"], _types("AWS::DynamoDB::Table")),
            [
                f"arn:aws:dynamodb:*:*:table/{storage}-*",
                f"arn:aws:dynamodb:*:*:table/{storage}-*/index/*",
            ],
        ),
        _allow(
            "Queues",
            _merge(CLI_ACTIONS["queue"], _types("AWS::SQS::Queue", "AWS::SQS::QueuePolicy")),
            [f"arn:aws:sqs:*:*:{replicator}-*"],
        ),
        _allow(
            "Functions",
            _merge(
                CLI_ACTIONS["cleaner"],
                _types("AWS::Lambda::Function", "AWS::Lambda::Permission"),
            ),
            functions,
        ),
        # CreateEventSourceMapping names no mapping yet: it is scoped by the function it maps.
        # "Event source mappings are always associated with a function. You can also use the
        # lambda:FunctionArn condition to restrict actions by associated function" (Lambda
        # developer guide, https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html).
        {
            **_allow(
                "EventSourceMappings",
                _merge(_types("AWS::Lambda::EventSourceMapping")),
                ["*"],
            ),
            "Condition": {"ArnLike": {"lambda:FunctionArn": functions[0]}},
        },
        _allow("Roles", _merge(_types("AWS::IAM::Role")), roles),
        # The functions' roles go to Lambda only ("Granting a user permissions to pass a role to
        # an AWS service", IAM user guide).
        {
            **_allow("PassRolesToLambda", ["iam:PassRole"], roles),
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        },
        _allow(
            "Rules",
            _merge(_types("AWS::Events::Rule")),
            [f"arn:aws:events:*:*:rule/{replicator}-*", f"arn:aws:events:*:*:rule/{cleaner}-*"],
        ),
        _allow(
            "LogGroups",
            _merge(
                CLI_ACTIONS["logs"],
                [a for a in _types("AWS::Logs::LogGroup") if a != "logs:DescribeLogGroups"],
            ),
            [
                f"arn:aws:logs:*:*:log-group:/aws/lambda/{function}{suffix}"
                for function in (f"{replicator}-replicator", f"{cleaner}-cleaner")
                for suffix in ("", ":*")
            ],
        ),
        # A list action: CloudFormation's log group handler looks the group up by name prefix,
        # which IAM authorises against the account's log groups, not one group.
        _allow("ListLogGroups", ["logs:DescribeLogGroups"], ["arn:aws:logs:*:*:log-group:*"]),
        _allow(
            "Alarms",
            _merge(_types("AWS::CloudWatch::Alarm")),
            [
                f"arn:aws:cloudwatch:*:*:alarm:{replicator}-*",
                f"arn:aws:cloudwatch:*:*:alarm:{cleaner}-*",
            ],
        ),
        _allow(
            "Dashboard",
            _merge(_types("AWS::CloudWatch::Dashboard")),
            [f"arn:aws:cloudwatch::*:dashboard/{name}-objbackup"],
        ),
        _allow(
            "AlarmTopic",
            _merge(_types("AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription")),
            [f"arn:aws:sns:*:*:{storage}-*"],
        ),
        _allow("FindKeptBackups", _merge(CLI_ACTIONS["tagged"]), ["*"]),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _allow(sid: str, actions: list[str], resources: list[str]) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
