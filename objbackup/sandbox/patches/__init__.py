"""Every patch the sandbox makes to moto, by AWS service, installed through one registry
(registry.py: one guard). `PATCHES` is the list of what is patched and why, each with its tests;
docs/DESIGN.md's list of the sandbox's gaps is checked against it
(tests/unit/test_sandbox_patches.py)."""

from __future__ import annotations

from objbackup.sandbox import partition_limit
from objbackup.sandbox.patches import (
    cloudformation,
    cloudwatch,
    dispatch,
    dynamodb,
    iam,
    lambda_,
    s3,
    s3_eventbridge,
    s3_unsupported,
    sqs,
)
from objbackup.sandbox.patches.lambda_ import install_lambda_executor
from objbackup.sandbox.patches.registry import Patch, install, installed
from objbackup.sandbox.patches.s3_unsupported import archive_tier

# In the order they are installed: a later patch of the same moto method wraps an earlier one
# (S3's copy checks: the unsupported source's refusal runs first).
PATCHES: tuple[Patch, ...] = (
    *s3.PATCHES,
    *s3_unsupported.PATCHES,
    *s3_eventbridge.PATCHES,
    *cloudformation.PATCHES,
    *cloudwatch.PATCHES,
    *iam.PATCHES,
    *lambda_.PATCHES,
    *sqs.PATCHES,
    *dynamodb.PATCHES,
    *dispatch.PATCHES,
)

__all__ = [
    "PATCHES",
    "Patch",
    "archive_tier",
    "design_list",
    "install",
    "install_all",
    "install_lambda_executor",
    "installed",
]


def install_all() -> None:
    """Install every patch (in-process moto and the sandbox's server alike); idempotent."""
    install(*PATCHES)
    # Off unless OBJBACKUP_SANDBOX_INDEX_WRITE_RATE is set: benchmarks turn it on.
    partition_limit.limit_from_environment()


def design_list() -> str:
    """The patches by service, as docs/DESIGN.md lists them (one line a service)."""
    services: dict[str, list[str]] = {}
    for patch in PATCHES:
        services.setdefault(patch.service, []).append(f"`{patch.name}`")
    return "\n".join(f"- {service}: {', '.join(names)}" for service, names in services.items())
