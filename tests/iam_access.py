"""moto in process with its IAM access control on, authorising requests as AWS does.

moto's documented switch: requests beyond INITIAL_NO_AUTH_ACTION_COUNT are authenticated and
authorised against the caller's identity policies (moto docs, "IAM-like Access Control",
docs/docs/iam.rst). A statement allows a request when its action and its resource match
(moto/iam/access_control.py); but moto names the resource of most services "*", which no
resource-scoped statement matches, and names a few requests differently from AWS. `enforce`
closes those gaps for the requests objbackup makes:

* DynamoDB by the table's (or index's) ARN, TransactWriteItems per item ("Actions, resources,
  and condition keys for Amazon DynamoDB", Service Authorization Reference);
* S3's DeleteObjects per key on the object's ARN (S3 API reference, DeleteObjects), HeadBucket
  by s3:ListBucket (S3 API reference, HeadBucket);
* the Resource Group Tagging API by its IAM prefix `tag` (moto uses the signing name);
* SQS's batch requests by their single action (SendMessageBatch by sqs:SendMessage: "Amazon
  SQS API permissions: Actions and resource reference", SQS developer guide);
* Lambda's Invoke by lambda:InvokeFunction (Service Authorization Reference for AWS Lambda);
* CloudFormation by the stack's ARN, Lambda by the function's, CloudWatch Logs by the log
  group's, CloudWatch DescribeAlarms by each alarm's.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMRequestBase

from tests.unit.test_least_privilege import Call, _table, dynamodb_needs

ACCOUNT = "123456789012"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _params(request: IAMRequestBase) -> dict[str, Any]:
    """The request's parameters: the JSON body, else the query protocol's form."""
    try:
        body = json.loads(request._body or b"{}")
    except ValueError:
        body = None
    if isinstance(body, dict) and body:
        return body
    data = request._data if isinstance(request._data, dict) else {}
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in data.items()}


def authorisations(request: IAMRequestBase, resource: str) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs AWS would authorise the request by."""
    action = request._action
    service, operation = action.split(":", 1)
    if service == "tagging":  # the signing name; IAM's prefix is `tag`
        service, action = "tag", f"tag:{operation}"
    region = request._region
    if service == "dynamodb":
        params = _params(request)
        try:
            return dynamodb_needs(Call("dynamodb", operation, params))
        except AssertionError:  # an operation the functions do not call: by its table
            table = params.get("TableName")
            return [(action, _table(table) if table else "*")]
    if action == "lambda:Invoke":  # the API's name; IAM's action is lambda:InvokeFunction
        action = "lambda:InvokeFunction"
    if service == "sqs" and operation.endswith("Batch"):  # a batch needs its single action
        return [(action.removesuffix("Batch"), resource)]
    if action == "s3:HeadBucket":
        return [("s3:ListBucket", resource)]
    if action == "s3:DeleteObject" and "/" not in resource.split(":::", 1)[1]:
        keys = re.findall(rb"<Key>(.*?)</Key>", request._body or b"")
        return [(action, f"{resource}/{html.unescape(k.decode())}") for k in keys or [b""]]
    if resource != "*":
        return [(action, resource)]
    params = _params(request)
    if service == "cloudformation" and params.get("StackName"):
        stack = str(params["StackName"])
        arn = stack if stack.startswith("arn:") else f"stack/{stack}/*"
        prefix = f"arn:aws:cloudformation:{region}:{ACCOUNT}:"
        return [(action, arn if arn.startswith("arn:") else prefix + arn)]
    if service == "lambda":
        found = re.search(r"/functions/([^/?]+)", request._path)
        if found:
            return [(action, f"arn:aws:lambda:{region}:{ACCOUNT}:function:{found.group(1)}")]
    if service == "logs" and params.get("logGroupName"):
        return [(action, f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{params['logGroupName']}")]
    if action == "cloudwatch:DescribeAlarms":
        names = params.get("AlarmNames") or [
            v for k, v in params.items() if k.startswith("AlarmNames.member.")
        ]
        names = [names] if isinstance(names, str) else names
        return [(action, f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{n}") for n in names]
    return [(action, resource)]


@contextmanager
def enforce(
    monkeypatch: pytest.MonkeyPatch, granted: list[tuple[str, str, str]] | None = None
) -> Iterator[None]:
    """From the next request on, moto refuses what the caller's policies do not allow; each
    (caller ARN, action, resource) it allows is appended to `granted`."""
    original = IAMRequestBase.check_action_permitted

    def check(self: IAMRequestBase, resource: str) -> None:
        for action, arn in authorisations(self, resource):
            self._action = action
            original(self, arn)
            if granted is not None:
                granted.append((self._access_key.arn, action, arn))

    monkeypatch.setattr(IAMRequestBase, "check_action_permitted", check)
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    yield


def user_keys(iam: Any, name: str, document: dict[str, Any]) -> dict[str, str]:
    """An IAM user holding exactly `document`, as the environment of a client acting as it."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
