"""Alarm options: parsing, what a redeploy keeps, what the plan says (objbackup.deploy.alarms)."""

from __future__ import annotations

import pytest

from objbackup.deploy.alarms import (
    NOBODY,
    AlarmOptions,
    AlarmSettings,
    parse_max_lag,
    resolve_alarms,
)
from objbackup.deploy.errors import InvalidSetting
from objbackup.deploy.plan import DeploySettings

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ops"
OURS = "arn:aws:sns:eu-west-1:123456789012:objbackup-storage-AlarmTopic-X"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("900", 900), ("900s", 900), ("15m", 900), ("15 min", 900), ("1h", 3600), ("1.5m", 90)],
)
def test_max_lag_durations(text: str, seconds: int) -> None:
    assert parse_max_lag(text) == seconds


@pytest.mark.parametrize("text", ["59", "25h", "-5m", "15 minutes please", "", "1d"])
def test_max_lag_refuses_what_the_template_would(text: str) -> None:
    with pytest.raises(ValueError):
        parse_max_lag(text)


def test_first_deploy_defaults_notify_nobody_and_say_so() -> None:
    settings = resolve_alarms(AlarmOptions(), None, None)
    assert settings == AlarmSettings()
    assert settings.warnings() == (NOBODY,)
    assert settings.max_lag_seconds == 900
    assert settings.describe().startswith("alarms notify nobody")


def test_left_out_options_keep_the_deployed_target_and_lag() -> None:
    ours = resolve_alarms(
        AlarmOptions(), {"AlarmEmail": "ops@example.com"}, {"AlarmTopicArn": OURS}
    )
    assert (ours.email, ours.topic_arn) == ("ops@example.com", "")  # our topic is not "existing"
    theirs = resolve_alarms(
        AlarmOptions(), {"AlarmEmail": ""}, {"AlarmTopicArn": TOPIC, "MaxLagSeconds": "300"}
    )
    assert (theirs.email, theirs.topic_arn, theirs.max_lag_seconds) == ("", TOPIC, 300)
    assert theirs.warnings() == ()


def test_one_target_replaces_the_other_and_an_empty_one_stops_notifying() -> None:
    deployed = ({"AlarmEmail": "ops@example.com"}, {"AlarmTopicArn": OURS})
    switched = resolve_alarms(AlarmOptions(topic_arn=TOPIC), *deployed)
    assert (switched.email, switched.topic_arn) == ("", TOPIC)
    emailed = resolve_alarms(AlarmOptions(email="b@example.org"), {}, {"AlarmTopicArn": TOPIC})
    assert (emailed.email, emailed.topic_arn) == ("b@example.org", "")
    stopped = resolve_alarms(AlarmOptions(email=""), *deployed)
    assert not stopped.notifies and stopped.warnings() == (NOBODY,)


def test_the_function_stacks_take_our_topic_from_the_storage_outputs() -> None:
    outputs = {"AlarmTopicArn": OURS}
    assert (
        AlarmSettings(email="a@b.co").stack_parameters("replicator", outputs, "")["AlarmTopicArn"]
        == OURS
    )
    # Without an email our topic is on its way out: the alarms no longer name it.
    assert AlarmSettings().stack_parameters("cleaner", outputs, "rate(5 minutes)") == {
        "AlarmTopicArn": "",
        "DeploymentName": "objbackup",
        "CleanCheckSeconds": "300",
    }


def test_settings_refuse_two_targets_or_a_bad_one() -> None:
    for alarms in (
        AlarmSettings(email="a@b.co", topic_arn=TOPIC),
        AlarmSettings(email="nobody"),
        AlarmSettings(max_lag_seconds=5),
    ):
        with pytest.raises(InvalidSetting):
            DeploySettings("", 3, 10, "rate(1 minute)", alarms=alarms)
