"""A sandbox served over HTTP for the tests of this folder, clients that reach it, and the
set-ups its tests share: roles Lambda may assume, functions, queues with a dead-letter queue, and
the objbackup CLI run against the sandbox."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from objbackup.deploy.connection import ServiceClients, session_client
from objbackup.sandbox.server import Sandbox
from tests.iam_access import LAMBDA_TRUST

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
    from types_boto3_sqs.literals import QueueAttributeNameType


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as running:
        yield running


@pytest.fixture
def session(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    for name, value in sandbox.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.Session(region_name=sandbox.region)


class SandboxClients(ServiceClients):
    """`clients("s3")`: a client of the sandbox's endpoint, typed by the service's name."""

    def __init__(
        self, session: boto3.Session, endpoint_url: str, config: Config | None = None
    ) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.config = config

    def _client(self, service: str) -> BaseClient:
        return session_client(
            self.session, service, endpoint_url=self.endpoint_url, config=self.config
        )

    __call__ = ServiceClients.client


@pytest.fixture
def client(session: boto3.Session, sandbox: Sandbox) -> SandboxClients:
    return SandboxClients(session, sandbox.endpoint_url)


def function_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fn.py", source)
    return buffer.getvalue()


def policy(*statements: dict[str, Any]) -> str:
    """An IAM policy document of `statements`, as IAM's API takes it."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def lambda_role(
    client: SandboxClients, name: str, *statements: dict[str, Any], policy_name: str = "policy"
) -> str:
    """The ARN of role `name`, which Lambda may assume; created if missing, with `statements` (if
    any) as its inline policy `policy_name`."""
    iam = client("iam")
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
        if statements:
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=policy(*statements)
            )
        return str(role["Role"]["Arn"])


def function_role(client: SandboxClients) -> str:
    """The role of this folder's functions: the sandbox enforces it, so they may write to the
    tests' "-out" buckets and nowhere else."""
    writes = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::*-out/*"}
    return lambda_role(client, "sandbox-test", writes, policy_name="write-out")


def create_function(
    client: SandboxClients, name: str, source: str, role: str, timeout: int = 10, **settings: Any
) -> str:
    """Python function `name` running `source`'s `handler` under `role` (with any other
    CreateFunction `settings`): its ARN."""
    created = client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="fn.handler",
        Code={"ZipFile": function_zip(source)},
        Timeout=timeout,
        **settings,
    )
    return str(created["FunctionArn"])


def queue_arn(sqs: SQSClient, url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def queue_with_dlq(
    sqs: SQSClient, name: str, receives: int, attributes: Mapping[QueueAttributeNameType, str]
) -> tuple[str, str, str]:
    """Queue `name` with `attributes`, whose messages go to queue `<name>-dlq` after `receives`
    receives: the queue's URL and ARN, and the dead-letter queue's URL."""
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": receives})
    queue = sqs.create_queue(QueueName=name, Attributes={**attributes, "RedrivePolicy": redrive})
    return queue["QueueUrl"], queue_arn(sqs, queue["QueueUrl"]), dlq


def objbackup_cli(sandbox: Sandbox, name: str, *args: str, **env: str) -> str:
    """Run `objbackup ARGS` against the sandbox as deployment `name` (with `env` added to the
    environment), in a process of its own; its stdout, once it has exited 0."""
    environment = {**os.environ, **sandbox.environment(), "OBJBACKUP_NAME": name, **env}
    environment.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "objbackup.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
