"""Each statement of the functions' roles is needed, proven by running them under IAM.

The replicator and the cleaner run in process against moto with its IAM access control on, each
with the credentials of a role that carries its template's policy (rendered with concrete
parameters). With every statement the flow of test_least_privilege (copies, duplicates, prunes
beyond `retain`, a big copy stopped and resumed, a raced copy aborted, a delete disowning the
copies, the cleaner deleting them) passes; with any one statement removed, or one action removed
from it, the flow fails somewhere. The mutations moto cannot make fail are listed in SURVIVORS
with the reason, and the test checks that list is exact: a new unneeded permission fails here.

moto's access control evaluates identity policies only; tests/iam_access.py switches on the
sandbox's rules (objbackup/sandbox/iam_rules.py), which authorise DynamoDB by the table's ARN,
DeleteObjects per key, and the KMS permissions S3 uses for the caller, as AWS does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from objbackup.core.aws import Clients
from objbackup.core.config import Settings
from objbackup.core.runtime import CleanerApp, ReplicatorApp
from objbackup.sandbox.patches import install_all
from tests.harness import REGION, Harness
from tests.iam_access import ALLOW_ALL, enforce, user_keys
from tests.unit.test_batch import sqs_batch
from tests.unit.test_least_privilege import (
    BACKUP_KEY,
    OTHER_SOURCE_KEY,
    OWN_QUEUE,
    PART,
    SOURCE_KEY,
    THRESHOLD,
    Renderer,
    _kms_encrypted,
    _unversioned,
    stack_name,
)
from tests.unit.test_templates import load, props, resources

if TYPE_CHECKING:
    from types_boto3_iam import IAMClient
    from types_boto3_sts import STSClient

Statement = dict[str, Any]
ROLES = {"replicator": "replicator.yaml", "cleaner": "cleaner.yaml"}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}

# (role, Sid, the action removed or None for the whole statement) -> why the flow still passes.
_PLATFORM = (
    "used by the Lambda platform, not by the function's code: the event source mapping polls "
    "the queue, the runtime writes the logs (test_least_privilege.platform_needs cites the docs)"
)
_TAGS = (
    "moto authorises a write that sets tags (CopyObject copying them, CreateMultipartUpload "
    "with x-amz-tagging) by s3:PutObject alone; AWS also needs s3:PutObjectTagging (S3 API "
    "reference, PutObjectTagging and CopyObject; test_least_privilege.s3_needs)"
)
_NOT_FOUND = (
    "moto answers 404 for a missing key whatever the caller may list; AWS answers 403 without "
    "s3:ListBucket (S3 API reference, HeadObject: 'Permissions')"
)
SURVIVORS: dict[tuple[str, str, str | None], str] = {
    ("replicator", "ListSourceBucket", None): _NOT_FOUND,
    ("replicator", "WriteBackupObjects", "s3:PutObjectTagging"): _TAGS,
    ("replicator", "ConsumeQueue", None): _PLATFORM,
    ("replicator", "ConsumeQueue", "sqs:ReceiveMessage"): _PLATFORM,
    ("replicator", "ConsumeQueue", "sqs:DeleteMessage"): _PLATFORM,
    ("replicator", "ConsumeQueue", "sqs:GetQueueAttributes"): _PLATFORM,
    ("replicator", "ConsumeQueue", "sqs:ChangeMessageVisibility"): _PLATFORM,
    ("replicator", "WriteOwnLogs", None): _PLATFORM,
    ("replicator", "WriteOwnLogs", "logs:CreateLogStream"): _PLATFORM,
    ("replicator", "WriteOwnLogs", "logs:PutLogEvents"): _PLATFORM,
    ("cleaner", "WriteOwnLogs", None): _PLATFORM,
    ("cleaner", "WriteOwnLogs", "logs:CreateLogStream"): _PLATFORM,
    ("cleaner", "WriteOwnLogs", "logs:PutLogEvents"): _PLATFORM,
}


# --------------------------------------------------------------------------------------------
# The roles' policies, rendered, and their mutations
# --------------------------------------------------------------------------------------------


def _settings(kms: bool) -> Settings:
    if kms:
        return Settings("ksrc-bucket", "kbak-bucket", "kcopies", backup_kms_key=BACKUP_KEY)
    return Settings("src-bucket", "bak-bucket", "copies")


def role_policy(role: str, settings: Settings, queue_arn: str) -> list[Statement]:
    """The role's statements as CloudFormation would render them for this deployment."""
    template = load(ROLES[role])
    parameters = {
        "SourceBucketName": settings.source_bucket,
        "BackupBucketName": settings.backup_bucket,
        "TableName": settings.table,
        "ArtifactsBucketName": "art-bucket",
        "BundleKey": "bundles/b.zip",
        # With KMS parameters, so that the KMS statements exist (and are mutated) too.
        "SourceKmsKeyArns": f"{SOURCE_KEY},{OTHER_SOURCE_KEY}",
        "BackupKmsKeyArn": BACKUP_KEY,
    }
    renderer = Renderer(template, stack_name(role), parameters)
    [resource] = resources(template, "AWS::IAM::Role").values()
    [policy] = props(resource)["Policies"]
    text = json.dumps(list(renderer.statements(policy["PolicyDocument"]["Statement"])))
    return list(json.loads(text.replace("<Queue.Arn>", queue_arn)))


@dataclass(frozen=True)
class Mutation:
    role: str
    sid: str
    action: str | None  # None: the whole statement removed

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.role, self.sid, self.action)

    def apply(self, statements: list[Statement]) -> list[Statement]:
        mutated = []
        for statement in statements:
            if statement["Sid"] != self.sid:
                mutated.append(statement)
            elif self.action is not None:
                kept = [a for a in _actions(statement) if a != self.action]
                mutated.append({**statement, "Action": kept})
        return mutated


def _actions(statement: Statement) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def mutations() -> list[Mutation]:
    """Every statement removed, and every action of a statement with more than one removed."""
    found = []
    for role in ROLES:
        for statement in role_policy(role, _settings(kms=True), "arn:queue"):
            found.append(Mutation(role, statement["Sid"], None))
            actions = _actions(statement)
            if len(actions) > 1:
                found += [Mutation(role, statement["Sid"], action) for action in actions]
    return found


def _role_session(
    iam: IAMClient, sts: STSClient, role: str, statements: list[Statement]
) -> boto3.Session:
    arn = iam.create_role(RoleName=f"ob-{role}", AssumeRolePolicyDocument=json.dumps(TRUST))[
        "Role"
    ]["Arn"]
    document = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName=f"ob-{role}", PolicyName=role, PolicyDocument=json.dumps(document))
    credentials = sts.assume_role(RoleArn=arn, RoleSessionName=role)["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


# --------------------------------------------------------------------------------------------
# The flow
# --------------------------------------------------------------------------------------------

Scenario = Callable[[Harness, Callable[..., None], Clients], None]


def run_flow(monkeypatch: pytest.MonkeyPatch, mutation: Mutation | None, kms: bool) -> str | None:
    """Run the functions under their (possibly mutated) roles: None if the flow passed, else how
    it failed."""
    settings = replace(_settings(kms), multipart_threshold=THRESHOLD, part_bytes=PART)
    scenario: Scenario = _kms_encrypted if kms else _unversioned
    with monkeypatch.context() as env, mock_aws():
        env.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
        install_all()
        iam = boto3.client("iam", region_name=REGION)
        sts = boto3.client("sts", region_name=REGION)
        for name, value in user_keys(iam, "test-admin", ALLOW_ALL).items():
            env.setenv(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        env.setattr(boto3, "DEFAULT_SESSION", None)  # its credentials were read before
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName=OWN_QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        settings = replace(settings, queue_url=queue_url)
        sessions = {}
        for role in ROLES:
            statements = role_policy(role, settings, queue_arn)
            if mutation is not None and mutation.role == role:
                statements = mutation.apply(statements)
            sessions[role] = _role_session(iam, sts, role, statements)
        with enforce():
            harness = Harness.create(settings)
            return _failure(harness, scenario, sessions)


def _failure(
    harness: Harness, scenario: Scenario, sessions: dict[str, boto3.Session]
) -> str | None:
    replicator_clients = Clients.create(session=sessions["replicator"], region=REGION)
    replicator = ReplicatorApp.create(harness.settings, replicator_clients)
    cleaner = CleanerApp.create(
        harness.settings, Clients.create(session=sessions["cleaner"], region=REGION)
    )
    counter = iter(range(1, 10_000))

    def deliver(*events: Any, fails: bool = False, context: Any = None) -> None:
        batch = sqs_batch(*[(f"m-{next(counter)}", e) for e in events])
        failed = replicator(batch, context)["batchItemFailures"]
        assert bool(failed) == fails, f"the replicator failed {failed}"

    try:
        scenario(harness, deliver, replicator_clients)
        report = cleaner({"grace_seconds": 0})
    except Exception as exc:  # any failure of the flow is what a mutation must cause
        return f"{type(exc).__name__}: {exc}"
    if report.get("failed") or not report.get("deleted"):
        return f"the cleaner reported {report}"
    records = harness.all_records(harness.source_keys() | {"k", "other"})
    left = {r.copy_name for r in records if r.status != "active"}
    if left:
        return f"disowned copies left after the clean: {sorted(left)}"
    return None


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kms", [False, True], ids=["plain", "kms"])
def test_the_full_policies_pass_the_flow(monkeypatch: pytest.MonkeyPatch, kms: bool) -> None:
    assert run_flow(monkeypatch, None, kms) is None


def test_access_control_is_really_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A role with no statement at all fails the flow: the credentials are the role's."""
    assert run_flow(monkeypatch, Mutation("replicator", "TableItems", None), kms=False)


# Every statement and action removed in turn, a flow each: 13 s of CPU. The full policies' flow and
# one removal (test_access_control_is_really_on) stay in the fast loop.
@pytest.mark.slow
@pytest.mark.parametrize("mutation", mutations(), ids=lambda m: f"{m.role}-{m.sid}-{m.action}")
def test_removing_any_statement_or_action_fails_the_flow(
    monkeypatch: pytest.MonkeyPatch, mutation: Mutation
) -> None:
    # The KMS statements only matter for SSE-KMS objects: their flow is the KMS one.
    kms = mutation.sid in ("DecryptSourceObjects", "EncryptCopies")
    failure = run_flow(monkeypatch, mutation, kms)
    if mutation.key in SURVIVORS:  # if moto learns to refuse it, the entry must go
        assert failure is None, f"no longer survives ({failure}): remove it from SURVIVORS"
    else:
        assert failure is not None, "the flow passes without it: not needed?"


def test_every_survivor_is_a_mutation() -> None:
    """SURVIVORS names only mutations that exist (the parametrised test checks each survives)."""
    assert set(SURVIVORS) <= {m.key for m in mutations()}
