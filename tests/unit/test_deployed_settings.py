"""One reader of a deployment's settings: the plan, `status` (Deployment.settings) and the data
commands (Deployment.function_settings) read the stacks' parameters through DeployedSettings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from objbackup.core.config import DEFAULT_MULTIPART_THRESHOLD, DEFAULT_RETAIN
from objbackup.core.filters import KeyFilter
from objbackup.deploy import stacks as stack_keys
from objbackup.deploy.deployed_settings import DeployedSettings
from objbackup.deploy.deployment import Deployment, StackInfo
from objbackup.deploy.plan import DeployOptions, DeploySettings, plan_prune, resolve_settings
from objbackup.deploy.scale import Scale, deployed_scale
from objbackup.deploy.stacks import Role

OUTPUTS = {
    stack_keys.O_SOURCE_BUCKET: "src-bucket",
    stack_keys.O_BACKUP_BUCKET: "bak-bucket",
    stack_keys.O_ARTIFACTS_BUCKET: "art-bucket",
    stack_keys.O_TABLE: "copies",
}


def stack(role: Role, **parameters: str) -> StackInfo:
    outputs = OUTPUTS if role == "storage" else {}
    return StackInfo(role, f"ob-{role}", f"id-{role}", "UPDATE_COMPLETE", None, parameters, outputs)


def deployed() -> dict[Role, StackInfo]:
    """A deployment whose every setting differs from its default."""
    return {
        "storage": stack("storage", SourceBucketName="src-bucket"),
        "replicator": stack(
            "replicator",
            Retain="5",
            GraceSeconds="30",
            MultipartThreshold="1048576",
            IncludePrefixes="docs/,img/",
            ExcludePrefixes="docs/tmp/",
            StorageClass="STANDARD_IA",
            MaximumConcurrency="7",
        ),
        "cleaner": stack("cleaner", Retain="5", GraceSeconds="30", Schedule="rate(5 minutes)"),
    }


# What each stack layout says; "" counts as unset, and either function stack's copy will do.
CASES = [
    pytest.param(deployed(), 5, 30.0, 1048576, id="every-setting"),
    pytest.param(
        {
            "replicator": stack("replicator", Retain="", GraceSeconds="7"),
            "cleaner": stack("cleaner", Retain="4"),
        },
        4,
        7.0,
        None,
        id="blank-replicator-retain",
    ),
    pytest.param(
        {"cleaner": stack("cleaner", Retain="2", GraceSeconds="0")}, 2, 0.0, None, id="cleaner-only"
    ),
    pytest.param({"storage": stack("storage")}, None, None, None, id="storage-only"),
]


@pytest.mark.parametrize(("stacks", "retain", "grace", "threshold"), CASES)
def test_the_plan_status_and_the_data_commands_read_the_same_settings(
    stacks: dict[Role, StackInfo], retain: int | None, grace: float | None, threshold: int | None
) -> None:
    settings = DeployedSettings.from_stacks(stacks)
    assert (settings.retain, settings.grace_seconds, settings.multipart_threshold) == (
        retain,
        grace,
        threshold,
    )
    deployment = Deployment("ob", "eu-west-1", stacks)
    assert deployment.settings == settings
    # A deploy with no options keeps what is deployed (the defaults where nothing is).
    kept = resolve_settings(DeployOptions(), stacks)
    defaults = DeploySettings("", DEFAULT_RETAIN, 10.0, "rate(1 minute)")
    assert kept.retain == (defaults.retain if retain is None else retain)
    assert kept.grace_seconds == (defaults.grace_seconds if grace is None else grace)
    assert kept.multipart_threshold == threshold
    assert kept.key_filter == settings.key_filter
    if "storage" in stacks:
        function = deployment.function_settings()
        assert function.retain == kept.retain
        assert function.multipart_threshold == (threshold or DEFAULT_MULTIPART_THRESHOLD)


def test_every_setting_of_a_deployment_is_read() -> None:
    settings = Deployment("ob", "eu-west-1", deployed()).settings
    assert settings.key_filter == KeyFilter(("docs/", "img/"), ("docs/tmp/",))
    assert settings.schedule == "rate(5 minutes)"
    assert settings.storage_class == "STANDARD_IA"
    assert (settings.source_bucket, settings.source_bucket_parameter) == (
        "src-bucket",
        "src-bucket",
    )
    assert Deployment("ob", "eu-west-1", deployed()).source_bucket == "src-bucket"
    assert deployed_scale(settings.replicator_parameters or {})["concurrency"] == 7
    assert Scale.resolve(settings.replicator_parameters).concurrency == 7
    plan = resolve_settings(DeployOptions(), deployed())
    assert (plan.schedule, plan.storage_class, plan.scale.concurrency) == (
        "rate(5 minutes)",
        "STANDARD_IA",
        7,
    )


def test_the_plan_and_the_deployment_read_through_the_one_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the reader says is what the plan keeps, what `retain` is lowered from, and what
    status and the data commands see: none of them reads the stacks' parameters on its own."""
    read = DeployedSettings.from_stacks
    calls: list[str] = []

    def spy(stacks: Mapping[Role, StackInfo]) -> DeployedSettings:
        calls.append(",".join(sorted(stacks)))
        return replace(
            read(stacks),
            retain=42,
            grace_seconds=99.0,
            schedule="rate(9 minutes)",
            source_bucket="spied-bucket",
        )

    monkeypatch.setattr(DeployedSettings, "from_stacks", staticmethod(spy))
    stacks = deployed()
    kept = resolve_settings(DeployOptions(), stacks)
    assert (kept.retain, kept.grace_seconds, kept.schedule) == (42, 99.0, "rate(9 minutes)")
    lowered = plan_prune(replace(kept, retain=3), stacks, unfinished=False)
    assert lowered is not None and lowered.deployed == 42
    # The deployed bucket is the reader's: naming it keeps the deployed parameter (no switch).
    same = resolve_settings(DeployOptions(source_bucket="spied-bucket"), stacks)
    assert same.source_bucket == "src-bucket"
    deployment = Deployment("ob", "eu-west-1", stacks)
    assert (deployment.settings.retain, deployment.source_bucket) == (42, "spied-bucket")
    assert deployment.function_settings().retain == 42
    assert len(calls) == 4  # two plans, the prune and the deployment (read once, then kept)
