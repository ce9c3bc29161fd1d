"""The S3 storage class copies are written in (deploy --storage-class), and what each means for
restore. The class is set on write (CopyObject's and CreateMultipartUpload's `StorageClass`), not
by a lifecycle transition, so a copy never pays a transition request.

Only classes a copy can be read back from at once are offered: restore copies a copy back with
CopyObject or UploadPartCopy, which S3 refuses on an object "not accessible in real time" until
restored (S3 Flexible Retrieval and Deep Archive: S3 User Guide, "Restoring an archived object",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html). So GLACIER and
DEEP_ARCHIVE are refused.

- STANDARD_IA and GLACIER_IR: "millisecond access" like STANDARD, read with GetObject/CopyObject
  directly, for a per-GB retrieval fee and a minimum storage duration (30 and 90 days) and a
  128 KB minimum billable size (S3 User Guide, "Understanding and managing Amazon S3 storage
  classes", https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html#sc-compare).
- INTELLIGENT_TIERING: its Frequent, Infrequent and Archive Instant Access tiers are read at once
  with no retrieval fee; the asynchronous Archive and Deep Archive Access tiers are used only
  when a bucket's Intelligent-Tiering configuration turns them on ("You only need S3
  Intelligent-Tiering enabled on a bucket if you want to automatically move objects ... to the
  Archive Access or Deep Archive Access tier", PutBucketIntelligentTieringConfiguration, S3 API
  Reference). The storage stack configures none on the backup bucket
  (tests/unit/test_templates.py), so copies stay instantly readable.

Prices and their arithmetic live in objbackup/estimate.py, which the Lambda bundle leaves out.
"""

from __future__ import annotations

STANDARD = "STANDARD"
STORAGE_CLASSES = (STANDARD, "STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR")
DEFAULT_STORAGE_CLASS = STANDARD
# Archive classes a copy must not be written in: restore could not copy it back.
REFUSED_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})

# What each class means for restore (the plan, `status` and the README say it).
RESTORE_NOTES = {
    STANDARD: "instant restore, no retrieval fee",
    "STANDARD_IA": "instant restore; a fee per GB read; billed for 30 days and 128 KB at least",
    "INTELLIGENT_TIERING": (
        "instant restore, no retrieval fee (archive tiers stay off); monitoring per object"
    ),
    "GLACIER_IR": "instant restore; a fee per GB read; billed for 90 days and 128 KB at least",
}


def check_storage_class(value: str, what: str = "--storage-class") -> str:
    """`value` (any case) as S3 spells it, if copies may be written in that class."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a storage class name, got {value!r}")
    name = value.strip().upper()
    if name in STORAGE_CLASSES:
        return name
    choices = ", ".join(STORAGE_CLASSES)
    if name in REFUSED_CLASSES:
        raise ValueError(
            f"{what} {name} is an archive class: restore could not copy a copy back without "
            f"restoring it first; choose one of {choices}"
        )
    raise ValueError(f"{what} must be one of {choices}, got {value!r}")
