"""Settings from the function environment: defaults, round trip, errors naming the setting."""

from __future__ import annotations

import pytest

from objbackup.core.config import (
    DEFAULT_DISOWNED_INDEX,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_RETAIN,
    ENV_BACKUP_BUCKET,
    ENV_BACKUP_KMS_KEY,
    ENV_DISOWNED_INDEX,
    ENV_GRACE_SECONDS,
    ENV_MULTIPART_THRESHOLD,
    ENV_RETAIN,
    ENV_SOURCE_BUCKET,
    ENV_TABLE,
    Settings,
)
from objbackup.core.errors import ConfigError

REQUIRED = {ENV_SOURCE_BUCKET: "src", ENV_BACKUP_BUCKET: "bak", ENV_TABLE: "copies"}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_defaults() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings == Settings(source_bucket="src", backup_bucket="bak", table="copies")
    assert settings.disowned_index == DEFAULT_DISOWNED_INDEX == "DisownedIndex"
    assert settings.retain == DEFAULT_RETAIN == 3
    assert settings.grace_seconds == DEFAULT_GRACE_SECONDS == 10.0
    assert settings.multipart_threshold == DEFAULT_MULTIPART_THRESHOLD
    assert settings.backup_kms_key is None


def test_the_backup_kms_key_is_read_and_empty_means_none() -> None:
    assert Settings.from_env(REQUIRED | {ENV_BACKUP_KMS_KEY: KEY_ARN}).backup_kms_key == KEY_ARN
    assert Settings.from_env(REQUIRED | {ENV_BACKUP_KMS_KEY: " "}).backup_kms_key is None
    assert Settings("s", "b", "t").to_env()[ENV_BACKUP_KMS_KEY] == ""


def test_empty_optional_variables_mean_defaults() -> None:
    blank = {
        ENV_DISOWNED_INDEX: "",
        ENV_RETAIN: " ",
        ENV_GRACE_SECONDS: "",
        ENV_MULTIPART_THRESHOLD: "",
    }
    assert Settings.from_env(REQUIRED | blank) == Settings.from_env(REQUIRED)


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (REQUIRED | {ENV_RETAIN: "5"}).items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env().retain == 5


def test_every_variable_is_read() -> None:
    env = REQUIRED | {
        ENV_DISOWNED_INDEX: "ByDisowned",
        ENV_RETAIN: "7",
        ENV_GRACE_SECONDS: "2.5",
        ENV_MULTIPART_THRESHOLD: str(8 * 1024**2),
    }
    assert Settings.from_env(env) == Settings(
        source_bucket="src",
        backup_bucket="bak",
        table="copies",
        disowned_index="ByDisowned",
        retain=7,
        grace_seconds=2.5,
        multipart_threshold=8 * 1024**2,
    )


@pytest.mark.parametrize(
    "settings",
    [
        Settings(source_bucket="src", backup_bucket="bak", table="copies"),
        Settings("a-src", "a-bak", "t", "Idx", retain=1, grace_seconds=0, multipart_threshold=1),
        Settings("s", "b", "t", retain=100, grace_seconds=0.25, multipart_threshold=5 * 1024**3),
        Settings("s", "b", "t", grace_seconds=86_400 * 14),
        Settings("s", "b", "t", backup_kms_key=KEY_ARN),
        Settings("s", "b", "t", storage_class="GLACIER_IR"),
    ],
    ids=["defaults", "minimums", "maximums", "two weeks", "backup KMS key", "storage class"],
)
def test_round_trip_through_the_environment(settings: Settings) -> None:
    env = settings.to_env()
    assert all(isinstance(value, str) for value in env.values())
    assert Settings.from_env(env) == settings


def test_round_trip_keeps_every_digit_of_grace() -> None:
    settings = Settings("src", "bak", "copies", grace_seconds=1234567.0)
    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize("missing", [ENV_SOURCE_BUCKET, ENV_BACKUP_BUCKET, ENV_TABLE])
@pytest.mark.parametrize("how", ["absent", "empty", "blank"])
def test_missing_required_variable(missing: str, how: str) -> None:
    env = dict(REQUIRED)
    if how == "absent":
        del env[missing]
    else:
        env[missing] = "" if how == "empty" else "   "
    with pytest.raises(ConfigError, match=missing) as caught:
        Settings.from_env(env)
    assert caught.value.setting == missing


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (ENV_RETAIN, "three"),
        (ENV_RETAIN, "3.0"),
        (ENV_GRACE_SECONDS, "ten"),
        (ENV_GRACE_SECONDS, "10s"),
        (ENV_MULTIPART_THRESHOLD, "1GiB"),
        (ENV_MULTIPART_THRESHOLD, "1e9"),
    ],
)
def test_non_numeric_value(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        Settings.from_env(REQUIRED | {name: raw})
    assert caught.value.setting == name
    assert repr(raw) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (ENV_RETAIN, "0"),
        (ENV_RETAIN, "-1"),
        (ENV_GRACE_SECONDS, "-1"),
        (ENV_GRACE_SECONDS, "-0.001"),
        (ENV_RETAIN, "101"),
        (ENV_GRACE_SECONDS, "1e12"),
        (ENV_GRACE_SECONDS, "31536000.5"),
        (ENV_MULTIPART_THRESHOLD, "0"),
        (ENV_MULTIPART_THRESHOLD, str(5 * 1024**3 + 1)),
    ],
)
def test_out_of_range_value(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        Settings.from_env(REQUIRED | {name: raw})
    assert caught.value.setting == name


@pytest.mark.parametrize("raw", ["nan", "inf"])
def test_non_finite_grace_is_rejected(raw: str) -> None:
    with pytest.raises(ConfigError, match=ENV_GRACE_SECONDS):
        Settings.from_env(REQUIRED | {ENV_GRACE_SECONDS: raw})


def test_source_and_backup_must_differ() -> None:
    with pytest.raises(ConfigError, match=ENV_BACKUP_BUCKET) as caught:
        Settings.from_env(REQUIRED | {ENV_BACKUP_BUCKET: "src"})
    assert caught.value.setting == ENV_BACKUP_BUCKET


def test_surrounding_whitespace_is_ignored() -> None:
    env = {
        ENV_SOURCE_BUCKET: " src ",
        ENV_BACKUP_BUCKET: "bak\n",
        ENV_TABLE: "copies",
        ENV_RETAIN: " 4 ",
    }
    settings = Settings.from_env(env)
    assert (settings.source_bucket, settings.backup_bucket, settings.retain) == ("src", "bak", 4)


def test_the_storage_class_is_read_and_unset_means_standard() -> None:
    from objbackup.core.config import ENV_STORAGE_CLASS

    assert Settings.from_env(REQUIRED).storage_class == "STANDARD"
    assert Settings.from_env(REQUIRED | {ENV_STORAGE_CLASS: " "}).storage_class == "STANDARD"
    env = REQUIRED | {ENV_STORAGE_CLASS: "STANDARD_IA"}
    assert Settings.from_env(env).storage_class == "STANDARD_IA"


@pytest.mark.parametrize("raw", ["GLACIER", "DEEP_ARCHIVE", "standard_ia", "REDUCED_REDUNDANCY"])
def test_a_storage_class_copies_may_not_be_written_in_is_refused(raw: str) -> None:
    from objbackup.core.config import ENV_STORAGE_CLASS

    with pytest.raises(ConfigError, match=ENV_STORAGE_CLASS):
        Settings.from_env(REQUIRED | {ENV_STORAGE_CLASS: raw})
