"""Checks of operator input that need no AWS call; light, so the CLI runs them while parsing."""

from __future__ import annotations

import re

# The longest function name is `<name>-replicator-replicator`; Lambda allows 64 characters.
MAX_NAME_LENGTH = 64 - len("-replicator-replicator")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^()]+)\)")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+")


def check_name(name: str) -> str:
    """`name` if it can name a deployment (it prefixes stack and function names)."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid deployment name: use letters, digits and hyphens, "
            "starting with a letter"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"deployment name {name!r} is longer than {MAX_NAME_LENGTH} characters "
            "(it prefixes the Lambda function names, which AWS limits to 64)"
        )
    return name


def check_schedule(expression: str) -> str:
    """`expression` if EventBridge accepts it: rate(1 minute), rate(5 minutes), cron(6 fields)."""
    rate = _RATE.fullmatch(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ValueError(f"schedule {expression!r}: the rate must be at least 1")
        if (value == 1) != (not unit.endswith("s")):
            raise ValueError(
                f"schedule {expression!r}: the unit is singular for 1 and plural otherwise"
            )
        return expression
    cron = _CRON.fullmatch(expression)
    if cron and len(cron.group(1).split()) == 6:
        return expression
    raise ValueError(
        f"schedule {expression!r} is neither rate(<n> <unit>) nor cron(<6 fields>), "
        "e.g. 'rate(1 minute)', 'rate(5 minutes)', 'cron(0/5 * * * ? *)'"
    )


def check_bucket_name(name: str) -> str:
    """`name` if S3 accepts it as a bucket name."""
    if not _BUCKET.fullmatch(name) or ".." in name or _IP.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots "
            "and hyphens, starting and ending with a letter or digit)"
        )
    return name


def check_seconds(value: float, what: str) -> float:
    """`value` if it is a number of seconds the system can honour (0 to MAX_GRACE_SECONDS): a
    larger one overflows `now - timedelta(seconds=value)`."""
    from objbackup.core.config import check_grace

    return check_grace(value, what)


def check_retain(value: int, what: str) -> int:
    """`value` if it is a number of copies from MIN_RETAIN to MAX_RETAIN."""
    from objbackup.core.config import check_retain as check

    return check(value, what)
