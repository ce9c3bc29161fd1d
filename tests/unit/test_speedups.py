"""The test process's caches (tests/speedups.py) are on, and hand out nothing a test could share by
mistake: each stack gets its own copy of a parsed template."""

from __future__ import annotations

import boto3
from moto.cloudformation.models import Stack

from tests import speedups

TEMPLATE = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-q"
"""


def test_every_session_shares_one_data_loader() -> None:
    first, second = boto3.Session()._session, boto3.Session()._session
    assert first.get_component("data_loader") is second.get_component("data_loader")


def test_a_template_is_parsed_once_and_each_stack_gets_its_own_copy() -> None:
    before = speedups._parsed.cache_info()
    first = Stack.parse_template(TEMPLATE)
    second = Stack.parse_template(TEMPLATE)
    assert (
        first
        == second
        == {
            "Resources": {
                "Queue": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-q"}},
                }
            }
        }
    )
    first["Resources"]["Queue"]["Properties"]["QueueName"] = "changed"
    assert second["Resources"]["Queue"]["Properties"]["QueueName"] == {
        "Fn::Sub": "${AWS::StackName}-q"
    }
    assert Stack.parse_template(TEMPLATE) == second
    after = speedups._parsed.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)


def test_typer_builds_each_apps_command_once() -> None:
    """CliRunner.invoke calls typer.testing._get_command; the cache must sit on that very name."""
    from typer import testing

    from objbackup.cli.app import app

    command = testing._get_command  # type: ignore[attr-defined]
    assert command(app) is command(app)


def test_kms_keys_of_one_spec_share_one_generated_private_key() -> None:
    """moto.kms.models calls generate_private_key for every key; the cache must sit on that name."""
    from moto.kms import models

    generate = models.generate_private_key  # type: ignore[attr-defined]
    assert generate("RSA_2048") is generate("RSA_2048")
