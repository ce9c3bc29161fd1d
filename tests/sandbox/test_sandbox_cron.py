"""The sandbox fires rate(...) schedules only: a deploy into it with a cron(...) schedule warns
that it will not fire; the same deploy against AWS (here moto in process) does not."""

from __future__ import annotations

import boto3

from objbackup.deploy.connection import Connection
from objbackup.deploy.deployer import Deployer
from objbackup.deploy.plan import DeployOptions
from objbackup.deploy.sandbox_probe import SANDBOX_CRON_WARNING
from objbackup.sandbox.server import Sandbox

CRON = "cron(0 3 * * ? *)"


def test_a_cron_schedule_deployed_into_the_sandbox_is_warned_of(
    sandbox: Sandbox, session: boto3.Session
) -> None:
    deployer = Deployer(Connection(endpoint_url=sandbox.endpoint_url, session=session))
    assert SANDBOX_CRON_WARNING in deployer.plan(DeployOptions(schedule=CRON)).warnings
    rate = deployer.plan(DeployOptions(schedule="rate(5 minutes)"))
    assert SANDBOX_CRON_WARNING not in rate.warnings


def test_a_cron_schedule_deployed_elsewhere_is_not(moto_aws: None) -> None:
    plan = Deployer(Connection(region="us-east-1")).plan(DeployOptions(schedule=CRON))
    assert SANDBOX_CRON_WARNING not in plan.warnings
