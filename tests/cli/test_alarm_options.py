"""`deploy --alarm-email, --alarm-topic-arn, --max-lag`: who alarms notify, kept on redeploy."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli

NOBODY = "alarms notify nobody: pass --alarm-email ADDRESS or --alarm-topic-arn ARN"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-alarms"


def parameters(cli: Cli, role: str) -> dict[str, str]:
    (stack,) = cli.client("cloudformation").describe_stacks(StackName=f"objbackup-{role}")["Stacks"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def test_without_a_target_the_plan_says_alarms_notify_nobody(cli: Cli) -> None:
    result = cli.ok("deploy", "--dry-run")
    assert f"Warning: {NOBODY}" in result.stderr
    assert "alarms: alarms notify nobody" in result.stderr
    plan = cli.json("deploy", "--dry-run")
    assert NOBODY in plan["warnings"]
    assert plan["alarms"] == {
        "notify": None,
        "email": None,
        "topic_arn": None,
        "max_lag_seconds": 900,
    }


@pytest.mark.slow  # several deploys
def test_an_alarm_email_creates_a_topic_every_alarm_parameter_names(cli: Cli) -> None:
    created = cli.json("deploy", "--yes", "--alarm-email", "ops@example.com", "--max-lag", "5m")
    assert NOBODY not in created["warnings"]
    assert created["alarms"] == {
        "notify": "email",
        "email": "ops@example.com",
        "topic_arn": None,
        "max_lag_seconds": 300,
    }
    assert parameters(cli, "storage")["AlarmEmail"] == "ops@example.com"
    (topic,) = [t["TopicArn"] for t in cli.client("sns").list_topics()["Topics"]]
    assert created["outputs"]["storage"]["AlarmTopicArn"] == topic
    replicator, cleaner = parameters(cli, "replicator"), parameters(cli, "cleaner")
    assert (replicator["AlarmTopicArn"], cleaner["AlarmTopicArn"]) == (topic, topic)
    assert replicator["MaxLagSeconds"] == "300"
    assert cleaner["CleanCheckSeconds"] == "60"  # the default schedule, rate(1 minute)
    assert replicator["DeploymentName"] == cleaner["DeploymentName"] == "objbackup"
    # The functions embed their metrics under the deployment's name, shown by its dashboard.
    for function in ("objbackup-replicator-replicator", "objbackup-cleaner-cleaner"):
        config = cli.client("lambda").get_function_configuration(FunctionName=function)
        assert config["Environment"]["Variables"]["OBJBACKUP_DEPLOYMENT"] == "objbackup"
    dashboards = cli.client("cloudwatch").list_dashboards()["DashboardEntries"]
    assert [d["DashboardName"] for d in dashboards] == ["objbackup-objbackup"]

    # Left out, the options keep their deployed values: nothing to change.
    again = cli.json("deploy", "--yes")
    assert again["changes"] is False
    assert again["alarms"]["email"] == "ops@example.com"
    assert again["alarms"]["max_lag_seconds"] == 300

    # An existing topic replaces the email (and our topic); "" stops notifying.
    switched = cli.json("deploy", "--yes", "--alarm-topic-arn", TOPIC)
    assert (switched["alarms"]["notify"], switched["alarms"]["topic_arn"]) == ("topic", TOPIC)
    assert parameters(cli, "storage")["AlarmEmail"] == ""
    assert parameters(cli, "replicator")["AlarmTopicArn"] == TOPIC
    assert parameters(cli, "cleaner")["AlarmTopicArn"] == TOPIC
    assert cli.json("deploy", "--yes")["changes"] is False
    stopped = cli.json("deploy", "--yes", "--alarm-topic-arn", "")
    assert NOBODY in stopped["warnings"]
    assert parameters(cli, "replicator")["AlarmTopicArn"] == ""


def test_the_plan_text_names_who_the_alarms_notify(cli: Cli) -> None:
    result = cli.ok("deploy", "--dry-run", "--alarm-topic-arn", TOPIC, "--max-lag", "1h")
    assert f"alarms: alarms notify SNS topic {TOPIC}; backup lag alarm after 60 min" in (
        result.stderr.replace("\n", " ")
    )
    assert "Warning: alarms notify nobody" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alarm-email", "ops at example.com"], "is not an email address"),
        (["--alarm-topic-arn", "ops-alarms"], "is not the ARN of a standard SNS topic"),
        (["--alarm-topic-arn", f"{TOPIC}.fifo"], "is not the ARN of a standard SNS topic"),
        (["--max-lag", "10"], "must be between 1 minute and 1 day"),
        (["--max-lag", "2d"], "is not a duration"),
        (["--alarm-email", "ops@example.com", "--alarm-topic-arn", TOPIC], "one target"),
    ],
)
def test_a_bad_target_or_lag_is_a_usage_error(cli: Cli, args: list[str], message: str) -> None:
    result = cli("deploy", "--dry-run", *args)
    assert result.exit_code == 2
    assert message in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr
    assert cli.client("cloudformation").describe_stacks()["Stacks"] == []


def test_the_sandbox_creates_updates_and_deletes_the_alarms_with_their_actions(cli: Cli) -> None:
    """moto's CloudFormation skips AWS::CloudWatch::Alarm; the sandbox's gap closer
    (objbackup/sandbox/patches/cloudwatch.py) makes them as CloudFormation does."""
    cloudwatch = cli.client("cloudwatch")
    created = cli.json("deploy", "--yes", "--alarm-topic-arn", TOPIC)
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert len(alarms) == 7  # four of the replicator, three of the cleaner
    for alarm in alarms.values():
        assert (alarm["AlarmActions"], alarm["OKActions"]) == ([TOPIC], [TOPIC])
    assert created["outputs"]["replicator"]["AlarmName"] in alarms
    (lag,) = [a for a in alarms.values() if a.get("MetricName") == "ApproximateAgeOfOldestMessage"]
    assert lag["Threshold"] == 900
    (errors,) = [a for a in alarms.values() if "ReplicatorErrors" in a["AlarmName"]]
    assert {m["Id"] for m in errors["Metrics"]} == {"failed", "crashed", "errors"}

    cli.ok("deploy", "--yes", "--max-lag", "30m", "--alarm-topic-arn", "")
    updated = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert set(updated) == set(alarms)  # updated in place, under the same names
    assert updated[lag["AlarmName"]]["Threshold"] == 1800
    assert all(a["AlarmActions"] == [] for a in updated.values())

    cli.ok("teardown", "--yes")
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
