"""What remediation refuses to touch when it applies a plan, in moto's IAM (issue 12, defect 6):
principals tagged ``iamwatch:break-glass`` or listed in IAMWATCH_PROTECTED_PRINCIPALS by their
real ARN (with its IAM path, which the plan cannot know), and grants that were already in place
before the event that raised the finding (a re-attach of an attached policy grants nothing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from iamwatch.audit import AuditKind, SQLiteAuditLog, finding_raised
from iamwatch.finding import Finding
from iamwatch.protected import BREAK_GLASS_TAG, ProtectedPrincipals
from iamwatch.remediation import (
    ActionName,
    RemediationStep,
    Remediator,
    plan_remediation,
)
from iamwatch.remediation.history import CloudTrailGrantHistory
from tests.conftest import EVENTS_DIR, load_case, run_records

ACCOUNT = "123456789012"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def finding_of(fixture: str, **changes: Any) -> Finding:
    finding = run_records(load_case(EVENTS_DIR / f"{fixture}.json").records)[-1]
    return finding.model_copy(update={"account": ACCOUNT, **changes})


def password_finding(user: str) -> Finding:
    return finding_of(
        "console-password-created/positive_iam_user_creates_login_profile_with_cli", target=user
    )


def user_with_password(iam: Any, name: str, path: str = "/", tags: dict[str, str] | None = None):
    iam.create_user(
        UserName=name, Path=path, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    )
    iam.create_login_profile(UserName=name, Password="Correct-Horse-Battery-9!")


def attached(iam: Any, user: str) -> list[str]:
    return [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    ]


def has_password(iam: Any, user: str) -> bool:
    try:
        iam.get_login_profile(UserName=user)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


class NoHistory:
    """CloudTrail's event history as a port: nothing was granted before."""

    def standing_grant(self, step: RemediationStep, finding: Finding) -> str | None:
        return None


@pytest.fixture
def audit() -> SQLiteAuditLog:
    return SQLiteAuditLog()


def remediator(iam: Any, audit: SQLiteAuditLog, **options: Any) -> Remediator:
    options.setdefault("history", NoHistory())
    return Remediator(iam, audit, account=ACCOUNT, **options)


@pytest.mark.parametrize("value", ["true", "yes", "oncall-2026"])
def test_a_user_tagged_break_glass_is_never_changed(
    iam: Any, audit: SQLiteAuditLog, value: str
) -> None:
    user_with_password(iam, "emergency-admin", tags={BREAK_GLASS_TAG: value})
    finding = password_finding("emergency-admin")
    audit.append(finding_raised(finding))
    plan = plan_remediation(finding)  # the plan cannot know the tag: IAM does
    assert [s.action for s in plan.steps] == [
        ActionName.DELETE_LOGIN_PROFILE,
        ActionName.QUARANTINE_USER,
    ]

    done = remediator(iam, audit).apply(plan, finding, by="oncall", via="cli")

    assert [(d.changed, d.refused is not None) for d in done] == [(False, True), (False, True)]
    assert all(BREAK_GLASS_TAG in (d.refused or "") for d in done)
    assert has_password(iam, "emergency-admin") and attached(iam, "emergency-admin") == []
    refusals = [
        r for r in audit.for_finding(finding.finding_id) if r.kind is AuditKind.REMEDIATION_FAILED
    ]
    assert len(refusals) == 2 and all(r.data["refused"] for r in refusals)
    assert not [
        r for r in audit.for_finding(finding.finding_id) if r.kind is AuditKind.REMEDIATION_APPLIED
    ]


def test_a_break_glass_tag_turned_off_protects_nothing(iam: Any, audit: SQLiteAuditLog) -> None:
    user_with_password(iam, "former-admin", tags={BREAK_GLASS_TAG: "false"})
    finding = password_finding("former-admin")
    done = remediator(iam, audit).apply(plan_remediation(finding), finding, by="oncall", via="cli")
    assert [d.changed for d in done] == [True, True]
    assert not has_password(iam, "former-admin")


def test_an_arn_pattern_with_the_iam_path_is_matched_when_applying(
    iam: Any, audit: SQLiteAuditLog
) -> None:
    """The finding names the user without its path; IAM knows the real ARN."""
    user_with_password(iam, "jo", path="/emergency/")
    finding = password_finding("jo")
    protected = ProtectedPrincipals((f"arn:aws:iam::{ACCOUNT}:user/emergency/*",))
    plan = plan_remediation(finding, protected=protected)
    assert plan.steps, "the plan does not know the path"
    done = remediator(iam, audit, protected=protected).apply(plan, finding, by="oncall", via="cli")
    assert all(d.refused and "emergency/*" in d.refused for d in done)
    assert has_password(iam, "jo")


def test_only_the_protected_step_is_refused_and_the_rest_applied(
    iam: Any, audit: SQLiteAuditLog
) -> None:
    """A group gets admin from a break-glass user: the grant is removed, the caller is not
    quarantined."""
    iam.create_group(GroupName="incident-responders")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_group_policy(
        GroupName="incident-responders",
        PolicyName="full-power",
        PolicyDocument=json.dumps(document),
    )
    iam.create_user(UserName="ops-yusuf", Tags=[{"Key": BREAK_GLASS_TAG, "Value": "true"}])
    finding = finding_of(
        "admin-policy-attached/positive_put_group_policy_single_statement_object",
        actor=f"arn:aws:iam::{ACCOUNT}:user/ops-yusuf",
    )
    done = remediator(iam, audit).apply(plan_remediation(finding), finding, by="oncall", via="cli")
    assert [(d.step.action, d.changed, bool(d.refused)) for d in done] == [
        (ActionName.DETACH_POLICY, True, False),
        (ActionName.QUARANTINE_USER, False, True),
    ]
    assert attached(iam, "ops-yusuf") == []


class StandingGrant:
    def standing_grant(self, step: RemediationStep, finding: Finding) -> str | None:
        return "AttachRolePolicy by admin at 2026-10-01T09:00:00Z already granted it"


def test_a_grant_that_existed_before_the_event_is_not_removed(
    iam: Any, audit: SQLiteAuditLog
) -> None:
    iam.create_role(RoleName="data-science-notebook", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="data-science-notebook", PolicyArn=ADMIN)
    finding = finding_of(
        "admin-policy-attached/positive_attach_role_policy_administrator_access_in_dev"
    )
    (done,) = remediator(iam, audit, history=StandingGrant()).apply(
        plan_remediation(finding), finding, by="oncall", via="cli"
    )
    assert done.refused is not None and "already granted" in done.refused
    policies = iam.list_attached_role_policies(RoleName="data-science-notebook")
    assert [p["PolicyArn"] for p in policies["AttachedPolicies"]] == [ADMIN]


# CloudTrail's event history (LookupEvents), which moto does not serve: a real boto3 client
# answered by botocore's Stubber with responses shaped like AWS's -----------------------------

EVENT_TIME = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def trail_event(name: str, when: datetime, event_id: str, **request: str) -> dict[str, Any]:
    record = {
        "eventName": name,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventID": event_id,
        "eventSource": "iam.amazonaws.com",
        "userIdentity": {"arn": f"arn:aws:iam::{ACCOUNT}:user/admin"},
        "requestParameters": request,
    }
    return {
        "EventId": event_id,
        "EventName": name,
        "EventTime": when,
        "CloudTrailEvent": json.dumps(record),
    }


def detach_step() -> tuple[RemediationStep, Finding]:
    finding = finding_of(
        "admin-policy-attached/positive_attach_role_policy_administrator_access_in_dev",
        event_time=EVENT_TIME,
    )
    (step,) = plan_remediation(finding).steps
    return step, finding


def history_with(
    grants: list[dict[str, Any]], revokes: list[dict[str, Any]]
) -> CloudTrailGrantHistory:
    import boto3

    client = boto3.client(
        "cloudtrail", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    for name, events in (("AttachRolePolicy", grants), ("DetachRolePolicy", revokes)):
        stubber.add_response(
            "lookup_events",
            {"Events": events},
            {
                "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
                "StartTime": EVENT_TIME - timedelta(days=90),
                "EndTime": EVENT_TIME,
            },
        )
    stubber.activate()
    return CloudTrailGrantHistory(client)


def test_history_finds_an_earlier_attach_still_standing() -> None:
    step, finding = detach_step()
    earlier = trail_event(
        "AttachRolePolicy", EVENT_TIME - timedelta(days=30), "e-1",
        roleName="data-science-notebook", policyArn=ADMIN,
    )  # fmt: skip
    reason = history_with([earlier], []).standing_grant(step, finding)
    assert reason is not None and "AttachRolePolicy" in reason and "e-1" in reason


def test_history_sees_a_grant_revoked_before_the_event_as_new() -> None:
    step, finding = detach_step()
    grant = trail_event(
        "AttachRolePolicy", EVENT_TIME - timedelta(days=30), "e-1",
        roleName="data-science-notebook", policyArn=ADMIN,
    )  # fmt: skip
    revoke = trail_event(
        "DetachRolePolicy", EVENT_TIME - timedelta(days=2), "e-2",
        roleName="data-science-notebook", policyArn=ADMIN,
    )  # fmt: skip
    assert history_with([grant], [revoke]).standing_grant(step, finding) is None


def test_history_ignores_other_principals_other_policies_failures_and_the_event_itself() -> None:
    step, finding = detach_step()
    noise = [
        trail_event("AttachRolePolicy", EVENT_TIME - timedelta(days=3), "n-1",
                    roleName="other-role", policyArn=ADMIN),
        trail_event("AttachRolePolicy", EVENT_TIME - timedelta(days=4), "n-2",
                    roleName="data-science-notebook", policyArn=READ_ONLY),
        trail_event("AttachRolePolicy", EVENT_TIME, finding.event_id,
                    roleName="data-science-notebook", policyArn=ADMIN),
    ]  # fmt: skip
    failed = trail_event(
        "AttachRolePolicy", EVENT_TIME - timedelta(days=5), "n-3",
        roleName="data-science-notebook", policyArn=ADMIN,
    )  # fmt: skip
    record = json.loads(failed["CloudTrailEvent"])
    record["errorCode"] = "AccessDenied"
    failed["CloudTrailEvent"] = json.dumps(record)
    assert history_with([*noise, failed], []).standing_grant(step, finding) is None


def test_the_loopback_event_history_answers_like_cloudtrail() -> None:
    """The e2e tests' stand-in for CloudTrail's event history gives the same answers as the
    stubbed responses above, through a real client and the wire protocol."""
    import boto3

    from tests.cloudtrail_server import CloudTrailHistory

    step, finding = detach_step()
    with CloudTrailHistory() as history:
        client = boto3.client(
            "cloudtrail", endpoint_url=history.url, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip
        lookup = CloudTrailGrantHistory(client)
        assert lookup.standing_grant(step, finding) is None
        for day in range(60, 0, -1):  # two pages of other roles' attachments
            history.add(json.loads(trail_event(
                "AttachRolePolicy", EVENT_TIME - timedelta(days=day, hours=1), f"x-{day}",
                roleName=f"role-{day}", policyArn=ADMIN,
            )["CloudTrailEvent"]))  # fmt: skip
        assert lookup.standing_grant(step, finding) is None
        history.add(json.loads(trail_event(
            "AttachRolePolicy", EVENT_TIME - timedelta(days=70), "old-grant",
            roleName="data-science-notebook", policyArn=ADMIN,
        )["CloudTrailEvent"]))  # fmt: skip
        reason = lookup.standing_grant(step, finding)
        assert reason is not None and "old-grant" in reason
        assert any("NextToken" in request for request in history.requests)
