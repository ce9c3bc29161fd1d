"""moto in process with IAM enforced as in the sandbox: a test's `with enforce():` block.

The rules that authorise a request as AWS does are the sandbox's (objbackup/sandbox/access.py
and iam_rules.py); this module only gives the tests their switch and an IAM user to act as.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from objbackup.sandbox.access import enforced as enforce

if TYPE_CHECKING:
    from types_boto3_iam import IAMClient

ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}

# The trust policy of a function's execution role: Lambda may assume it.
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

__all__ = ["ALLOW_ALL", "LAMBDA_TRUST", "enforce", "error_code", "user_keys"]


def user_keys(iam: IAMClient, name: str, document: dict[str, Any]) -> dict[str, str]:
    """An IAM user holding exactly `document`, as the environment of a client acting as it."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def error_code(call: Callable[[], Any]) -> str:
    """The error code `call` fails with, or "OK"."""
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "OK"
