"""The options several commands share, declared once, and the callbacks that reject bad option
values while parsing (a usage error, exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import typer

from objbackup.deploy import scale, validate

T = TypeVar("T")
U = TypeVar("U")

# Every command's --json has this help and declaration (tests/cli/test_shared_options.py).
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


def checked_option(flag: str, metavar: str | None, check: Callable[..., Any], help: str) -> Any:
    """An option taking a value (shown as `metavar`) that `check`, a callback below, refuses."""
    return typer.Option(flag, metavar=metavar, callback=check, help=help)


def dry_run_option(help: str) -> Any:
    """`--dry-run`: the command says what it would do and changes nothing; `help` says what."""
    return typer.Option("--dry-run", help=help)


def yes_option(help: str) -> Any:
    """`--yes` / `-y`: go ahead without asking; `help` says what goes ahead."""
    return typer.Option("--yes", "-y", help=help)


def _checked(check: Callable[[T], U]) -> Callable[[T | None], U | None]:
    """A callback that passes None through and turns `check`'s ValueError into a usage error."""

    def callback(value: T | None) -> U | None:
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return callback


def _each(check: Callable[[str], str]) -> Callable[[list[str] | None], list[str] | None]:
    """The callback of a repeatable option: `check` on every value (none given: None)."""
    return _checked(lambda values: [check(value) for value in values] or None)


name = _checked(validate.check_name)
schedule = _checked(validate.check_schedule)
bucket = _checked(validate.check_bucket_name)
grace = _checked(partial(validate.check_seconds, what="--grace"))
older_than = _checked(partial(validate.check_seconds, what="--older-than"))
retain = _checked(partial(validate.check_retain, what="--retain"))
concurrency = _checked(scale.check_concurrency)
batch_size = _checked(scale.check_batch_size)
batching_window = _checked(scale.check_batching_window)
replicator_memory = _checked(scale.check_memory)

# Most checks below import their module when called, so that `objbackup --help` stays fast.


def size(value: str | None) -> str | None:
    """A size (1MB, 512KiB, 2048) as its number of bytes, in text: Typer keeps the type."""
    from objbackup.estimate import parse_size

    def in_text(text: str) -> str:
        return str(parse_size(text))

    return _checked(in_text)(value)


def storage_class(value: str | None) -> str | None:
    """An S3 storage class copies may be written in, as S3 spells it (any case accepted)."""
    from objbackup.core.storage_class import check_storage_class

    return _checked(check_storage_class)(value)


def prefixes(values: list[str] | None) -> list[str] | None:
    """Repeated --include-prefix / --exclude-prefix values, each non-empty and comma-free."""
    from objbackup.core.filters import check_prefix

    return _each(check_prefix)(values)


def kms_key(value: str | None) -> str | None:
    """A KMS key ARN (IAM names keys by ARN only, so ids and aliases are refused)."""
    from objbackup.deploy.encryption import check_key_arn

    return _checked(check_key_arn)(value)


def kms_keys(values: list[str] | None) -> list[str] | None:
    """Repeated --source-kms-key values, each a KMS key ARN."""
    from objbackup.deploy.encryption import check_key_arn

    return _each(check_key_arn)(values)


def alarm_email(value: str | None) -> str | None:
    """An email address for the alarms ("" stops notifying)."""
    from objbackup.deploy.alarms import check_email

    return _checked(check_email)(value)


def alarm_topic_arn(value: str | None) -> str | None:
    """The ARN of an existing standard SNS topic for the alarms ("" stops notifying)."""
    from objbackup.deploy.alarms import check_topic_arn

    return _checked(check_topic_arn)(value)


def max_lag(value: str | None) -> int | None:
    """A duration (900, 900s, 15m, 1h) as seconds, 1 minute to 1 day."""
    from objbackup.deploy.alarms import parse_max_lag

    return _checked(parse_max_lag)(value)


def endpoint_url(value: str | None) -> str | None:
    """An http(s) URL, or nothing (an empty AWS_ENDPOINT_URL means AWS itself)."""
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value


def since(value: str | None) -> str | None:
    """`logs --since`: a duration back from now (10m, 2h, 1d) or an ISO time."""
    from datetime import UTC, datetime

    from objbackup.deploy.function_logs import parse_since

    def check(text: str) -> str:
        parse_since(text, datetime.now(UTC))
        return text

    return _checked(check)(value)
