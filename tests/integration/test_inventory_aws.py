"""The inventory against moto: read live from moto's IAM (users, keys, login profiles, MFA
devices, groups, policies, tags) by the CLI, and the weekly function as Lambda runs it, with
DynamoDB, SQS and SSM on moto and Slack on loopback: the audit trail, the digest, posture
findings for new failures only, the snapshot, and the daily export of the day's inventory.

moto's credential report has no root row, and moto does not implement service last-accessed
data (GenerateServiceLastAccessedDetails): the report says so in a note and goes on; the
offline tests cover root, and what last-accessed data adds is evidence only."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from handlers import inventory as inventory_handler
from iamwatch.aws import container as aws_container
from iamwatch.aws.audit import DynamoDBAuditLog
from iamwatch.aws.export import DailyExporter, ExportDestination
from iamwatch.export import ExportFormat, collect, render
from iamwatch.export.asff import problems
from iamwatch.export.daily import inventory_key
from tests.aws import LambdaContext, deploy, use_slack
from tests.conftest import run_iamwatch
from tests.slack_server import SlackServer

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def populate(iam: Any) -> None:
    """A person with MFA in an admin group, a program with a key, a break-glass user."""
    iam.create_group(GroupName="Admins")
    policy = iam.create_policy(PolicyName="everything", PolicyDocument=ADMIN)["Policy"]["Arn"]
    iam.attach_group_policy(GroupName="Admins", PolicyArn=policy)
    iam.create_user(UserName="alice", Tags=[{"Key": "email", "Value": "alice@example.com"}])
    iam.create_login_profile(UserName="alice", Password="Example-Passw0rd!")
    iam.add_user_to_group(GroupName="Admins", UserName="alice")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=device["SerialNumber"],
                          AuthenticationCode1="123456", AuthenticationCode2="654321")  # fmt: skip
    iam.create_user(UserName="deployer")
    iam.attach_user_policy(UserName="deployer", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.create_access_key(UserName="deployer")
    iam.create_user(UserName="breakglass", Tags=[{"Key": "iamwatch:break-glass", "Value": "true"}])
    iam.create_login_profile(UserName="breakglass", Password="Example-Passw0rd!")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="bg")["VirtualMFADevice"]
    iam.enable_mfa_device(UserName="breakglass", SerialNumber=device["SerialNumber"],
                          AuthenticationCode1="123456", AuthenticationCode2="654321")  # fmt: skip


def test_the_cli_reads_the_account_live(iam: Any) -> None:
    populate(iam)
    result = run_iamwatch("inventory", "--format", "jsonl")
    assert result.returncode == 0, result.stderr.decode()
    rows = {row["user"]: row for row in map(orjson.loads, result.stdout.splitlines())}
    assert set(rows) == {"alice", "deployer", "breakglass"}
    alice, deployer, breakglass = rows["alice"], rows["deployer"], rows["breakglass"]
    assert (alice["kind"], alice["recommendation"]) == ("human", "identity-center")
    assert alice["evidence"]["admin"] and alice["evidence"]["groups"] == ["Admins"]
    assert alice["evidence"]["mfa"] and alice["checks"] == []
    assert (deployer["kind"], deployer["recommendation"]) == ("workload", "role")
    # Key ids come from ListAccessKeys: the commands name the real key.
    key_id = iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"][0]["AccessKeyId"]
    assert deployer["evidence"]["access_keys"][0]["id"] == key_id
    assert any(key_id in step for step in deployer["next_steps"])
    assert "user-has-attached-policies" in deployer["checks"]
    assert breakglass["recommendation"] == "keep"
    assert b"service last-accessed data not read" in result.stderr


@pytest.fixture
def deployed(
    moto_endpoint: str, iam: Any, monkeypatch: pytest.MonkeyPatch, slack: SlackServer
) -> Any:
    populate(iam)
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN)
    monkeypatch.setenv("IAMWATCH_ENRICHMENT", "false")
    aws_container.install(None)
    return deployed


def run_weekly() -> dict[str, Any]:
    aws_container.install(None)
    result: dict[str, Any] = inventory_handler.handler({"source": "aws.events"}, LambdaContext())
    return result


def test_the_weekly_function_audits_digests_and_raises_only_new_failures(
    deployed: Any, iam: Any, slack: SlackServer
) -> None:
    first = run_weekly()
    assert first["first"] is True and first["identities"] == 3
    assert first["posture_findings"] == 0 and first["digest"] == "posted"
    (digest,) = slack.top_level("#security-alerts")
    assert "First inventory" in json.dumps(digest.blocks)
    assert deployed.alerts() == []
    kinds = deployed.audit_kinds()
    assert kinds.count("inventory-row") == 3 and "inventory-taken" in kinds
    # A person is added to IAM with a console password and no MFA.
    iam.create_user(UserName="mallory")
    iam.create_login_profile(UserName="mallory", Password="Example-Passw0rd!")
    second = run_weekly()
    assert second["first"] is False and second["posture_findings"] == 1
    (alert,) = deployed.alerts()
    assert alert["detector"] == "inventory" and alert["event_name"] == "console-without-mfa"
    assert alert["target"] == "mallory" and alert["severity"] == "high"
    digest = slack.top_level("#security-alerts")[-1]
    assert "New people in IAM: mallory" in json.dumps(digest.blocks)
    # Nothing changed since: nothing new is raised.
    assert run_weekly()["posture_findings"] == 0
    # The day's export holds it in every format an auditor may ask for.
    audit = DynamoDBAuditLog(deployed.client("dynamodb"), deployed.env["IAMWATCH_AUDIT_TABLE"])
    now = datetime.now(UTC)
    rows = collect(audit, now - timedelta(hours=1), now + timedelta(hours=1))
    assert [row.finding.finding_id for row in rows] == [alert["finding_id"]]
    for export_format in ExportFormat:
        assert b"console-without-mfa" in render(rows, export_format)
    asff = orjson.loads(render(rows, ExportFormat.ASFF))  # one finding per line
    assert asff["Types"][0].endswith("/console-without-mfa") and problems(asff) == []


def test_the_daily_export_writes_the_days_inventory(deployed: Any) -> None:
    run_weekly()
    s3 = deployed.client("s3")
    bucket = f"iamwatch-exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    key = deployed.client("kms").create_key()["KeyMetadata"]["Arn"]
    audit = DynamoDBAuditLog(deployed.client("dynamodb"), deployed.env["IAMWATCH_AUDIT_TABLE"])
    today = datetime.now(UTC).date()
    later = datetime.now(UTC) + timedelta(days=2)
    exporter = DailyExporter(
        audit, s3, ExportDestination(bucket=bucket, kms_key_arn=key), clock=lambda: later
    )
    written = exporter.export(today)
    assert written.inventory == 3
    body = s3.get_object(Bucket=bucket, Key=inventory_key(today))["Body"].read()
    assert {orjson.loads(line)["user"] for line in body.splitlines()} == {
        "alice",
        "deployer",
        "breakglass",
    }


def test_a_slack_failure_fails_the_run_after_auditing_it(deployed: Any, slack: SlackServer) -> None:
    slack.fail_channel("#security-alerts", "not_in_channel", times=1)
    with pytest.raises(Exception, match="not_in_channel"):
        run_weekly()
    assert "inventory-digest" in deployed.audit_kinds()
    # The snapshot was not stored: the retry compares with the same (no) previous snapshot.
    assert run_weekly()["first"] is True
