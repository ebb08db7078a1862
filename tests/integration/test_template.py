"""The packaged CloudFormation template: routing, least privilege, tables, queues, alarms."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from detectors import REGISTRY
from iamwatch.aws.enrichment import ENRICHMENT_ACTIONS
from iamwatch.aws.routing import (
    detection_pattern,
    enrichment_actions,
    own_rule_file,
    rule_patterns,
)
from iamwatch.aws.tables import INDEXES, TABLES
from iamwatch.export.daily import DELIVERY_HORIZON, PREFIX
from tests.conftest import ROOT
from tests.template import packaged_template, pattern_rules, resources_of

# Reads what `make package` builds (osls, from npm): `make test` runs it, plain pytest does not.
pytestmark = pytest.mark.packaged

FUNCTIONS = (
    "Detect", "Notify", "Backfill", "BackfillBatch", "Export", "Interactions", "Remediate",
    "Inventory", "Alarms", "Doctor",
)  # fmt: skip
# Explicit denies a role may carry (everything else is an Allow), by role and Sid.
DENIES = {("Remediate", "ProtectOwnRoles"), ("Remediate", "ProtectBreakGlass")}
# Actions AWS authorises on no resource but "*" (and that only read or start a report), by
# role and Sid: the inventory's account-wide reads among them.
UNSCOPED = {
    ("Remediate", "GrantHistory"): ["cloudtrail:LookupEvents"],
    ("Doctor", "ListTrails"): ["cloudtrail:DescribeTrails"],
    ("Inventory", "ReadAccountIdentities"): [
        "iam:GenerateCredentialReport", "iam:GetAccountAuthorizationDetails",
        "iam:GetCredentialReport", "iam:GetServiceLastAccessedDetails", "sso:ListInstances",
    ],
}  # fmt: skip


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_rules_route_exactly_the_registry_patterns_to_detect() -> None:
    rules = pattern_rules()
    deployed = sorted(orjson.dumps(r["Properties"]["EventPattern"]) for r in rules.values())
    expected = sorted(orjson.dumps(p) for p in rule_patterns(REGISTRY).values())
    assert deployed == expected
    # The main rule, iamwatch-tampering's own and identity-provider-changed's own.
    assert len(rules) == 3
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["DetectLambdaFunction", "Arn"]}
        assert "DeadLetterConfig" in target and "RetryPolicy" in target


SILENCING = {"DisableRule", "DeleteRule", "PutRule", "RemoveTargets"}


def _routes_silencing(rule: dict[str, Any]) -> bool:
    branches = rule["Properties"]["EventPattern"]["detail"]["$or"]
    return any(
        b.get("eventSource") == ["events.amazonaws.com"] and set(b["eventName"]) >= SILENCING
        for b in branches
    )


def test_each_rule_is_watched_by_another_rule() -> None:
    """A disabled rule cannot route its own DisableRule event: for every rule, another rule
    routes its being disabled, deleted or retargeted (the main and the self-tamper rules
    each watch the other, and both watch the identity-source rule)."""
    rules = list(pattern_rules().values())
    watchers = [rule for rule in rules if _routes_silencing(rule)]
    assert len(watchers) >= 2
    for rule in rules:
        assert [w for w in watchers if w is not rule], rule["Properties"]["Name"]


def test_every_deployed_name_starts_with_the_self_prefix() -> None:
    """iamwatch-tampering knows iamwatch's resources by IAMWATCH_SELF_PREFIX: every name the
    template sets starts with it, and CloudFormation names the rest <stack>-<logical id>-...,
    the stack being <service>-<stage>, the prefix without its last hyphen."""
    resources = packaged_template()["Resources"]
    for name, function in resources_of("AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        prefix = variables["IAMWATCH_SELF_PREFIX"]
        assert prefix == "iamwatch-prod-", name
        assert function["Properties"]["FunctionName"].startswith(prefix)
        assert variables["IAMWATCH_SLACK_TOKEN_SSM_PARAMETER"] == "/iamwatch/slack-token"
        # Only this account's and this region's resources are iamwatch's own (defect 8).
        assert variables["IAMWATCH_SELF_ACCOUNT"] == {"Ref": "AWS::AccountId"}, name
        assert variables["IAMWATCH_SELF_REGIONS"] == {"Ref": "AWS::Region"}, name
    for rule in pattern_rules().values():
        assert rule["Properties"]["Name"].startswith("iamwatch-prod-")
    generated = [
        logical
        for logical, resource in resources.items()
        if resource["Type"] in {"AWS::IAM::Role", "AWS::SQS::Queue", "AWS::DynamoDB::Table"}
        or (
            resource["Type"] == "AWS::Events::Rule" and "EventPattern" not in resource["Properties"]
        )
    ]
    assert generated
    for logical in generated:
        properties = resources[logical]["Properties"]
        assert not {"RoleName", "QueueName", "TableName", "Name"} & set(properties), logical


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_its_own_role(function: str) -> None:
    lambda_function = resources_of("AWS::Lambda::Function")[f"{function}LambdaFunction"]
    assert lambda_function["Properties"]["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_roles_are_least_privilege(function: str) -> None:
    role = resources_of("AWS::IAM::Role")[f"{function}Role"]
    for statement in _statements(role):
        expected = "Deny" if (function, statement["Sid"]) in DENIES else "Allow"
        assert statement["Effect"] == expected, statement["Sid"]
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{function}: wildcard action {action}"
        if (function, statement["Sid"]) in UNSCOPED:
            actions = sorted(_as_list(statement["Action"]))
            assert actions == sorted(UNSCOPED[function, statement["Sid"]])
            assert all(a.split(":")[1].startswith(("Get", "List", "Describe", "Generate", "Lookup"))
                       for a in actions)  # fmt: skip
            assert statement["Resource"] == "*"
            continue
        for resource in _as_list(statement["Resource"]):
            assert resource != "*", f"{function}: unscoped {statement['Sid']}"
            text = str(resource)
            if text.endswith("/*") or text.endswith(":*"):
                # Wildcards only inside a scoped ARN: a log group's streams, IAM users (groups,
                # roles) of this account, KMS keys used through SSM, trail log objects.
                assert statement["Sid"] in {
                    "Logs", "EnrichmentReadOnly", "DecryptSlackToken", "ReadTrailLogs",
                    "WriteExports", "RemediationReadOnly", "RemediateUsers", "RemediateGroups",
                    "RemediateRoles", "QuarantineUsers", "ProtectOwnRoles", "ReadUsers",
                    "ReadIdentityCenterUsers", "RemediateTrustAnchors", "ProtectBreakGlass",
                    "TrailStatus", "Rules",
                }, statement  # fmt: skip
        if statement["Sid"] in {"DecryptSlackToken", "EncryptExports", "PublishEncrypted"}:
            assert "kms:ViaService" in str(statement["Condition"])


def test_the_backfill_state_machine_role_is_least_privilege() -> None:
    """It lists only the trail's log prefixes, reads plans and writes results only under
    backfill/, invokes only the batch function and starts only its own map runs."""
    role = resources_of("AWS::IAM::Role")["BackfillStateMachineRole"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert "aws:SourceAccount" in str(trust["Condition"])
    statements = {s["Sid"]: s for s in _statements(role)}
    assert set(statements) == {
        "StartMapRuns", "ManageMapRuns", "InvokeBatches", "ListTrailLogs", "ReadRunPlans",
        "WriteRunResults",
    }  # fmt: skip
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert "*" not in action
        assert statement["Resource"] != "*"
    name = packaged_template()["Resources"]["BackfillStateMachine"]["Properties"][
        "StateMachineName"
    ]
    assert name == "iamwatch-prod-backfill"
    assert statements["StartMapRuns"]["Resource"]["Fn::Sub"].endswith(f":stateMachine:{name}")
    assert statements["ManageMapRuns"]["Resource"]["Fn::Sub"].endswith(f":execution:{name}/*")
    assert statements["InvokeBatches"]["Resource"] == {
        "Fn::GetAtt": ["BackfillBatchLambdaFunction", "Arn"]
    }
    assert statements["ListTrailLogs"]["Condition"] == {"StringLike": {"s3:prefix": ["AWSLogs/*"]}}
    for sid in ("ReadRunPlans", "WriteRunResults"):
        assert statements[sid]["Resource"] == {"Fn::Sub": "${BackfillResultsBucket.Arn}/backfill/*"}


@pytest.mark.parametrize("function", ["Detect", "Backfill", "BackfillBatch"])
def test_enrichment_grants_exactly_the_calls_it_makes(function: str) -> None:
    role = resources_of("AWS::IAM::Role")[f"{function}Role"]
    (statement,) = [s for s in _statements(role) if s["Sid"] == "EnrichmentReadOnly"]
    # The union of what the detectors declare, each a call the enricher makes.
    assert sorted(statement["Action"]) == enrichment_actions(REGISTRY)
    assert set(statement["Action"]) <= set(ENRICHMENT_ACTIONS)
    assert all(action.split(":")[1].startswith(("Get", "List")) for action in statement["Action"])


def _readers(parameter: str) -> set[str]:
    """Roles that may read this SSM parameter."""
    return {
        name
        for name, role in resources_of("AWS::IAM::Role").items()
        for statement in _statements(role)
        if "ssm:GetParameter" in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
        if resource["Fn::Sub"].endswith(f":parameter{parameter}")
    }


# The functions that post to Slack: alerts, button replies, remediation outcomes, and the
# alarm relay (issue 12: alarms reach a Slack channel of their own).
# The inventory posts its weekly digest to Slack.
SLACK_ROLES = {
    "NotifyRole", "InteractionsRole", "RemediateRole", "AlarmsRole", "DoctorRole", "InventoryRole",
}  # fmt: skip


def test_only_the_slack_functions_can_read_the_slack_secrets() -> None:
    assert _readers("/iamwatch/slack-token") == SLACK_ROLES
    assert _readers("/iamwatch/slack-signing-secret") == {"InteractionsRole"}
    readers = {name for name, role in resources_of("AWS::IAM::Role").items() if "ssm:" in str(role)}
    assert readers == SLACK_ROLES


def _iam_writes(role: dict[str, Any]) -> set[str]:
    return {
        action
        for statement in _statements(role)
        if statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"])
        # Generate* starts a report job (credential report, last accessed): it changes nothing.
        if action.startswith("iam:")
        and not action.split(":")[1].startswith(("Get", "List", "Generate"))
    }


def test_only_remediate_can_change_iam_and_the_endpoint_cannot_even_read_it() -> None:
    roles = resources_of("AWS::IAM::Role")
    writers = {name for name, role in roles.items() if _iam_writes(role)}
    assert writers == {"RemediateRole"}
    assert "iam:" not in str(roles["InteractionsRole"])


def test_quarantine_can_attach_only_the_deny_all_policy() -> None:
    role = resources_of("AWS::IAM::Role")["RemediateRole"]
    attaching = [
        s
        for s in _statements(role)
        if s["Effect"] == "Allow" and any(a.startswith("iam:Attach") for a in _as_list(s["Action"]))
    ]
    (statement,) = attaching
    assert statement["Action"] == ["iam:AttachUserPolicy"]
    assert statement["Condition"] == {
        "ArnEquals": {
            "iam:PolicyARN": {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"}
        }
    }


def test_remediate_cannot_change_iamwatchs_own_roles() -> None:
    roles = resources_of("AWS::IAM::Role")
    remediate = roles["RemediateRole"]
    role_writes = {a for a in _iam_writes(remediate) if a.endswith("RolePolicy")}
    (deny,) = [s for s in _statements(remediate) if s["Sid"] == "ProtectOwnRoles"]
    assert set(deny["Action"]) == role_writes
    assert deny["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/iamwatch-prod-*"
    }
    # CloudFormation names a role <stack>-<logical id>-<suffix> when it is not given a name,
    # and the stack is iamwatch-<stage>: every role of the stack matches the deny.
    assert all("RoleName" not in role["Properties"] for role in roles.values())
    assert "stackName" not in (ROOT / "serverless.yml").read_text()


def test_remediate_may_never_change_a_break_glass_principal() -> None:
    """Defect 6: an explicit Deny on users and roles tagged iamwatch:break-glass covers every
    write the role may make to a user or role, whatever the code decides."""
    remediate = resources_of("AWS::IAM::Role")["RemediateRole"]
    (deny,) = [s for s in _statements(remediate) if s["Sid"] == "ProtectBreakGlass"]
    assert deny["Effect"] == "Deny"
    on_principals = {
        action
        for statement in _statements(remediate)
        if statement["Effect"] == "Allow"
        and any(
            str(resource.get("Fn::Sub", "")).endswith((":user/*", ":role/*"))
            for resource in _as_list(statement["Resource"])
            if isinstance(resource, dict)
        )
        for action in _as_list(statement["Action"])
        if action in _iam_writes(remediate)
    }
    assert on_principals and on_principals <= set(deny["Action"])
    assert {str(r) for r in _as_list(deny["Resource"])} == {
        str({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}),
        str({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}),
    }
    tag = "aws:ResourceTag/iamwatch:break-glass"
    assert deny["Condition"]["Null"] == {tag: "false"}
    assert set(deny["Condition"]["StringNotEqualsIgnoreCase"][tag]) == {"false", "no", "0", "off"}


def test_the_slack_endpoint_is_one_throttled_logged_route() -> None:
    (route,) = resources_of("AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["RouteKey"] == "POST /slack/interactions"
    (integration,) = resources_of("AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == {
        "Fn::GetAtt": ["InteractionsLambdaFunction", "Arn"]
    }
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    (stage,) = resources_of("AWS::ApiGatewayV2::Stage").values()
    throttling = stage["Properties"]["DefaultRouteSettings"]
    assert 0 < throttling["ThrottlingRateLimit"] <= throttling["ThrottlingBurstLimit"] <= 200
    # The function behind it is capped too, whatever reaches it.
    function = resources_of("AWS::Lambda::Function")["InteractionsLambdaFunction"]
    assert function["Properties"]["ReservedConcurrentExecutions"] <= 10
    access = stage["Properties"]["AccessLogSettings"]["Format"]
    # Access logs name the request, never its headers (the signature) or body.
    assert "$context.requestId" in access and "header" not in access.lower()
    assert "body" not in access.lower()
    url = packaged_template()["Outputs"]["SlackInteractionsUrl"]["Value"]["Fn::Sub"]
    assert url.endswith("/slack/interactions")


def test_lambda_environment_holds_no_secret_values() -> None:
    for name, function in resources_of("AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert "IAMWATCH_SLACK_TOKEN" not in variables, name
        for key, value in variables.items():
            assert not re.search(r"xox[abp]-|hooks\.slack\.com", str(value)), (name, key)


def test_tables_match_the_code_and_expire() -> None:
    tables = resources_of("AWS::DynamoDB::Table")
    logical = {"IdempotencyTable": "idempotency", "StateTable": "state", "AuditTable": "audit"}
    assert set(tables) == set(logical)
    for name, table in tables.items():
        partition, sort, ttl = TABLES[logical[name]]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["Properties"]["KeySchema"]}
        assert keys == ({"HASH": partition} | ({"RANGE": sort} if sort else {}))
        assert table["Properties"]["TimeToLiveSpecification"] == {
            "AttributeName": ttl, "Enabled": True,
        }  # fmt: skip
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
        declared = {
            index["IndexName"]: (
                {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]},
                index["Projection"],
            )
            for index in table["Properties"].get("GlobalSecondaryIndexes", [])
        }
        assert declared == {
            index_name: (
                {"HASH": index_partition} | ({"RANGE": index_sort} if index_sort else {}),
                {"ProjectionType": "ALL"},
            )
            for index_name, index_partition, index_sort in INDEXES.get(logical[name], ())
        }, name
    assert tables["AuditTable"]["DeletionPolicy"] == "Retain"


def test_queues_are_encrypted_and_dead_letter() -> None:
    queues = resources_of("AWS::SQS::Queue")
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name
    for source, dead_letter in (
        ("AlertQueue", "AlertDeadLetterQueue"),
        ("BackfillQueue", "BackfillDeadLetterQueue"),
        ("RemediationQueue", "RemediationDeadLetterQueue"),
    ):
        redrive = queues[source]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_letter, "Arn"]}
    policies = str(resources_of("AWS::SQS::QueuePolicy"))
    assert policies.count("aws:SecureTransport") == 3


def test_alarms_watch_dead_letters_and_errors() -> None:
    alarms = resources_of("AWS::CloudWatch::Alarm")
    watched = {str(a["Properties"]["Dimensions"][0]["Value"]) for a in alarms.values()}
    for thing in (
        "AlertDeadLetterQueue",
        "FailedEventsQueue",
        "BackfillDeadLetterQueue",
        "DetectLambdaFunction",
        "NotifyLambdaFunction",
        "BackfillLambdaFunction",
        "BackfillBatchLambdaFunction",
        "BackfillStateMachine",
        "ExportLambdaFunction",
        "RemediationDeadLetterQueue",
        "InteractionsLambdaFunction",
        "RemediateLambdaFunction",
        "InventoryLambdaFunction",
        "AlarmsLambdaFunction",
        "DoctorLambdaFunction",
    ):
        assert any(thing in w for w in watched), thing


def test_a_doctor_that_does_not_run_raises_an_alarm() -> None:
    (missed,) = [
        alarm["Properties"]
        for alarm in resources_of("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "Invocations"
        and alarm["Properties"]["Dimensions"][0]["Value"] == {"Ref": "DoctorLambdaFunction"}
    ]
    assert missed["TreatMissingData"] == "breaching"
    assert missed["ComparisonOperator"] == "LessThanThreshold"


def test_the_doctor_runs_hourly_and_only_reads_what_it_checks() -> None:
    (rule,) = [
        r for r in resources_of("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["DoctorLambdaFunction", "Arn"]}
    ]  # fmt: skip
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    role = resources_of("AWS::IAM::Role")["DoctorRole"]
    writes = {
        action
        for statement in _statements(role)
        for action in _as_list(statement["Action"])
        if not action.split(":")[1].startswith(("Get", "List", "Describe", "Create", "Put"))
    }
    # Publishing its alarm and decrypting for it are the only things it does besides reading.
    assert writes == {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}
    doctor = resources_of("AWS::Lambda::Function")["DoctorLambdaFunction"]
    variables = doctor["Properties"]["Environment"]["Variables"]
    assert variables["IAMWATCH_SIGNIN_REGIONS"] == "us-east-2,eu-north-1,ap-southeast-2"


def test_cloudwatch_alarms_can_publish_to_the_alarm_topic() -> None:
    """CloudWatch cannot use the AWS managed key aws/sns: the topic's key lets it."""
    (topic,) = resources_of("AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmKey"}
    key = resources_of("AWS::KMS::Key")["AlarmKey"]["Properties"]
    (statement,) = [
        s for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]  # fmt: skip
    assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    (policy,) = resources_of("AWS::SNS::TopicPolicy").values()
    assert "cloudwatch.amazonaws.com" in str(policy["Properties"]["PolicyDocument"])


def test_a_day_without_an_export_run_raises_an_alarm() -> None:
    (missed,) = [
        alarm["Properties"]
        for alarm in resources_of("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "Invocations"
        and alarm["Properties"]["Dimensions"][0]["Value"] == {"Ref": "ExportLambdaFunction"}
    ]
    assert missed["Dimensions"][0]["Value"] == {"Ref": "ExportLambdaFunction"}
    assert (missed["Period"], missed["Threshold"]) == (86400, 1)
    assert missed["ComparisonOperator"] == "LessThanThreshold"
    # No data at all (the schedule deleted) is the case this alarm exists for.
    assert missed["TreatMissingData"] == "breaching"


def test_export_runs_daily_after_the_delivery_horizon() -> None:
    (rule,) = [
        r for r in resources_of("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ExportLambdaFunction", "Arn"]}
    ]  # fmt: skip
    match = re.fullmatch(
        r"cron\((\d+) (\d+) \* \* \? \*\)", rule["Properties"]["ScheduleExpression"]
    )
    assert match, rule["Properties"]["ScheduleExpression"]
    fires = timedelta(hours=int(match[2]), minutes=int(match[1]))
    # After the horizon, so late deliveries are in; well before the day is old.
    assert DELIVERY_HORIZON < fires <= timedelta(hours=1)


def test_export_bucket_is_kms_encrypted_private_versioned_and_tls_only() -> None:
    bucket = resources_of("AWS::S3::Bucket")["ExportBucket"]
    key = resources_of("AWS::KMS::Key")["ExportKey"]
    assert bucket["DeletionPolicy"] == key["DeletionPolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    properties = bucket["Properties"]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["ExportKey", "Arn"]},
    }  # fmt: skip
    assert rule["BucketKeyEnabled"] is True
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    policy = resources_of("AWS::S3::BucketPolicy")["ExportBucketPolicy"]["Properties"]
    denied = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"}
    assert denied["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert "s3:x-amz-server-side-encryption" in str(denied["DenyUploadsNotEncryptedWithKms"])
    assert "ExportKey" in str(denied["DenyUploadsWithAnotherKey"]["Condition"])


def test_export_role_writes_only_under_the_export_prefix() -> None:
    role = resources_of("AWS::IAM::Role")["ExportRole"]
    statements = {s["Sid"]: s for s in _statements(role)}
    assert statements["WriteExports"]["Action"] == ["s3:PutObject"]
    assert statements["WriteExports"]["Resource"] == {
        "Fn::Sub": f"${{ExportBucket.Arn}}/{PREFIX}/*"
    }
    assert statements["EncryptExports"]["Action"] == ["kms:GenerateDataKey"]
    assert statements["EncryptExports"]["Resource"] == {"Fn::GetAtt": ["ExportKey", "Arn"]}
    assert statements["AuditRead"]["Action"] == ["dynamodb:Query"]


def test_inventory_runs_on_a_schedule_and_reads_iam_only() -> None:
    (rule,) = [
        r for r in resources_of("AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"]
        == {"Fn::GetAtt": ["InventoryLambdaFunction", "Arn"]}
    ]  # fmt: skip
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 6 ? * MON *)"
    role = resources_of("AWS::IAM::Role")["InventoryRole"]
    assert not _iam_writes(role)
    function = resources_of("AWS::Lambda::Function")["InventoryLambdaFunction"]
    assert function["Properties"]["Environment"]["Variables"]["IAMWATCH_ENRICHMENT"] == "false"


def test_logs_are_retained_for_a_bounded_time() -> None:
    for group in resources_of("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 90


def test_template_needs_no_aws_account_at_package_time() -> None:
    lines = (ROOT / "serverless.yml").read_text().splitlines()
    source = "\n".join(line.split(" #")[0] for line in lines if not line.lstrip().startswith("#"))
    for forbidden in ("${aws:", "${ssm:", "${cf:", "${s3:"):
        assert forbidden not in source
    assert "AWSTemplateFormatVersion" in packaged_template()


FORWARDER = (
    ROOT / "deploy" / "forwarder" / ".serverless" / "cloudformation-template-update-stack.json"
)


def test_regional_forwarder_sends_the_same_events_to_the_central_bus() -> None:
    assert FORWARDER.is_file(), "run `make package`"
    resources = orjson.loads(FORWARDER.read_bytes())["Resources"]
    rules = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    # The main rule's pattern and identity-source's (sign-ins, Identity Center, STS and Roles
    # Anywhere land outside us-east-1); iamwatch's own resources are all in us-east-1.
    patterns = rule_patterns(REGISTRY)
    assert sorted(orjson.dumps(r["Properties"]["EventPattern"]) for r in rules) == sorted(
        orjson.dumps(patterns[path])
        for path in (Path("deploy") / "event-pattern.json", own_rule_file("identity-source"))
    )
    assert detection_pattern(REGISTRY) in [r["Properties"]["EventPattern"] for r in rules]
    for rule in rules:
        assert ":us-east-1:" in str(rule["Properties"]["Targets"][0]["Arn"])
    # A known name, so the doctor can check it in each region.
    names = {rule["Properties"].get("Name") for rule in rules}
    assert "iamwatch-forwarder-prod" in names
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 1
    (statement,) = _statements(roles[0])
    assert statement["Action"] == ["events:PutEvents"]
    assert "event-bus/default" in str(statement["Resource"])
    assert not any(r["Type"] == "AWS::Lambda::Function" for r in resources.values())


ALLOWLIST = ROOT / "deploy" / "iam-allowlist.json"


def _granted(template: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    granted: dict[str, dict[str, Any]] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        statements: dict[str, Any] = {}
        for statement in _statements(resource):
            entry = {
                "actions": sorted(_as_list(statement["Action"])),
                "resource": statement["Resource"],
            }
            if statement["Effect"] != "Allow":
                entry["effect"] = statement["Effect"]
            if "Condition" in statement:
                entry["condition"] = statement["Condition"]
            statements[statement["Sid"]] = entry
        granted[f"{label}/{name}"] = statements
    return granted


def test_every_role_grants_exactly_the_reviewed_allow_list() -> None:
    allowed = orjson.loads(ALLOWLIST.read_bytes())
    allowed.pop("_comment")
    granted = _granted(packaged_template(), "service") | _granted(
        orjson.loads(FORWARDER.read_bytes()), "forwarder"
    )
    assert granted == allowed, "a role changed: review it, then update deploy/iam-allowlist.json"


def test_roles_may_trust_the_deployments_account_and_the_organization() -> None:
    """role-trust-opened trusts each event's own account; deployed, also the account iamwatch
    runs in, the accounts of the trustedAccounts parameter and the organization."""
    for name, function in resources_of("AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["IAMWATCH_TRUSTED_ACCOUNTS"] == {"Fn::Sub": "${AWS::AccountId},"}, name
        assert variables["IAMWATCH_TRUSTED_ORGANIZATIONS"] == "", name


def test_the_backfill_state_machine_is_deployed_with_its_reviewed_definition() -> None:
    machine = resources_of("AWS::StepFunctions::StateMachine")["BackfillStateMachine"]
    properties = machine["Properties"]
    definition = orjson.loads((ROOT / "deploy" / "backfill-state-machine.json").read_bytes())
    assert properties["Definition"] == definition
    assert properties["StateMachineType"] == "STANDARD"
    placeholders = set(re.findall(r"\$\{(\w+)\}", orjson.dumps(definition).decode()))
    assert placeholders == set(properties["DefinitionSubstitutions"])
    assert placeholders == {"BatchFunctionArn", "ResultsBucket"}
    assert properties["DefinitionSubstitutions"]["ResultsBucket"] == {
        "Ref": "BackfillResultsBucket"
    }
    assert properties["DefinitionSubstitutions"]["BatchFunctionArn"] == {
        "Fn::GetAtt": ["BackfillBatchLambdaFunction", "Arn"]
    }
    assert properties["RoleArn"] == {"Fn::GetAtt": ["BackfillStateMachineRole", "Arn"]}
    outputs = packaged_template()["Outputs"]
    assert outputs["BackfillStateMachineArn"]["Value"] == {"Ref": "BackfillStateMachine"}
    assert outputs["BackfillResultsBucketName"]["Value"] == {"Ref": "BackfillResultsBucket"}
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}
    bucket = resources_of("AWS::S3::Bucket")["BackfillResultsBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    function = resources_of("AWS::Lambda::Function")["BackfillBatchLambdaFunction"]["Properties"]
    # Within the Express child's 5 minutes; bounded concurrency whatever the run asks for.
    assert function["Timeout"] < 300 and function["ReservedConcurrentExecutions"] <= 50
