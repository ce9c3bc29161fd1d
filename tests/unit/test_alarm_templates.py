"""The alarms reach someone, watch what the issue asks, and the dashboard names real metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from objbackup.core import metrics
from objbackup.deploy import alarms
from objbackup.deploy.stacks import StackNames
from tests.unit.test_templates import as_list, expand_statements, load, props, resources

FUNCTION_TEMPLATES = ("replicator.yaml", "cleaner.yaml")
ACTION = {"Fn::If": ["Notifies", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
# What AWS publishes that the alarms and the dashboard use (CloudWatch user guide: "Available
# CloudWatch metrics for Amazon SQS"; Lambda developer guide: "Types of metrics for Lambda").
AWS_METRICS = {
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"},
    "AWS/Lambda": {"Errors", "Throttles"},
}
SOURCES = Path(__file__).resolve().parents[2] / "objbackup" / "core"


def alarms_of(name: str) -> dict[str, dict[str, Any]]:
    return {i: props(a) for i, a in resources(load(name), "AWS::CloudWatch::Alarm").items()}


def test_each_template_has_the_alarms_the_issue_asks_for() -> None:
    assert set(alarms_of("replicator.yaml")) == {
        "DeadLetterQueueAlarm",  # a message in the dead-letter queue
        "BackupLagAlarm",  # the oldest queued event is older than --max-lag
        "ReplicatorErrorsAlarm",
        "ReplicatorThrottlesAlarm",
    }
    assert set(alarms_of("cleaner.yaml")) == {
        "CleanerErrorsAlarm",
        "CleanerStalledAlarm",  # no successful clean for several periods
        "CleanerThrottlesAlarm",
    }


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_every_alarm_notifies_the_topic_when_one_is_configured(name: str) -> None:
    template = load(name)
    assert template["Conditions"]["Notifies"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for logical_id, alarm in alarms_of(name).items():
        assert alarm.get("ActionsEnabled", True) is True, logical_id
        assert alarm["AlarmActions"] == ACTION, logical_id
        assert alarm["OKActions"] == ACTION, logical_id
        assert alarm["AlarmDescription"].startswith("objbackup "), logical_id


def _metrics_of(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, name, dimensions) of each metric an alarm reads."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        return [(alarm["Namespace"], alarm["MetricName"], dims)]
    found = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            found.append((metric["Namespace"], metric["MetricName"], dims))
        else:  # the expression uses only the queries' ids
            ids = {q["Id"] for q in alarm["Metrics"] if "MetricStat" in q}
            assert set(re.findall(r"[a-z]\w*", query["Expression"])) - {"FILL"} <= ids
    return found


def _check_metric(namespace: str, name: str, dimensions: dict[str, Any], where: str) -> None:
    if namespace == metrics.NAMESPACE:
        assert name in metrics.UNITS, where
        expected = {"Deployment", "Outcome"} if name == metrics.EVENTS else {"Deployment"}
        assert set(dimensions) == expected, where
    else:
        assert name in AWS_METRICS[namespace], where


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_every_alarm_reads_a_metric_that_exists(name: str) -> None:
    for logical_id, alarm in alarms_of(name).items():
        for namespace, metric, dimensions in _metrics_of(alarm):
            _check_metric(namespace, metric, dimensions, f"{name}:{logical_id}")
            if namespace == metrics.NAMESPACE:
                assert dimensions["Deployment"] == {"Ref": "DeploymentName"}


def test_backup_lag_alarm() -> None:
    template = load("replicator.yaml")
    alarm = alarms_of("replicator.yaml")["BackupLagAlarm"]
    assert _metrics_of(alarm) == [
        (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": {"Fn::GetAtt": ["Queue", "QueueName"]}},
        )
    ]
    assert alarm["Threshold"] == {"Ref": "MaxLagSeconds"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    parameter = template["Parameters"]["MaxLagSeconds"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
        alarms.DEFAULT_MAX_LAG_SECONDS,
        alarms.MIN_MAX_LAG_SECONDS,
        alarms.MAX_MAX_LAG_SECONDS,
    )
    assert alarms.DEFAULT_MAX_LAG_SECONDS == 15 * 60


def test_error_alarms_count_failed_events_and_failed_invocations() -> None:
    replicator = _metrics_of(alarms_of("replicator.yaml")["ReplicatorErrorsAlarm"])
    assert replicator == [
        ("objbackup", "Events", {"Deployment": {"Ref": "DeploymentName"}, "Outcome": "error"}),
        ("AWS/Lambda", "Errors", {"FunctionName": {"Ref": "Function"}}),
    ]
    cleaner = _metrics_of(alarms_of("cleaner.yaml")["CleanerErrorsAlarm"])
    assert cleaner == [
        ("objbackup", "CleanFailed", {"Deployment": {"Ref": "DeploymentName"}}),
        ("AWS/Lambda", "Errors", {"FunctionName": {"Ref": "Function"}}),
    ]
    for name in FUNCTION_TEMPLATES:
        for logical_id, alarm in alarms_of(name).items():
            if "Throttles" in logical_id:
                assert _metrics_of(alarm) == [
                    ("AWS/Lambda", "Throttles", {"FunctionName": {"Ref": "Function"}})
                ]


def test_a_stalled_cleaner_alarms_after_three_periods_without_a_successful_clean() -> None:
    template = load("cleaner.yaml")
    alarm = alarms_of("cleaner.yaml")["CleanerStalledAlarm"]
    assert _metrics_of(alarm)[0][:2] == ("objbackup", "CleanSucceeded")
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "LessThanThreshold",
    )
    # No run at all reports nothing: missing data is a failure here.
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Period"] == {"Ref": "CleanCheckSeconds"}
    periods = alarm["EvaluationPeriods"]
    parameter = template["Parameters"]["CleanCheckSeconds"]
    # PutMetricAlarm: Period x EvaluationPeriods <= 1 day below an hour's period, else 7 days.
    assert periods * 3599 <= 86400 and periods * parameter["MaxValue"] <= 604800
    assert parameter["MinValue"] == 60


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(3 days)", 86400),
        ("cron(0 3 * * ? *)", 86400),
    ],
)
def test_the_stalled_alarm_period_follows_the_schedule(schedule: str, seconds: int) -> None:
    assert alarms.clean_check_seconds(schedule) == seconds
    assert seconds % 60 == 0


# --- the dashboard -----------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    """The dashboard body with its ${...} placeholders filled, parsed as CloudWatch does."""
    (resource,) = resources(load("replicator.yaml"), "AWS::CloudWatch::Dashboard").values()
    text, names = props(resource)["DashboardBody"]["Fn::Sub"]
    body = re.sub(r"\$\{([^}]+)\}", lambda m: f"<{m.group(1)}>", text)
    for name in re.findall(r"\$\{([^}.]+)\}", text):
        assert (
            name in names
            or name in load("replicator.yaml")["Parameters"]
            or name
            in (
                "AWS::Region",
                "Function",
            )
        ), name
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    return parsed


def dashboard_metrics() -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for widget in dashboard()["widgets"]:
        for row in widget["properties"]["metrics"]:
            fields = [item for item in row if isinstance(item, str)]
            namespace, name, *pairs = fields
            assert len(pairs) % 2 == 0, row
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def test_the_dashboard_names_only_real_metrics() -> None:
    found = dashboard_metrics()
    for namespace, name, dimensions in found:
        _check_metric(namespace, name, dimensions, f"dashboard: {namespace} {name}")
        if namespace == metrics.NAMESPACE:
            assert dimensions["Deployment"] == "<DeploymentName>"
    # Every metric the handlers emit is on it, beside the queue's depth and age.
    shown = {name for namespace, name, _ in found if namespace == metrics.NAMESPACE}
    assert shown == set(metrics.UNITS)
    queue = {(n, d["QueueName"]) for ns, n, d in found if ns == "AWS/SQS"}
    assert {
        ("ApproximateNumberOfMessagesVisible", "<QueueName>"),
        ("ApproximateAgeOfOldestMessage", "<QueueName>"),
        ("ApproximateNumberOfMessagesVisible", "<DeadLetterQueueName>"),
    } <= queue


def test_the_dashboard_outcomes_are_the_replicators_outcomes() -> None:
    code = "".join((SOURCES / f).read_text() for f in ("replicate.py", "runtime.py"))
    outcomes = {
        d["Outcome"] for ns, n, d in dashboard_metrics() if n == metrics.EVENTS and "Outcome" in d
    }
    assert {"copied", "unsupported", "filtered", "error", "disowned"} <= outcomes
    for outcome in outcomes:
        assert f'"{outcome}"' in code, outcome


def test_the_dashboard_finds_the_cleaner_function_by_its_name() -> None:
    """The replicator stack names the cleaner's function as the cleaner stack does."""
    functions = {d["FunctionName"] for ns, _, d in dashboard_metrics() if ns == "AWS/Lambda"} - {
        "<Function>"
    }
    (pattern,) = functions
    cleaner = props(resources(load("cleaner.yaml"), "AWS::Lambda::Function")["Function"])
    stack = StackNames("prod").of("cleaner")
    assert cleaner["FunctionName"]["Fn::Sub"].replace("${AWS::StackName}", stack) == (
        pattern.replace("<DeploymentName>", "prod")
    )


# --- the topic the storage stack creates for --alarm-email ---------------------------------------


def test_an_alarm_email_creates_a_topic_that_only_our_account_s_alarms_publish_to() -> None:
    template = load("storage.yaml")
    assert template["Parameters"][alarms.P_ALARM_EMAIL]["Default"] == ""
    assert template["Conditions"]["CreatesAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    found = template["Resources"]
    for logical_id in ("AlarmTopic", "AlarmTopicPolicy", "AlarmEmailSubscription"):
        assert found[logical_id]["Condition"] == "CreatesAlarmTopic", logical_id
    subscription = props(found["AlarmEmailSubscription"])
    assert subscription == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    policy = props(found["AlarmTopicPolicy"])
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    (statement,) = expand_statements(policy["PolicyDocument"]["Statement"])
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sns:Publish"]
    assert statement["Resource"] == {"Ref": "AlarmTopic"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    output = template["Outputs"][alarms.O_ALARM_TOPIC]
    assert (output["Condition"], output["Value"]) == ("CreatesAlarmTopic", {"Ref": "AlarmTopic"})


@pytest.mark.parametrize(
    ("parameter", "template", "value", "allowed"),
    [
        ("AlarmEmail", "storage.yaml", "", True),
        ("AlarmEmail", "storage.yaml", "ops@example.com", True),
        ("AlarmEmail", "storage.yaml", "ops example.com", False),
        ("AlarmEmail", "storage.yaml", "ops@example", False),
        ("AlarmTopicArn", "replicator.yaml", "", True),
        ("AlarmTopicArn", "cleaner.yaml", "arn:aws:sns:us-east-1:123456789012:ops-alarms", True),
        ("AlarmTopicArn", "cleaner.yaml", "arn:aws:sns:us-east-1:123456789012:ops.fifo", False),
        ("AlarmTopicArn", "replicator.yaml", "arn:aws:sqs:us-east-1:123456789012:q", False),
        ("AlarmTopicArn", "replicator.yaml", "*", False),
    ],
)
def test_templates_and_the_cli_accept_the_same_targets(
    parameter: str, template: str, value: str, allowed: bool
) -> None:
    pattern = load(template)["Parameters"][parameter]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) == allowed
    check = alarms.check_email if parameter == "AlarmEmail" else alarms.check_topic_arn
    if allowed:
        assert check(value) == value
    else:
        with pytest.raises(ValueError):
            check(value)


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_deploy_sets_every_alarm_parameter(name: str) -> None:
    role = name.removesuffix(".yaml")
    given = alarms.AlarmSettings(email="ops@example.com").stack_parameters(
        role, {alarms.O_ALARM_TOPIC: "arn:aws:sns:us-east-1:123456789012:t"}, "rate(1 minute)"
    )
    wanted = {
        p
        for p in load(name)["Parameters"]
        if p in (alarms.P_ALARM_TOPIC, alarms.P_DEPLOYMENT, alarms.P_MAX_LAG, alarms.P_CLEAN_CHECK)
    }
    assert set(given) == wanted
    assert given[alarms.P_ALARM_TOPIC] == "arn:aws:sns:us-east-1:123456789012:t"
