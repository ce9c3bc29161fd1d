"""Static checks of the CloudFormation templates: cfn-lint, IAM least privilege, and the contract.

The Python side reads the templates' parameter and output names, so they are pinned here too.
Templates are parsed with cfn-lint's own decoder, which understands the short intrinsic tags.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all
from cfnlint.decode import decode_str

from objbackup.deploy.scale import Scale

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "cloudformation"
TEMPLATE_NAMES = ("storage.yaml", "replicator.yaml", "cleaner.yaml")
FUNCTION_TEMPLATES = ("replicator.yaml", "cleaner.yaml")
RUNTIME = "python3.12"
INDEX_NAME = "DisownedIndex"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENV_VARS = {
    "OBJBACKUP_SOURCE_BUCKET",
    "OBJBACKUP_BACKUP_BUCKET",
    "OBJBACKUP_TABLE",
    "OBJBACKUP_DISOWNED_INDEX",
    "OBJBACKUP_RETAIN",
    "OBJBACKUP_GRACE_SECONDS",
    "OBJBACKUP_MULTIPART_THRESHOLD",
    "OBJBACKUP_DEPLOYMENT",
}

# Resource types whose properties carry a PolicyDocument, and IAM roles' inline policies.
POLICY_DOCUMENT_TYPES = {
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
}

Template = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Loading and walking
# --------------------------------------------------------------------------------------------


def template_source(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


@functools.cache
def load(name: str) -> Template:
    template, errors = decode_str(template_source(name))
    assert not errors, f"{name}: {errors}"
    assert isinstance(template, dict)
    return template


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def one_resource(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def props(resource: dict[str, Any]) -> dict[str, Any]:
    properties = resource.get("Properties", {})
    assert isinstance(properties, dict)
    return properties


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def unwrap_sub(value: Any) -> Any:
    """`!Sub "..."` as its format string, so that ARNs compare as text; anything else unchanged."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    return value


def canonical(value: Any) -> str:
    """A stable text form of a (possibly intrinsic) value, for comparisons and messages."""
    value = unwrap_sub(value)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def expand_statements(statement: Any) -> Iterator[dict[str, Any]]:
    """Statements, with both branches of any `Fn::If` around one."""
    if isinstance(statement, list):
        for item in statement:
            yield from expand_statements(item)
    elif isinstance(statement, dict) and set(statement) == {"Fn::If"}:
        _, when_true, when_false = statement["Fn::If"]
        yield from expand_statements(when_true)
        yield from expand_statements(when_false)
    elif isinstance(statement, dict):
        yield statement


@dataclass(frozen=True)
class PolicyStatement:
    template: str
    resource: str  # logical id of the resource that carries the policy
    statement: dict[str, Any]

    @property
    def allows(self) -> bool:
        return self.statement.get("Effect") == "Allow"

    @property
    def actions(self) -> list[str]:
        return [str(action) for action in as_list(self.statement.get("Action", []))]

    @property
    def resources(self) -> list[Any]:
        return [unwrap_sub(item) for item in as_list(self.statement.get("Resource", []))]

    @property
    def where(self) -> str:
        return f"{self.template}:{self.resource}:{self.statement.get('Sid', '<no Sid>')}"


def policy_statements(name: str) -> list[PolicyStatement]:
    """Every permission statement of a template: roles' inline policies and policy documents."""
    template = load(name)
    found: list[PolicyStatement] = []
    for logical_id, resource in template.get("Resources", {}).items():
        documents: list[Any] = []
        if resource.get("Type") == "AWS::IAM::Role":
            documents += [
                policy.get("PolicyDocument", {}) for policy in props(resource).get("Policies", [])
            ]
        elif resource.get("Type") in POLICY_DOCUMENT_TYPES:
            documents.append(props(resource).get("PolicyDocument", {}))
        for document in documents:
            for statement in expand_statements(document.get("Statement", [])):
                found.append(PolicyStatement(name, logical_id, statement))
    return found


def role_statements(name: str) -> list[PolicyStatement]:
    roles = resources(load(name), "AWS::IAM::Role")
    return [stmt for stmt in policy_statements(name) if stmt.resource in roles]


def wildcard_findings(statement: PolicyStatement, source: str) -> list[str]:
    """Why an Allow statement is too broad; empty if it is fine.

    A wildcard action is never fine. `Resource: "*"` is fine only when the statement's Sid starts
    with `Wildcard` and the template's source carries `# wildcard-justified: <Sid>: <reason>`.
    """
    if not statement.allows:
        return []
    findings: list[str] = []
    if "NotAction" in statement.statement:
        findings.append(f"{statement.where}: Allow with NotAction")
    if "NotResource" in statement.statement:
        findings.append(f"{statement.where}: Allow with NotResource")
    for action in statement.actions:
        if "*" in action:
            findings.append(f"{statement.where}: wildcard action {action!r}")
    if any(item == "*" for item in statement.resources):
        sid = str(statement.statement.get("Sid", ""))
        justified = sid.startswith("Wildcard") and re.search(
            rf"^\s*#\s*wildcard-justified:\s*{re.escape(sid)}:\s*\S", source, re.MULTILINE
        )
        if not justified:
            findings.append(f'{statement.where}: Resource "*" without a justification')
    return findings


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, `*` and `?` wildcards."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def allowed_pairs(statements: list[PolicyStatement]) -> set[tuple[str, str]]:
    """(action, resource) pairs a set of statements allows, resources in their canonical form."""
    return {
        (action, canonical(resource))
        for stmt in statements
        if stmt.allows
        for action in stmt.actions
        for resource in stmt.resources
    }


def condition_name(resource: dict[str, Any]) -> str | None:
    condition = resource.get("Condition")
    return str(condition) if condition is not None else None


# --------------------------------------------------------------------------------------------
# Every template
# --------------------------------------------------------------------------------------------


def test_the_expected_templates_exist() -> None:
    assert sorted(path.name for path in TEMPLATE_DIR.glob("*.yaml")) == sorted(TEMPLATE_NAMES)
    assert (TEMPLATE_DIR / "__init__.py").is_file()


# Every region's schemas and the experimental rules: 7 s of CPU. `make check`'s lint runs cfn-lint
# on the same templates for the default region.
@pytest.mark.slow
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_cfn_lint_reports_no_error_and_no_warning(name: str) -> None:
    matches = lint_all(template_source(name))
    problems = [
        f"{match.rule.id} line {match.linenumber}: {match.message}"
        for match in matches
        if match.rule.id[:1] in {"E", "W"} or match.rule.severity in {"error", "warning"}
    ]
    assert problems == []


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_header(name: str) -> None:
    template = load(name)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert isinstance(template.get("Description"), str)
    assert template["Description"].strip()


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_policies_have_no_wildcard_action_or_unjustified_wildcard_resource(name: str) -> None:
    statements = policy_statements(name)
    if name != "storage.yaml":
        assert any(stmt.allows for stmt in statements), "the walker found no Allow statement"
    source = template_source(name)
    findings = [finding for stmt in statements for finding in wildcard_findings(stmt, source)]
    assert findings == []


def _statement(sid: str, action: Any, resource: Any) -> PolicyStatement:
    body = {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}
    return PolicyStatement("t.yaml", "Role", body)


def test_the_wildcard_check_itself() -> None:
    comment = "# wildcard-justified: WildcardXray: X-Ray has no resource-level permissions\n"
    assert (
        wildcard_findings(_statement("WildcardXray", "xray:PutTraceSegments", "*"), comment) == []
    )
    # A Sid without the comment, the comment without a Wildcard Sid, or an empty reason: rejected.
    assert wildcard_findings(_statement("WildcardXray", "xray:PutTraceSegments", "*"), "")
    assert wildcard_findings(
        _statement("Xray", "xray:PutTraceSegments", "*"), "# wildcard-justified: Xray: r"
    )
    assert wildcard_findings(
        _statement("WildcardXray", "xray:Put", "*"), "# wildcard-justified: WildcardXray:"
    )
    assert wildcard_findings(_statement("WildcardXray", "xray:Put", ["arn:a", "*"]), "")
    # Wildcard actions are never justified.
    assert wildcard_findings(
        _statement("WildcardS3", "s3:*", "arn:aws:s3:::b"), "# wildcard-justified: WildcardS3: x"
    )
    assert wildcard_findings(_statement("S3", ["s3:GetObject", "*"], "arn:aws:s3:::b"), "")
    assert wildcard_findings(_statement("S3", "s3:Get*", "arn:aws:s3:::b"), "")
    assert wildcard_findings(_statement("S3", "s3:GetObject", {"Fn::Sub": "*"}), "")
    # A Deny is never too broad; an ARN ending in /* is not Resource "*".
    deny = PolicyStatement("t", "P", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"})
    assert wildcard_findings(deny, "") == []
    assert wildcard_findings(_statement("S3", "s3:GetObject", "arn:aws:s3:::b/*"), "") == []


# --------------------------------------------------------------------------------------------
# storage.yaml
# --------------------------------------------------------------------------------------------


def test_storage_parameters_condition_and_outputs() -> None:
    template = load("storage.yaml")
    assert set(template["Parameters"]) == {
        "SourceBucketName",
        "SourceEventBridgeByObjbackup",
        "KeptBackupBucketName",
        "KeptTableName",
        "AlarmEmail",
    }
    recorded = template["Parameters"]["SourceEventBridgeByObjbackup"]
    assert (recorded["Default"], recorded["AllowedValues"]) == ("false", ["true", "false"])
    parameter = template["Parameters"]["SourceBucketName"]
    assert parameter["Type"] == "String"
    assert parameter["Default"] == ""
    assert template["Conditions"]["CreateSourceBucket"] == {
        "Fn::Equals": [{"Ref": "SourceBucketName"}, ""]
    }
    outputs = template["Outputs"]
    assert set(outputs) == {
        "SourceBucketName",
        "SourceBucketCreated",
        "SourceEventBridgeByObjbackup",
        "BackupBucketName",
        "ArtifactsBucketName",
        "TableName",
        "TableArn",
        "DisownedIndexName",
        "AlarmTopicArn",
    }
    assert outputs["SourceBucketName"]["Value"] == {
        "Fn::If": ["CreateSourceBucket", {"Ref": "SourceBucket"}, {"Ref": "SourceBucketName"}]
    }
    assert outputs["SourceBucketCreated"]["Value"] == {
        "Fn::If": ["CreateSourceBucket", "true", "false"]
    }
    assert outputs["BackupBucketName"]["Value"] == {
        "Fn::If": ["CreateBackupBucket", {"Ref": "BackupBucket"}, {"Ref": "KeptBackupBucketName"}]
    }
    assert outputs["ArtifactsBucketName"]["Value"] == {"Ref": "ArtifactsBucket"}
    assert outputs["TableName"]["Value"] == {
        "Fn::If": ["CreateTable", {"Ref": "Table"}, {"Ref": "KeptTableName"}]
    }
    assert outputs["TableArn"]["Value"] == {
        "Fn::If": [
            "CreateTable",
            {"Fn::GetAtt": ["Table", "Arn"]},
            {
                "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}"
                ":table/${KeptTableName}"
            },
        ]
    }
    assert outputs["DisownedIndexName"]["Value"] == INDEX_NAME


def test_storage_buckets() -> None:
    buckets = resources(load("storage.yaml"), "AWS::S3::Bucket")
    assert set(buckets) == {"SourceBucket", "BackupBucket", "ArtifactsBucket"}
    assert condition_name(buckets["SourceBucket"]) == "CreateSourceBucket"
    source = props(buckets["SourceBucket"])
    assert source["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }
    # Copies are deleted for real: no versioning on the backup bucket.
    assert "VersioningConfiguration" not in props(buckets["BackupBucket"])
    artifacts = props(buckets["ArtifactsBucket"])
    assert artifacts["VersioningConfiguration"] == {"Status": "Enabled"}
    assert any(
        rule.get("Status") == "Enabled"
        and rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 30
        for rule in artifacts["LifecycleConfiguration"]["Rules"]
    )
    for logical_id in ("SourceBucket", "BackupBucket"):
        rules = props(buckets[logical_id])["LifecycleConfiguration"]["Rules"]
        assert any(
            rule.get("Status") == "Enabled"
            and rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
            for rule in rules
        ), logical_id


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_bucket_is_private_encrypted_and_owner_enforced(name: str) -> None:
    for logical_id, bucket in resources(load(name), "AWS::S3::Bucket").items():
        properties = props(bucket)
        assert "BucketName" not in properties, logical_id
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        algorithms = [rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules]
        assert algorithms == ["AES256"], logical_id
        assert properties["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}
        ], logical_id


def _denies_insecure_transport(statement: dict[str, Any], bucket: str) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    principal = statement.get("Principal")
    covered = {canonical(item) for item in as_list(statement.get("Resource", []))}
    return (
        statement.get("Effect") == "Deny"
        and principal in ("*", {"AWS": "*"})
        and as_list(statement.get("Action")) == ["s3:*"]
        and str(condition.get("aws:SecureTransport")).lower() == "false"
        and canonical({"Fn::GetAtt": [bucket, "Arn"]}) in covered
        and f"${{{bucket}.Arn}}/*" in covered
    )


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_bucket_policy_denies_insecure_transport(name: str) -> None:
    template = load(name)
    policies = resources(template, "AWS::S3::BucketPolicy")
    for logical_id, bucket in resources(template, "AWS::S3::Bucket").items():
        matching = [
            policy
            for policy in policies.values()
            if props(policy).get("Bucket") == {"Ref": logical_id}
            and any(
                _denies_insecure_transport(statement, logical_id)
                for statement in expand_statements(props(policy)["PolicyDocument"]["Statement"])
            )
        ]
        assert len(matching) == 1, logical_id
        # A conditional bucket has an equally conditional policy.
        assert condition_name(matching[0]) == condition_name(bucket), logical_id


def test_table() -> None:
    _, table = one_resource(load("storage.yaml"), "AWS::DynamoDB::Table")
    properties = props(table)
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["DeletionProtectionEnabled"] is False
    # retained if the stack goes outside objbackup (not by a failed create's rollback);
    # teardown deletes it unless --keep-backups
    assert table["DeletionPolicy"] == "RetainExceptOnCreate"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert "TableName" not in properties
    assert {
        definition["AttributeName"]: definition["AttributeType"]
        for definition in properties["AttributeDefinitions"]
    } == {"source_object": "S", "copy_timestamp": "S", "status": "S", "disowned_at": "S"}
    assert properties["KeySchema"] == [
        {"AttributeName": "source_object", "KeyType": "HASH"},
        {"AttributeName": "copy_timestamp", "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
    assert set(indexes) == {INDEX_NAME}
    assert indexes[INDEX_NAME]["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "disowned_at", "KeyType": "RANGE"},
    ]
    assert indexes[INDEX_NAME]["Projection"] == {"ProjectionType": "ALL"}


def test_kept_backups_parameters_and_conditions() -> None:
    template = load("storage.yaml")
    for parameter, condition in (
        ("KeptBackupBucketName", "CreateBackupBucket"),
        ("KeptTableName", "CreateTable"),
    ):
        assert template["Parameters"][parameter]["Type"] == "String"
        assert template["Parameters"][parameter]["Default"] == ""
        assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": parameter}, ""]}


def test_backups_are_retained_except_on_a_failed_create_and_tagged_to_be_found_again() -> None:
    """A failed first deploy's rollback deletes the backups; any later deletion of the stack
    keeps them, tagged with the stack's name (objbackup/deploy/kept.py finds them by it)."""
    resources = load("storage.yaml")["Resources"]
    for logical_id, condition in (
        ("BackupBucket", "CreateBackupBucket"),
        ("BackupBucketPolicy", "CreateBackupBucket"),
        ("Table", "CreateTable"),
    ):
        resource = resources[logical_id]
        assert resource["DeletionPolicy"] == "RetainExceptOnCreate", logical_id
        # UpdateReplacePolicy takes Delete, Retain or Snapshot only
        assert resource["UpdateReplacePolicy"] == "Retain", logical_id
        assert condition_name(resource) == condition, logical_id
    for logical_id in ("BackupBucket", "Table"):
        assert props(resources[logical_id])["Tags"] == [
            {"Key": "objbackup:backups-of", "Value": {"Ref": "AWS::StackName"}}
        ], logical_id
    # Only the backups: the other buckets go with the stack (teardown empties them first).
    others = ("SourceBucket", "ArtifactsBucket", "ArtifactsBucketPolicy", "SourceBucketPolicy")
    assert all(resources[i].get("DeletionPolicy", "Delete") == "Delete" for i in others)


def test_kept_backups_names_match_the_template() -> None:
    from objbackup.deploy import kept

    template = load("storage.yaml")
    assert {kept.P_KEPT_BACKUP_BUCKET, kept.P_KEPT_TABLE} <= set(template["Parameters"])
    tags = props(template["Resources"]["Table"])["Tags"]
    assert [tag["Key"] for tag in tags] == [kept.TAG_BACKUPS_OF]


# --------------------------------------------------------------------------------------------
# replicator.yaml
# --------------------------------------------------------------------------------------------


def test_replicator_parameters_and_outputs() -> None:
    template = load("replicator.yaml")
    parameters = template["Parameters"]
    assert set(parameters) == {
        "SourceBucketName",
        "BackupBucketName",
        "ArtifactsBucketName",
        "BundleKey",
        "TableName",
        "Retain",
        "GraceSeconds",
        "MultipartThreshold",
        "MemorySize",
        "Timeout",
        "IncludePrefixes",
        "ExcludePrefixes",
        "ObjectKeyPattern",
        "SourceKmsKeyArns",
        "BackupKmsKeyArn",
        "StorageClass",
        "MaximumConcurrency",
        "BatchSize",
        "BatchingWindow",
        "AlarmTopicArn",
        "MaxLagSeconds",
        "DeploymentName",
    }
    for name in (
        "IncludePrefixes",
        "ExcludePrefixes",
        "ObjectKeyPattern",
        "SourceKmsKeyArns",
        "BackupKmsKeyArn",
    ):
        assert (parameters[name]["Type"], parameters[name]["Default"]) == ("String", "")
    assert (parameters["Retain"]["Default"], parameters["Retain"]["MinValue"]) == (3, 1)
    assert (parameters["GraceSeconds"]["Default"], parameters["GraceSeconds"]["MinValue"]) == (
        10,
        0,
    )
    assert parameters["MultipartThreshold"]["Default"] == 1073741824
    assert parameters["MemorySize"]["Default"] == 512
    assert parameters["Timeout"]["Default"] == 300
    assert set(template["Outputs"]) == {
        "QueueUrl",
        "QueueArn",
        "DeadLetterQueueUrl",
        "DeadLetterQueueArn",
        "FunctionName",
        "FunctionArn",
        "RuleName",
        "AlarmName",
        "DashboardName",
    }


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_queue_is_encrypted(name: str) -> None:
    for logical_id, queue in resources(load(name), "AWS::SQS::Queue").items():
        properties = props(queue)
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties, (
            logical_id
        )


def test_queues_redrive_and_visibility() -> None:
    template = load("replicator.yaml")
    queues = resources(template, "AWS::SQS::Queue")
    assert set(queues) == {"Queue", "DeadLetterQueue"}
    dlq = props(queues["DeadLetterQueue"])
    assert dlq["MessageRetentionPeriod"] == 1209600
    assert "RedrivePolicy" not in dlq
    queue = props(queues["Queue"])
    assert queue["MessageRetentionPeriod"] == 345600
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert int(redrive["maxReceiveCount"]) >= 3
    assert int(redrive["maxReceiveCount"]) == 5
    # Lambda's advice for SQS sources: visibility timeout >= 6 x the function timeout. The
    # timeout is a parameter, so its largest allowed value must honour that.
    timeout = template["Parameters"]["Timeout"]
    assert int(queue["VisibilityTimeout"]) >= 6 * int(timeout["MaxValue"])
    assert int(queue["VisibilityTimeout"]) >= 6 * int(timeout["Default"])


def test_queue_policy_lets_only_the_rule_send() -> None:
    template = load("replicator.yaml")
    _, policy = one_resource(template, "AWS::SQS::QueuePolicy")
    assert props(policy)["Queues"] == [{"Ref": "Queue"}]
    statements = list(expand_statements(props(policy)["PolicyDocument"]["Statement"]))
    assert statements == [
        {
            "Sid": statements[0].get("Sid"),
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
            "Condition": {
                "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ObjectEventsRule", "Arn"]}}
            },
        }
    ]


def test_object_events_rule() -> None:
    template = load("replicator.yaml")
    rules = resources(template, "AWS::Events::Rule")
    assert set(rules) == {"ObjectEventsRule"}
    rule = props(rules["ObjectEventsRule"])
    unfiltered = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": [{"Ref": "SourceBucketName"}]}},
    }
    condition, filtered, everything = rule["EventPattern"]["Fn::If"]
    assert template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ObjectKeyPattern"}, ""]}]
    }
    assert everything == unfiltered
    # With a key filter the pattern is JSON text: the same document, plus the key matchers.
    text = filtered["Fn::Sub"]
    matchers = '[{"prefix":"keep/"}]'
    rendered = json.loads(
        text.replace("${SourceBucketName}", "b").replace("${ObjectKeyPattern}", matchers)
    )
    assert rendered == {
        **unfiltered,
        "detail": {"bucket": {"name": ["b"]}, "object": {"key": [{"prefix": "keep/"}]}},
    }
    assert rule.get("State", "ENABLED") == "ENABLED"
    assert [target["Arn"] for target in rule["Targets"]] == [{"Fn::GetAtt": ["Queue", "Arn"]}]
    assert template["Outputs"]["RuleName"]["Value"] == {"Ref": "ObjectEventsRule"}


def test_dead_letter_alarm() -> None:
    template = load("replicator.yaml")
    logical_id = "DeadLetterQueueAlarm"
    alarm = resources(template, "AWS::CloudWatch::Alarm")[logical_id]
    properties = props(alarm)
    assert properties["Namespace"] == "AWS/SQS"
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    ]
    assert properties["Period"] == 60
    assert properties["EvaluationPeriods"] == 1
    assert properties["Threshold"] == 1
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["TreatMissingData"] == "notBreaching"
    assert template["Outputs"]["AlarmName"]["Value"] == {"Ref": logical_id}


def test_event_source_mapping() -> None:
    _, mapping = one_resource(load("replicator.yaml"), "AWS::Lambda::EventSourceMapping")
    properties = props(mapping)
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert properties["FunctionName"] == {"Ref": "Function"}
    assert properties["BatchSize"] == {"Ref": "BatchSize"}
    assert properties["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchingWindow"}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}


def test_the_scale_parameters_keep_to_what_lambda_accepts() -> None:
    """deploy --concurrency, --batch-size, --batching-window, --replicator-memory: the template
    refuses what Lambda would (ScalingConfig 2-1000, BatchSize 1-10000, window 0-300 s,
    MemorySize 128-10240 MB), with the defaults of objbackup/deploy/scale.py."""
    parameters = load("replicator.yaml")["Parameters"]
    ranges = {
        name: (
            parameters[name]["MinValue"],
            parameters[name]["MaxValue"],
            parameters[name]["Default"],
        )
        for name in ("MaximumConcurrency", "BatchSize", "BatchingWindow", "MemorySize")
    }
    assert ranges == {
        "MaximumConcurrency": (2, 1000, 25),
        "BatchSize": (1, 10_000, 10),
        "BatchingWindow": (0, 300, 1),
        "MemorySize": (128, 10_240, 512),
    }
    assert Scale() == Scale(*(default for _, _, default in ranges.values()))
    # Lambda's guidance: the queue's visibility timeout at least 6 x the function's timeout
    # (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
    template = load("replicator.yaml")
    visibility = props(template["Resources"]["Queue"])["VisibilityTimeout"]
    assert visibility >= 6 * parameters["Timeout"]["MaxValue"]


S3 = "arn:${AWS::Partition}:s3:::"
TABLE = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"
LOGS = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"


def _pairs(actions: list[str], resource: Any) -> set[tuple[str, str]]:
    return {(action, canonical(resource)) for action in actions}


def test_replicator_role_allows_exactly_what_it_needs() -> None:
    expected = (
        _pairs(
            [
                "s3:GetObject",
                "s3:GetObjectTagging",
            ],
            f"{S3}${{SourceBucketName}}/*",
        )
        | _pairs(["s3:ListBucket"], f"{S3}${{SourceBucketName}}")
        | _pairs(
            [
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            f"{S3}${{BackupBucketName}}/*",
        )
        | _pairs(["s3:ListBucketMultipartUploads"], f"{S3}${{BackupBucketName}}")
        | _pairs(
            ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            TABLE,
        )
        | _pairs(
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            {"Fn::GetAtt": ["Queue", "Arn"]},
        )
        # A stopped big copy is re-sent to the function's own queue (objbackup.core.continuation).
        | _pairs(["sqs:SendMessage"], {"Fn::GetAtt": ["Queue", "Arn"]})
        | _pairs(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            f"{LOGS}${{AWS::StackName}}-replicator:*",
        )
        # Both only under their conditions: see test_kms_statements_exist_only_when_needed.
        | _pairs(["kms:Decrypt"], {"Fn::Split": [",", {"Ref": "SourceKmsKeyArns"}]})
        | _pairs(["kms:GenerateDataKey", "kms:Decrypt"], {"Ref": "BackupKmsKeyArn"})
    )
    assert allowed_pairs(role_statements("replicator.yaml")) == expected


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("BackupKmsKeyArn", "", True),
        ("BackupKmsKeyArn", KMS_KEY, True),
        ("BackupKmsKeyArn", "*", False),
        ("BackupKmsKeyArn", "arn:aws:kms:us-east-1:123456789012:key/*", False),
        ("BackupKmsKeyArn", "arn:aws:kms:us-east-1:123456789012:alias/theirs", False),
        ("SourceKmsKeyArns", "", True),
        ("SourceKmsKeyArns", f"{KMS_KEY},{KMS_KEY[:-1]}f", True),
        ("SourceKmsKeyArns", f"{KMS_KEY},*", False),
        ("SourceKmsKeyArns", f"{KMS_KEY},", False),
    ],
)
def test_kms_parameters_take_key_arns_only(name: str, value: str, allowed: bool) -> None:
    pattern = load("replicator.yaml")["Parameters"][name]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) == allowed


def test_kms_statements_exist_only_when_needed() -> None:
    """The KMS statements sit under conditions on their (empty by default) parameters."""
    template = load("replicator.yaml")
    assert template["Conditions"]["DecryptsSources"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SourceKmsKeyArns"}, ""]}]
    }
    assert template["Conditions"]["EncryptsCopies"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "BackupKmsKeyArn"}, ""]}]
    }
    statements = props(template["Resources"]["Role"])["Policies"][0]["PolicyDocument"]
    guarded = {
        item["Fn::If"][0]: (item["Fn::If"][1]["Sid"], item["Fn::If"][2])
        for item in statements["Statement"]
        if set(item) == {"Fn::If"}
    }
    assert guarded == {
        "DecryptsSources": ("DecryptSourceObjects", {"Ref": "AWS::NoValue"}),
        "EncryptsCopies": ("EncryptCopies", {"Ref": "AWS::NoValue"}),
    }


def test_cleaner_role_allows_exactly_what_it_needs() -> None:
    expected = (
        _pairs(["s3:DeleteObject"], f"{S3}${{BackupBucketName}}/*")
        | _pairs(["dynamodb:UpdateItem", "dynamodb:BatchWriteItem"], TABLE)
        | _pairs(["dynamodb:Query"], f"{TABLE}/index/{INDEX_NAME}")
        | _pairs(
            ["logs:CreateLogStream", "logs:PutLogEvents"], f"{LOGS}${{AWS::StackName}}-cleaner:*"
        )
    )
    assert allowed_pairs(role_statements("cleaner.yaml")) == expected


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_no_function_role_reads_the_backup_bucket(name: str) -> None:
    for stmt in role_statements(name):
        if not stmt.allows:
            continue
        reads = [action for action in stmt.actions if action_matches(action, "s3:GetObject")]
        for resource in stmt.resources:
            text = canonical(resource)
            assert not (reads and ("BackupBucket" in text or text == "*")), stmt.where


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_roles_are_assumed_by_lambda_only(name: str) -> None:
    for logical_id, role in resources(load(name), "AWS::IAM::Role").items():
        properties = props(role)
        assert "ManagedPolicyArns" not in properties, logical_id
        statements = list(expand_statements(properties["AssumeRolePolicyDocument"]["Statement"]))
        assert statements == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ], logical_id


# --------------------------------------------------------------------------------------------
# Functions (replicator.yaml and cleaner.yaml)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "suffix"), [("replicator.yaml", "replicator"), ("cleaner.yaml", "cleaner")]
)
def test_function_and_its_log_group(name: str, suffix: str) -> None:
    template = load(name)
    logical_id, function = one_resource(template, "AWS::Lambda::Function")
    properties = props(function)
    assert properties["Runtime"] == RUNTIME
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == f"{suffix}.handler"
    assert properties["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}
    assert properties["Code"] == {
        "S3Bucket": {"Ref": "ArtifactsBucketName"},
        "S3Key": {"Ref": "BundleKey"},
    }
    assert properties["MemorySize"] == {"Ref": "MemorySize"}
    assert properties["Timeout"] == {"Ref": "Timeout"}
    for absent in ("ReservedConcurrentExecutions", "VpcConfig", "DeadLetterConfig"):
        assert absent not in properties, absent
    variables = properties["Environment"]["Variables"]
    # Only the replicator applies the key filter (it drops what its rule could not), and only it
    # writes copies (with the backup KMS key, if any).
    replicator_vars = {
        "OBJBACKUP_INCLUDE_PREFIXES",
        "OBJBACKUP_EXCLUDE_PREFIXES",
        "OBJBACKUP_BACKUP_KMS_KEY",
        "OBJBACKUP_STORAGE_CLASS",
        "OBJBACKUP_QUEUE_URL",
    }
    assert set(variables) == ENV_VARS | (replicator_vars if suffix == "replicator" else set())
    if suffix == "replicator":
        assert variables["OBJBACKUP_INCLUDE_PREFIXES"] == {"Ref": "IncludePrefixes"}
        assert variables["OBJBACKUP_EXCLUDE_PREFIXES"] == {"Ref": "ExcludePrefixes"}
        assert variables["OBJBACKUP_BACKUP_KMS_KEY"] == {"Ref": "BackupKmsKeyArn"}
        assert variables["OBJBACKUP_STORAGE_CLASS"] == {"Ref": "StorageClass"}
        assert variables["OBJBACKUP_QUEUE_URL"] == {"Ref": "Queue"}
    assert variables["OBJBACKUP_DISOWNED_INDEX"] == INDEX_NAME
    assert variables["OBJBACKUP_DEPLOYMENT"] == {"Ref": "DeploymentName"}
    assert variables["OBJBACKUP_SOURCE_BUCKET"] == {"Ref": "SourceBucketName"}
    assert variables["OBJBACKUP_BACKUP_BUCKET"] == {"Ref": "BackupBucketName"}
    assert variables["OBJBACKUP_TABLE"] == {"Ref": "TableName"}
    for variable, parameter in (
        ("OBJBACKUP_RETAIN", "Retain"),
        ("OBJBACKUP_GRACE_SECONDS", "GraceSeconds"),
        ("OBJBACKUP_MULTIPART_THRESHOLD", "MultipartThreshold"),
    ):
        assert variables[variable] in ({"Ref": parameter}, {"Fn::Sub": f"${{{parameter}}}"})
    # The role may not create its own log group: the group exists, with a retention, first.
    log_group_id, log_group = one_resource(template, "AWS::Logs::LogGroup")
    assert props(log_group)["LogGroupName"] == {
        "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{suffix}"
    }
    assert props(log_group)["RetentionInDays"] == 30
    assert log_group_id in as_list(function.get("DependsOn", []))
    assert template["Outputs"]["FunctionName"]["Value"] == {"Ref": logical_id}
    assert template["Outputs"]["FunctionArn"]["Value"] == {"Fn::GetAtt": [logical_id, "Arn"]}


@pytest.mark.parametrize("name", FUNCTION_TEMPLATES)
def test_retain_and_grace_bounds_are_the_config_constants(name: str) -> None:
    """CloudFormation refuses what the CLI and Settings refuse: one set of bounds."""
    from objbackup.core.config import MAX_GRACE_SECONDS, MAX_RETAIN, MIN_GRACE_SECONDS, MIN_RETAIN

    parameters = load(name)["Parameters"]
    bounds = {
        p: (parameters[p]["MinValue"], parameters[p]["MaxValue"])
        for p in ("Retain", "GraceSeconds")
    }
    assert bounds == {
        "Retain": (MIN_RETAIN, MAX_RETAIN),
        "GraceSeconds": (MIN_GRACE_SECONDS, MAX_GRACE_SECONDS),
    }


def test_functions_share_one_runtime_and_architecture() -> None:
    functions = [
        props(one_resource(load(name), "AWS::Lambda::Function")[1]) for name in FUNCTION_TEMPLATES
    ]
    assert {function["Runtime"] for function in functions} == {RUNTIME}
    assert {tuple(function["Architectures"]) for function in functions} == {("arm64",)}


# --------------------------------------------------------------------------------------------
# cleaner.yaml
# --------------------------------------------------------------------------------------------


def test_cleaner_parameters_and_outputs() -> None:
    template = load("cleaner.yaml")
    parameters = template["Parameters"]
    assert set(parameters) == {
        "BackupBucketName",
        "ArtifactsBucketName",
        "BundleKey",
        "SourceBucketName",
        "TableName",
        "Retain",
        "GraceSeconds",
        "MultipartThreshold",
        "Schedule",
        "MemorySize",
        "Timeout",
        "AlarmTopicArn",
        "DeploymentName",
        "CleanCheckSeconds",
    }
    assert parameters["Retain"]["Default"] == 3
    assert parameters["GraceSeconds"]["Default"] == 10
    assert parameters["MultipartThreshold"]["Default"] == 1073741824
    assert parameters["Schedule"]["Type"] == "String"
    assert parameters["Schedule"]["Default"] == "rate(1 minute)"
    assert parameters["MemorySize"]["Default"] == 256
    assert parameters["Timeout"]["Default"] == 300
    outputs = template["Outputs"]
    assert set(outputs) == {"FunctionName", "FunctionArn", "RuleName", "Schedule"}
    assert outputs["Schedule"]["Value"] == {"Ref": "Schedule"}


def test_cleaner_schedule_invokes_the_function() -> None:
    template = load("cleaner.yaml")
    rule_id, rule = one_resource(template, "AWS::Events::Rule")
    function_id, _ = one_resource(template, "AWS::Lambda::Function")
    assert props(rule)["ScheduleExpression"] == {"Ref": "Schedule"}
    assert props(rule).get("State", "ENABLED") == "ENABLED"
    assert [target["Arn"] for target in props(rule)["Targets"]] == [
        {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    _, permission = one_resource(template, "AWS::Lambda::Permission")
    assert props(permission) == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": function_id},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
    }
    assert template["Outputs"]["RuleName"]["Value"] == {"Ref": rule_id}


def test_copies_are_written_only_in_classes_restore_reads_at_once() -> None:
    """deploy --storage-class: the template allows the classes objbackup offers, STANDARD by
    default; the backup bucket has no Intelligent-Tiering configuration, so the opt-in Archive
    and Deep Archive Access tiers stay off and an INTELLIGENT_TIERING copy stays readable."""
    from objbackup.core.storage_class import DEFAULT_STORAGE_CLASS, REFUSED_CLASSES, STORAGE_CLASSES

    parameter = load("replicator.yaml")["Parameters"]["StorageClass"]
    assert parameter["Default"] == DEFAULT_STORAGE_CLASS
    assert tuple(parameter["AllowedValues"]) == STORAGE_CLASSES
    assert not REFUSED_CLASSES & set(parameter["AllowedValues"])
    for resource in load("storage.yaml")["Resources"].values():
        if resource["Type"] == "AWS::S3::Bucket":
            assert "IntelligentTieringConfigurations" not in resource.get("Properties", {})
