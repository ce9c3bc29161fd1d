"""Who the deployment's alarms notify, and when backup lag alarms: the deploy options' logic.

`--alarm-email` makes the storage stack create an SNS topic with an email subscription (the
address confirms it from SNS's first email); `--alarm-topic-arn` names an existing topic. Either
becomes the AlarmActions and OKActions of every alarm of the replicator and cleaner stacks; with
neither, the alarms still change state (and show in the console) but notify nobody, and the plan
says so. What is left out keeps its deployed value; an empty value stops notifying.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Storage stack parameter and output; function stack parameters.
P_ALARM_EMAIL = "AlarmEmail"
O_ALARM_TOPIC = "AlarmTopicArn"
P_ALARM_TOPIC = "AlarmTopicArn"
P_DEPLOYMENT = "DeploymentName"
P_MAX_LAG = "MaxLagSeconds"
P_CLEAN_CHECK = "CleanCheckSeconds"

# S3 Replication Time Control replicates 99.99% of objects within 15 minutes (S3 user guide,
# "Meeting compliance requirements with S3 Replication Time Control"): the default lag bound.
DEFAULT_MAX_LAG_SECONDS = 900
MIN_MAX_LAG_SECONDS = 60  # the alarm's period: a shorter bound could not be seen
MAX_MAX_LAG_SECONDS = 86400
NOBODY = "alarms notify nobody: pass --alarm-email ADDRESS or --alarm-topic-arn ARN"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# A standard topic's ARN; names are 1-256 letters, digits, hyphens and underscores (SNS API
# reference, CreateTopic, Name). FIFO topics (.fifo) are refused: alarms cannot notify them.
_TOPIC_ARN = re.compile(r"arn:aws[a-zA-Z0-9-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
_RATE = re.compile(r"rate\((\d+) (minute|hour|day)s?\)")
_RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def check_email(value: str) -> str:
    """`value` if it looks like an email address SNS can send to ("" stops notifying)."""
    if value and (len(value) > 254 or not _EMAIL.fullmatch(value)):
        raise ValueError(f"{value!r} is not an email address")
    return value


def check_topic_arn(value: str) -> str:
    """`value` if it is the ARN of a standard SNS topic ("" stops notifying)."""
    if value and not _TOPIC_ARN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not the ARN of a standard SNS topic "
            "(arn:aws:sns:<region>:<account>:<name>; FIFO topics cannot take alarms)"
        )
    return value


def parse_max_lag(value: str) -> int:
    """A duration as `--max-lag` takes it: 900, 900s, 15m, 1h; 1 minute to 1 day, in seconds."""
    match = _DURATION.fullmatch(value.strip().lower())
    if not match:
        raise ValueError(f"{value!r} is not a duration: use seconds (900, 900s), 15m or 1h")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not MIN_MAX_LAG_SECONDS <= seconds <= MAX_MAX_LAG_SECONDS:
        raise ValueError(f"max lag {value!r} must be between 1 minute and 1 day")
    return round(seconds)


def clean_check_seconds(schedule: str) -> int:
    """The stalled-cleaner alarm's period: the schedule's interval, 1 minute to 1 day (a cron
    schedule is checked daily; CloudWatch periods are multiples of 60 s)."""
    rate = _RATE.fullmatch(schedule)
    if not rate:
        return 86400
    seconds = int(rate.group(1)) * _RATE_SECONDS[rate.group(2)]
    return min(max(60, seconds), 86400)


@dataclass(frozen=True)
class AlarmOptions:
    """What the operator passed; None keeps the deployed value, "" stops notifying."""

    email: str | None = None
    topic_arn: str | None = None
    max_lag_seconds: int | None = None


@dataclass(frozen=True)
class AlarmSettings:
    """Who the alarms notify (an email through our topic, or an existing topic; never both)."""

    email: str = ""
    topic_arn: str = ""
    max_lag_seconds: int = DEFAULT_MAX_LAG_SECONDS
    # The deployment's name: the metrics' Deployment dimension (set by plan_deployment).
    deployment: str = field(default="objbackup")

    def check(self) -> AlarmSettings:
        check_email(self.email)
        check_topic_arn(self.topic_arn)
        if self.email and self.topic_arn:
            raise ValueError("pass --alarm-email or --alarm-topic-arn, not both")
        if not MIN_MAX_LAG_SECONDS <= self.max_lag_seconds <= MAX_MAX_LAG_SECONDS:
            raise ValueError(f"max lag must be 60 to 86400 seconds, got {self.max_lag_seconds}")
        return self

    @property
    def notifies(self) -> bool:
        return bool(self.email or self.topic_arn)

    def storage_parameters(self) -> dict[str, str]:
        return {P_ALARM_EMAIL: self.email}

    def stack_parameters(
        self, role: str, storage_outputs: Mapping[str, str], schedule: str
    ) -> dict[str, str]:
        """A function stack's alarm parameters; our topic's ARN is a storage stack output."""
        topic = self.topic_arn or (storage_outputs.get(O_ALARM_TOPIC, "") if self.email else "")
        parameters = {P_ALARM_TOPIC: topic, P_DEPLOYMENT: self.deployment}
        if role == "replicator":
            parameters[P_MAX_LAG] = str(self.max_lag_seconds)
        if role == "cleaner":
            parameters[P_CLEAN_CHECK] = str(clean_check_seconds(schedule))
        return parameters

    def describe(self) -> str:
        lag = f"backup lag alarm after {self.max_lag_seconds / 60:g} min"
        if self.email:
            return f"alarms notify {self.email} (an SNS topic; confirm its first email); {lag}"
        if self.topic_arn:
            return f"alarms notify SNS topic {self.topic_arn}; {lag}"
        return f"{NOBODY}; {lag}"

    def warnings(self) -> tuple[str, ...]:
        return () if self.notifies else (NOBODY,)

    def to_json(self) -> dict[str, Any]:
        return {
            "notify": "email" if self.email else "topic" if self.topic_arn else None,
            "email": self.email or None,
            "topic_arn": self.topic_arn or None,
            "max_lag_seconds": self.max_lag_seconds,
        }


def resolve_alarms(
    options: AlarmOptions,
    storage: Mapping[str, str] | None,
    replicator: Mapping[str, str] | None,
) -> AlarmSettings:
    """The alarm settings of `deploy` options; what is left out keeps its deployed value.

    `storage` and `replicator` are the deployed stacks' parameters. Our own topic's ARN is in
    the replicator's parameters too, so an existing topic is one without a deployed email.
    """
    email = (storage or {}).get(P_ALARM_EMAIL, "")
    topic = "" if email else (replicator or {}).get(P_ALARM_TOPIC, "")
    if options.email is not None:
        email, topic = options.email, options.topic_arn or ""
    elif options.topic_arn is not None:
        email, topic = "", options.topic_arn
    raw_lag = (replicator or {}).get(P_MAX_LAG)
    lag = options.max_lag_seconds
    if lag is None:
        lag = int(raw_lag) if raw_lag else DEFAULT_MAX_LAG_SECONDS
    return AlarmSettings(email, topic, lag)
