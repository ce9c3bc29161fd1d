"""The pure deploy plan: settings resolution, per-stack actions, parameter formatting."""

from __future__ import annotations

from typing import Any

import pytest

from objbackup.deploy import stacks
from objbackup.deploy.deployment import StackInfo
from objbackup.deploy.errors import (
    InvalidSetting,
    SourceBucketProblem,
    StackBusy,
    StackNeedsAttention,
)
from objbackup.deploy.plan import (
    DeployOptions,
    DeployPlan,
    DeploySettings,
    RetainPrune,
    format_number,
    plan_deployment,
    plan_prune,
    plan_stack,
    resolve_settings,
    stack_parameters,
)
from objbackup.deploy.scale import Scale
from objbackup.deploy.stacks import Role, StackNames, template_body
from objbackup.deploy.validate import check_bucket_name, check_name, check_schedule

STORAGE_OUTPUTS = {
    stacks.O_SOURCE_BUCKET: "src-bucket",
    stacks.O_SOURCE_CREATED: "true",
    stacks.O_BACKUP_BUCKET: "bak-bucket",
    stacks.O_ARTIFACTS_BUCKET: "art-bucket",
    stacks.O_TABLE: "copies",
}
TEMPLATES: dict[Role, str] = {"storage": "S", "replicator": "R", "cleaner": "C"}
DEFAULTS = DeploySettings("", 3, 10.0, "rate(1 minute)")


def stack(role: Any, status: str = "CREATE_COMPLETE", **parameters: str) -> StackInfo:
    outputs = STORAGE_OUTPUTS if role == "storage" else {}
    return StackInfo(role, f"ob-{role}", f"id-{role}", status, None, parameters, outputs)


def deployed(source: str = "", retain: str = "3", grace: str = "10") -> dict[Any, StackInfo]:
    common = {
        stacks.P_SOURCE_BUCKET: "src-bucket",
        stacks.P_BACKUP_BUCKET: "bak-bucket",
        stacks.P_ARTIFACTS_BUCKET: "art-bucket",
        stacks.P_TABLE: "copies",
        stacks.P_BUNDLE_KEY: "bundles/b.zip",
        stacks.P_RETAIN: retain,
        stacks.P_GRACE: grace,
    }
    # As deploy sets them without alarm options (objbackup/deploy/alarms.py).
    alarms = {"AlarmTopicArn": "", "DeploymentName": "ob"}
    return {
        "storage": stack("storage", SourceBucketName=source),
        "replicator": stack(
            "replicator",
            **common,
            **Scale().stack_parameters(),
            **alarms,
            MaxLagSeconds="900",
            StorageClass="STANDARD",
        ),
        "cleaner": stack(
            "cleaner", **common, **alarms, Schedule="rate(1 minute)", CleanCheckSeconds="60"
        ),
    }


@pytest.mark.parametrize(
    ("value", "text"), [(10, "10"), (10.0, "10"), (0, "0"), (0.5, "0.5"), (1e-7, "0.0000001")]
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_first_deploy_uses_the_defaults() -> None:
    assert resolve_settings(DeployOptions(), {}) == DEFAULTS
    wanted = DeployOptions("mine", 5, 0.5, "rate(2 hours)")
    assert resolve_settings(wanted, {}) == DeploySettings("mine", 5, 0.5, "rate(2 hours)")


def test_left_out_options_keep_the_deployed_values() -> None:
    current = deployed(retain="7", grace="42.5")
    assert resolve_settings(DeployOptions(), current) == DeploySettings(
        "", 7, 42.5, "rate(1 minute)"
    )
    assert resolve_settings(DeployOptions(retain=2), current).retain == 2


def test_naming_the_created_source_bucket_keeps_it_created() -> None:
    assert (
        resolve_settings(DeployOptions(source_bucket="src-bucket"), deployed()).source_bucket == ""
    )


def test_an_adopted_bucket_stays_adopted() -> None:
    current = deployed(source="src-bucket")
    assert resolve_settings(DeployOptions(), current).source_bucket == "src-bucket"
    assert resolve_settings(DeployOptions("src-bucket"), current).source_bucket == "src-bucket"


@pytest.mark.parametrize(
    ("bucket", "kind"), [("bak-bucket", "backup"), ("art-bucket", "artifacts")]
)
def test_our_own_buckets_are_refused_as_source(bucket: str, kind: str) -> None:
    with pytest.raises(SourceBucketProblem, match=f"this deployment's {kind} bucket"):
        resolve_settings(DeployOptions(source_bucket=bucket), deployed())


def test_switching_source_buckets_is_refused() -> None:
    with pytest.raises(SourceBucketProblem, match="cannot switch to other"):
        resolve_settings(DeployOptions(source_bucket="other"), deployed())


def test_a_failed_storage_stack_may_take_another_source() -> None:
    current: dict[Role, StackInfo] = {
        "storage": stack("storage", "ROLLBACK_COMPLETE", SourceBucketName="")
    }
    assert resolve_settings(DeployOptions("other"), current).source_bucket == "other"


@pytest.mark.parametrize(
    "settings",
    [
        {"retain": 0},
        {"retain": 101},
        {"grace_seconds": -1.0},
        {"grace_seconds": 1e12},
        {"grace_seconds": float("nan")},
        {"schedule": "rate(1 minutes)"},
    ],
)
def test_invalid_settings(settings: dict[str, Any]) -> None:
    values = {"source_bucket": "", "retain": 3, "grace_seconds": 1.0, "schedule": "rate(1 minute)"}
    with pytest.raises(InvalidSetting):
        DeploySettings(**{**values, **settings})


def test_stack_parameters() -> None:
    settings = DeploySettings("", 4, 2.5, "cron(0 * * * ? *)")
    assert stack_parameters("storage", settings, {}, "b.zip") == {
        "SourceBucketName": "",
        "SourceEventBridgeByObjbackup": "false",
        "AlarmEmail": "",
    }
    replicator = stack_parameters("replicator", settings, STORAGE_OUTPUTS, "b.zip")
    common = {
        "SourceBucketName": "src-bucket",
        "BackupBucketName": "bak-bucket",
        "ArtifactsBucketName": "art-bucket",
        "BundleKey": "b.zip",
        "TableName": "copies",
        "Retain": "4",
        "GraceSeconds": "2.5",
    }
    no_filter = {"IncludePrefixes": "", "ExcludePrefixes": "", "ObjectKeyPattern": ""}
    scale = {"MaximumConcurrency": "25", "BatchSize": "10", "BatchingWindow": "1"}
    alarms = {"AlarmTopicArn": "", "DeploymentName": "objbackup"}
    assert replicator == common | no_filter | scale | alarms | {
        "MemorySize": "512",
        "MaxLagSeconds": "900",
        "StorageClass": "STANDARD",
    }
    cleaner = stack_parameters("cleaner", settings, STORAGE_OUTPUTS, "b.zip")
    assert cleaner == {
        **common,
        "Schedule": "cron(0 * * * ? *)",
        **alarms,
        "CleanCheckSeconds": "86400",  # a cron schedule is checked daily
    }


def test_the_scale_is_set_kept_on_redeploy_and_shown_in_the_plan() -> None:
    wanted = DeployOptions(
        concurrency=200, batch_size=100, batching_window=5, replicator_memory=1024
    )
    settings = resolve_settings(wanted, {})
    assert settings.scale == Scale(200, 100, 5, 1024)
    parameters = stack_parameters("replicator", settings, STORAGE_OUTPUTS, "b.zip")
    assert {key: parameters[key] for key in settings.scale.stack_parameters()} == {
        "MaximumConcurrency": "200",
        "BatchSize": "100",
        "BatchingWindow": "5",
        "MemorySize": "1024",
    }
    current = deployed() | {"replicator": stack("replicator", **parameters)}
    assert resolve_settings(DeployOptions(), current).scale == settings.scale
    assert resolve_settings(DeployOptions(concurrency=30), current).scale == Scale(30, 100, 5, 1024)
    plan = plan_stack(
        "replicator",
        "r",
        "T",
        {**parameters, "MaximumConcurrency": "30"},
        current["replicator"],
        "T",
    )
    assert plan.reasons == ("MaximumConcurrency: 200 -> 30",)
    as_json = DeployPlan("n", "r", settings, "b.zip", False, ()).to_json()["settings"]
    assert (as_json["concurrency"], as_json["batch_size"]) == (200, 100)
    assert (as_json["batching_window"], as_json["replicator_memory"]) == (5, 1024)
    assert resolve_settings(DeployOptions(), {}).scale == Scale(25, 10, 1, 512)


def test_the_storage_class_is_set_kept_on_redeploy_and_shown_in_the_plan() -> None:
    assert resolve_settings(DeployOptions(), {}).storage_class == "STANDARD"
    settings = resolve_settings(DeployOptions(storage_class="STANDARD_IA"), {})
    parameters = stack_parameters("replicator", settings, STORAGE_OUTPUTS, "b.zip")
    assert parameters[stacks.P_STORAGE_CLASS] == "STANDARD_IA"
    assert stacks.P_STORAGE_CLASS not in stack_parameters("cleaner", settings, STORAGE_OUTPUTS, "b")
    current = deployed() | {"replicator": stack("replicator", **parameters)}
    assert resolve_settings(DeployOptions(), current).storage_class == "STANDARD_IA"
    changed = resolve_settings(DeployOptions(storage_class="GLACIER_IR"), current)
    wanted = stack_parameters("replicator", changed, STORAGE_OUTPUTS, "b.zip")
    plan = plan_stack("replicator", "r", "T", wanted, current["replicator"], "T")
    assert plan.reasons == ("StorageClass: STANDARD_IA -> GLACIER_IR",)
    as_json = DeployPlan("n", "r", changed, "b.zip", False, ()).to_json()["settings"]
    assert as_json["storage_class"] == "GLACIER_IR"


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE", "glacier_ir", "ONEZONE_IA"])
def test_a_storage_class_restore_could_not_read_at_once_is_refused(storage_class: str) -> None:
    with pytest.raises(InvalidSetting):
        resolve_settings(DeployOptions(storage_class=storage_class), {})


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 1},
        {"concurrency": 1001},
        {"batch_size": 0},
        {"batch_size": 10_001},
        {"batching_window": 301},
        {"replicator_memory": 127},
        {"replicator_memory": 10_241},
        {"batch_size": 11, "batching_window": 0},  # Lambda wants a window above 10 messages
    ],
)
def test_a_scale_lambda_would_refuse_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidSetting):
        resolve_settings(DeployOptions(**options), {})


def test_plan_stack_actions() -> None:
    params = {"A": "1"}
    assert plan_stack("storage", "s", "T", params, None, None).action == "create"
    same = stack("storage", A="1")
    assert plan_stack("storage", "s", "T", params, same, "T\n").action == "none"
    changed = plan_stack("storage", "s", "T2", {"A": "2"}, same, "T")
    assert (changed.action, changed.reasons) == ("update", ("template changed", "A: 1 -> 2"))
    failed = plan_stack("storage", "s", "T", params, stack("storage", "ROLLBACK_COMPLETE"), None)
    assert (failed.action, failed.recreate_from) == ("create", "ROLLBACK_COMPLETE")
    rolled_back = stack("storage", "UPDATE_ROLLBACK_COMPLETE", A="1")
    assert plan_stack("storage", "s", "T", params, rolled_back, "T").action == "none"


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"])
def test_busy_stacks_are_left_alone(status: str) -> None:
    with pytest.raises(StackBusy, match=status):
        plan_stack("storage", "s", "T", {}, stack("storage", status), "T")


@pytest.mark.parametrize("status", ["DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"])
def test_stuck_stacks_need_attention(status: str) -> None:
    with pytest.raises(StackNeedsAttention, match=status):
        plan_stack("storage", "s", "T", {}, stack("storage", status), "T")


def plan_over(
    current: dict[Any, StackInfo],
    settings: DeploySettings,
    bundle_key: str = "bundles/b.zip",
    bundle_present: bool = True,
    prune_unfinished: bool = False,
) -> DeployPlan:
    """Plan deployment "ob" over `current`, whose templates are TEMPLATES, unchanged."""
    return plan_deployment(
        StackNames("ob"),
        "us-east-1",
        settings,
        current,
        TEMPLATES,
        TEMPLATES,
        bundle_key,
        bundle_present,
        prune_unfinished=prune_unfinished,
    )


def test_plan_of_a_new_deployment_waits_for_the_storage_outputs() -> None:
    plan = plan_deployment(
        StackNames("ob"), "us-east-1", DEFAULTS, {}, {}, TEMPLATES, "b.zip", False
    )
    assert [(s.stack_name, s.action) for s in plan.stacks] == [
        ("ob-storage", "create"),
        ("ob-replicator", "create"),
        ("ob-cleaner", "create"),
    ]
    assert plan.stack("replicator").parameters is None
    assert plan.changes and plan.upload_bundle


@pytest.mark.parametrize(
    ("deployed_retain", "wanted", "unfinished", "prune"),
    [
        ("5", 2, False, RetainPrune(2, 5)),
        ("5", 2, True, RetainPrune(2, 5, unfinished=True)),
        ("2", 5, False, None),
        ("3", 3, False, None),
        ("3", 3, True, RetainPrune(3, None, unfinished=True)),
    ],
)
def test_a_lowered_retain_plans_a_prune(
    deployed_retain: str, wanted: int, unfinished: bool, prune: RetainPrune | None
) -> None:
    current = deployed(retain=deployed_retain)
    settings = resolve_settings(DeployOptions(retain=wanted), current)
    assert plan_prune(settings, current, unfinished) == prune
    assert plan_prune(settings, {}, unfinished=False) is None  # a first deploy prunes nothing


def test_the_plan_says_what_the_prune_does() -> None:
    current = deployed(retain="5")
    settings = resolve_settings(DeployOptions(retain=2), current)
    plan = plan_over(current, settings)
    assert plan.changes and plan.prune == RetainPrune(2, 5)
    assert plan.to_json()["prune"] == {
        "from": 5,
        "to": 2,
        "unfinished": False,
        "message": "retain lowered from 5 to 2: after the update, copies beyond the newest 2 of "
        "each object are pruned (the backup bucket is listed)",
    }
    resumed = plan_over(current, resolve_settings(DeployOptions(), current), prune_unfinished=True)
    assert [s.action for s in resumed.stacks] == ["none", "none", "none"] and resumed.changes
    assert resumed.prune is not None
    assert resumed.prune.describe.startswith("an earlier deploy's prune did not finish")


def test_plan_with_nothing_to_change() -> None:
    current = deployed()
    settings = resolve_settings(DeployOptions(), current)
    plan = plan_over(current, settings)
    assert [s.action for s in plan.stacks] == ["none", "none", "none"]
    assert not plan.changes
    new_bundle = plan_over(current, settings, "bundles/c.zip", bundle_present=False)
    assert [s.action for s in new_bundle.stacks] == ["none", "update", "update"]
    assert new_bundle.stack("cleaner").reasons == ("BundleKey: bundles/b.zip -> bundles/c.zip",)


@pytest.mark.parametrize("name", ["objbackup", "prod-2", "A", "x" * 42])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name
    assert StackNames(name).of("cleaner") == f"{name}-cleaner"


@pytest.mark.parametrize("name", ["", "2x", "a_b", "a.b", "x" * 43, "-a"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name)


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minute)", "rate(2 minutes)", "rate(1 hour)", "rate(3 days)", "cron(0/5 * * * ? *)"],
)
def test_valid_schedules(expression: str) -> None:
    assert check_schedule(expression) == expression


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)", "rate(1 week)", "cron(* * *)", ""],
)
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(ValueError):
        check_schedule(expression)


@pytest.mark.parametrize("bucket", ["abc", "my.bucket-1", "a" * 63])
def test_valid_bucket_names(bucket: str) -> None:
    assert check_bucket_name(bucket) == bucket


@pytest.mark.parametrize("bucket", ["ab", "a" * 64, "Abc", "a_b", "-ab", "ab-", "a..b", "1.2.3.4"])
def test_invalid_bucket_names(bucket: str) -> None:
    with pytest.raises(ValueError):
        check_bucket_name(bucket)


def test_packaged_templates_are_the_repository_templates() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "cloudformation"
    for role in ("storage", "replicator", "cleaner"):
        assert template_body(role) == (folder / f"{role}.yaml").read_text(encoding="utf-8")
