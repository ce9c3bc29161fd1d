"""The options of `objbackup deploy`, each declared once as a typed alias the command's signature
names; an option left out (None) keeps the deployed value, or the default on a first deploy."""

from __future__ import annotations

from typing import Annotated

import typer

from objbackup.cli import options
from objbackup.core.config import MAX_GRACE_SECONDS, MAX_RETAIN, MIN_GRACE_SECONDS, MIN_RETAIN
from objbackup.deploy.scale import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCHING_WINDOW,
    DEFAULT_CONCURRENCY,
    DEFAULT_MEMORY,
    MAX_CONCURRENCY,
    MIN_CONCURRENCY,
)

SourceBucket = Annotated[
    str | None,
    options.checked_option(
        "--source-bucket",
        "BUCKET",
        options.bucket,
        "Back up this existing bucket instead of creating one (kept on later deploys).",
    ),
]
Retain = Annotated[
    int | None,
    options.checked_option(
        "--retain",
        None,
        options.retain,
        f"Copies kept per object, {MIN_RETAIN} to {MAX_RETAIN} (default: 3, or the deployed "
        "value). Lowered, deploy prunes the copies beyond the new count.",
    ),
]
Grace = Annotated[
    float | None,
    options.checked_option(
        "--grace",
        "SECONDS",
        options.grace,
        f"Seconds a deleted object's copies are kept, {MIN_GRACE_SECONDS} to "
        f"{MAX_GRACE_SECONDS} (365 days; default: 10, or the deployed value).",
    ),
]
Schedule = Annotated[
    str | None,
    options.checked_option(
        "--schedule",
        "EXPRESSION",
        options.schedule,
        "Cleaner schedule, rate(...) or cron(...) (default: rate(1 minute), or the deployed "
        "value).",
    ),
]
IncludePrefix = Annotated[
    list[str] | None,
    options.checked_option(
        "--include-prefix",
        "PREFIX",
        options.prefixes,
        "Back up only keys starting with PREFIX (repeatable; the given prefixes replace the "
        "deployed filter; default: the deployed filter, or every key).",
    ),
]
ExcludePrefix = Annotated[
    list[str] | None,
    options.checked_option(
        "--exclude-prefix",
        "PREFIX",
        options.prefixes,
        "Never back up keys starting with PREFIX (repeatable).",
    ),
]
AllKeys = Annotated[
    bool, typer.Option("--all-keys", help="Drop the deployed prefix filter: back up every key.")
]
SourceKmsKey = Annotated[
    list[str] | None,
    options.checked_option(
        "--source-kms-key",
        "ARN",
        options.kms_keys,
        "The replicator may decrypt source objects with this KMS key (repeatable; added to the "
        "adopted bucket's default key; the given keys replace the deployed ones).",
    ),
]
BackupKmsKey = Annotated[
    str | None,
    options.checked_option(
        "--backup-kms-key",
        "ARN",
        options.kms_key,
        "Encrypt every copy with this KMS key (default: the deployed key, else the adopted "
        "bucket's default KMS key, else SSE-S3).",
    ),
]
Concurrency = Annotated[
    int | None,
    options.checked_option(
        "--concurrency",
        "N",
        options.concurrency,
        f"Most replicator instances at once, {MIN_CONCURRENCY} to {MAX_CONCURRENCY} (default: "
        f"{DEFAULT_CONCURRENCY}, or the deployed value; see docs/THROUGHPUT.md).",
    ),
]
BatchSize = Annotated[
    int | None,
    options.checked_option(
        "--batch-size",
        "N",
        options.batch_size,
        "Most messages per invocation, 1 to 10000; above 10 needs --batching-window 1 or more "
        f"(default: {DEFAULT_BATCH_SIZE}, or the deployed value).",
    ),
]
BatchingWindow = Annotated[
    int | None,
    options.checked_option(
        "--batching-window",
        "SECONDS",
        options.batching_window,
        "Seconds Lambda may gather messages into a batch, 0 to 300 (default: "
        f"{DEFAULT_BATCHING_WINDOW}, or the deployed value).",
    ),
]
ReplicatorMemory = Annotated[
    int | None,
    options.checked_option(
        "--replicator-memory",
        "MB",
        options.replicator_memory,
        f"Memory of the replicator function, 128 to 10240 MB (default: {DEFAULT_MEMORY}, or the "
        "deployed value).",
    ),
]
StorageClass = Annotated[
    str | None,
    options.checked_option(
        "--storage-class",
        "CLASS",
        options.storage_class,
        "S3 storage class of every copy: STANDARD, STANDARD_IA, INTELLIGENT_TIERING or "
        "GLACIER_IR, all restored at once (default: STANDARD, or the deployed value; see README, "
        "Cost).",
    ),
]
FreshBackups = Annotated[
    bool,
    typer.Option(
        "--fresh-backups",
        help="On a first deploy, leave kept backups of this name alone (teardown "
        "--keep-backups) and create new ones; by default they are reattached.",
    ),
]
AlarmEmail = Annotated[
    str | None,
    options.checked_option(
        "--alarm-email",
        "ADDRESS",
        options.alarm_email,
        "Alarms notify this address through an SNS topic deploy creates (confirm its first "
        'email; kept on later deploys; "" stops notifying).',
    ),
]
AlarmTopicArn = Annotated[
    str | None,
    options.checked_option(
        "--alarm-topic-arn",
        "ARN",
        options.alarm_topic_arn,
        "Alarms notify this existing SNS topic instead (kept on later deploys).",
    ),
]
MaxLag = Annotated[
    str | None,
    options.checked_option(
        "--max-lag",
        "DURATION",
        options.max_lag,
        "Alarm when the oldest queued event is older than this: 900s, 15m, 1h; 1 minute to 1 day "
        "(default: 15m, or the deployed value).",
    ),
]
MultipartThreshold = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=5 * 1024**3,
        metavar="BYTES",
        hidden=True,  # advanced: tests copy small objects part by part with it
        help="Objects this size or larger are copied part by part (default: 1 GiB).",
    ),
]
