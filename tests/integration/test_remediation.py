"""Remediation plans from real findings, applied to and undone in moto's IAM, every step audited."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from detectors import REGISTRY
from iamwatch.audit import AuditKind, SQLiteAuditLog, finding_raised
from iamwatch.finding import Finding
from iamwatch.principal import PrincipalKind
from iamwatch.remediation import (
    QUARANTINE_POLICY,
    REVOKE_SESSIONS_POLICY,
    ActionName,
    PlanError,
    RemediationError,
    Remediator,
    plan_remediation,
)
from iamwatch.runbooks import load_runbook
from tests.conftest import EVENTS_DIR, detector_cases, load_case, run_records

ACCOUNT = "123456789012"  # moto's account
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ADMIN_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def finding_of(fixture: str, **changes: Any) -> Finding:
    case = load_case(EVENTS_DIR / f"{fixture}.json")
    finding = run_records(case.records)[-1]
    return finding.model_copy(update=changes) if changes else finding


POSITIVE_FINDINGS = [
    finding for case in detector_cases() if case.expect for finding in run_records(case.records)
]


@pytest.mark.parametrize(
    "finding", POSITIVE_FINDINGS, ids=lambda f: f"{f.detector}:{f.event_id[:8]}"
)
def test_every_declared_action_is_planned_or_explained(finding: Finding) -> None:
    plan = plan_remediation(finding)
    declared = list(REGISTRY.get(finding.detector).meta.remediation_actions)
    accounted = [s.action.value for s in plan.steps] + [n.action.value for n in plan.not_applicable]
    assert sorted(accounted) == sorted(declared)
    for skipped in plan.not_applicable:
        assert skipped.reason
    for step in plan.steps:
        assert step.command.startswith(("aws iam ", "aws rolesanywhere "))
        assert step.principal_name in step.command
        assert step.undo
    assert plan.digest == plan_remediation(finding).digest
    assert plan.runbook_steps.startswith(load_runbook(finding.detector).section("Remediation")[:40])


def test_every_detector_with_actions_has_a_finding_that_plans_a_step() -> None:
    planned = {f.detector for f in POSITIVE_FINDINGS if plan_remediation(f).steps}
    with_actions = {d.meta.id for d in REGISTRY if d.meta.remediation_actions}
    assert with_actions <= planned


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "access-key-created/positive_iam_user_creates_key_for_another_user_is_high",
            [("deactivate-access-key", "payroll-batch"), ("quarantine-user", "payroll-batch")],
        ),
        (
            "admin-policy-attached/positive_attach_role_policy_administrator_access_in_dev",
            [("detach-policy", "data-science-notebook")],
        ),
        (
            # The target is a group, so the IAM user who granted admin is the one contained.
            "admin-policy-attached/positive_put_group_policy_single_statement_object",
            [("detach-policy", "incident-responders"), ("quarantine-user", "ops-yusuf")],
        ),
        (
            "user-added-to-group/positive_add_user_to_platform_admins_group_is_high",
            [("remove-from-group", "svc-deploy-bot")],
        ),
        (
            "console-password-created/positive_iam_user_creates_login_profile_with_cli",
            [("delete-login-profile", "qa-tester-03"), ("quarantine-user", "qa-tester-03")],
        ),
    ],
)
def test_plans_act_on_the_principal_the_finding_names(
    fixture: str, expected: list[tuple[str, str]]
) -> None:
    plan = plan_remediation(finding_of(fixture))
    assert [(s.action.value, s.principal_name) for s in plan.steps] == expected


def test_deleting_a_login_profile_is_declared_irreversible_up_front() -> None:
    plan = plan_remediation(
        finding_of("console-password-created/positive_iam_user_creates_login_profile_with_cli")
    )
    (irreversible,) = plan.irreversible
    assert irreversible.action is ActionName.DELETE_LOGIN_PROFILE
    text = "\n".join(plan.lines())
    assert "Cannot be undone: a deleted console password cannot be restored" in text


def test_the_caller_is_quarantined_when_the_target_is_not_a_user() -> None:
    finding = finding_of(
        "cloudtrail-tampering/positive_stop_logging",
        actor="arn:aws:iam::123456789012:user/intruder",
        actor_kind=PrincipalKind.IAM_USER,
    )
    (step,) = plan_remediation(finding).steps
    assert (step.action, step.principal_name) == (ActionName.QUARANTINE_USER, "intruder")


def test_a_role_caller_cannot_be_quarantined_and_the_plan_says_why() -> None:
    plan = plan_remediation(finding_of("cloudtrail-tampering/positive_stop_logging"))
    assert plan.steps == ()
    (skipped,) = plan.not_applicable
    assert "revoke its active sessions" in skipped.reason


@pytest.mark.parametrize(
    "hostile",
    ["alice; rm -rf /", "<!channel>", "$(curl evil.example)", "a" * 200, "bob\nrm", "ålice"],
)
def test_names_iam_would_refuse_never_reach_a_command(hostile: str) -> None:
    finding = finding_of(
        "console-password-created/positive_iam_user_creates_login_profile_with_cli",
        target=hostile,
    )
    plan = plan_remediation(finding)
    assert plan.steps == ()
    assert all("not a valid IAM user name" in s.reason for s in plan.not_applicable)


def test_hostile_key_ids_and_policy_arns_are_refused() -> None:
    key = finding_of(
        "access-key-created/positive_iam_user_creates_key_for_another_user_is_high",
        details={"accessKeyId": "AKIA' --status Active #"},
    )
    assert [s.action for s in plan_remediation(key).steps] == [ActionName.QUARANTINE_USER]
    policy = finding_of(
        "admin-policy-attached/positive_attach_role_policy_administrator_access_in_dev",
        details={"policyArn": "arn:aws:iam::aws:policy/x --role-name other"},
    )
    assert plan_remediation(policy).steps == ()


def test_only_the_runbooks_actions_can_be_chosen() -> None:
    finding = finding_of("user-added-to-group/positive_add_user_to_platform_admins_group_is_high")
    with pytest.raises(PlanError, match="quarantine-user: not an automated action"):
        plan_remediation(finding, ["quarantine-user"])
    chosen = finding_of("console-password-created/positive_iam_user_creates_login_profile_with_cli")
    plan = plan_remediation(chosen, ["quarantine-user"])
    assert [s.action for s in plan.steps] == [ActionName.QUARANTINE_USER]
    assert plan.digest != plan_remediation(chosen).digest


# --- Applied to moto's IAM and undone ------------------------------------------------------


class _NoHistory:
    """CloudTrail's event history (which moto does not serve): no earlier grant of anything;
    tests/integration/test_remediation_guards.py covers the history itself."""

    def standing_grant(self, step: object, finding: Finding) -> str | None:
        return None


NO_HISTORY: Any = _NoHistory()


@pytest.fixture
def audit() -> SQLiteAuditLog:
    return SQLiteAuditLog()


@dataclass(frozen=True)
class Scenario:
    """A finding, the IAM state its event left behind, and how to read the changed part."""

    name: str
    fixture: str
    actions: tuple[str, ...]
    arrange: Callable[[Any], dict[str, Any]]  # -> finding changes (e.g. the real key id)
    observe: Callable[[Any, Finding], object]
    remediated: object
    original: object


def _user_with_key(iam: Any) -> dict[str, Any]:
    iam.create_user(UserName="payroll-batch")
    key = iam.create_access_key(UserName="payroll-batch")["AccessKey"]["AccessKeyId"]
    return {"details": {"accessKeyId": key}}


def _key_status(iam: Any, finding: Finding) -> object:
    (key,) = iam.list_access_keys(UserName="payroll-batch")["AccessKeyMetadata"]
    return key["Status"]


def _role_with_admin(iam: Any) -> dict[str, Any]:
    iam.create_role(RoleName="data-science-notebook", AssumeRolePolicyDocument="{}")
    iam.attach_role_policy(RoleName="data-science-notebook", PolicyArn=ADMIN)
    return {"account": ACCOUNT}


def _role_policies(iam: Any, finding: Finding) -> object:
    attached = iam.list_attached_role_policies(RoleName="data-science-notebook")
    return [p["PolicyArn"] for p in attached["AttachedPolicies"]]


def _group_with_inline(iam: Any) -> dict[str, Any]:
    iam.create_group(GroupName="incident-responders")
    iam.put_group_policy(
        GroupName="incident-responders",
        PolicyName="full-power",
        PolicyDocument=json.dumps(ADMIN_DOCUMENT),
    )
    return {"account": ACCOUNT}


def _group_inline(iam: Any, finding: Finding) -> object:
    names = iam.list_group_policies(GroupName="incident-responders")["PolicyNames"]
    if "full-power" not in names:
        return None
    document = iam.get_group_policy(GroupName="incident-responders", PolicyName="full-power")
    return document["PolicyDocument"]


def _member(iam: Any) -> dict[str, Any]:
    iam.create_user(UserName="svc-deploy-bot")
    iam.create_group(GroupName="PlatformAdmins")
    iam.add_user_to_group(UserName="svc-deploy-bot", GroupName="PlatformAdmins")
    return {}


def _groups(iam: Any, finding: Finding) -> object:
    return [g["GroupName"] for g in iam.list_groups_for_user(UserName="svc-deploy-bot")["Groups"]]


def _user(iam: Any) -> dict[str, Any]:
    iam.create_user(UserName="qa-tester-03")
    iam.create_login_profile(UserName="qa-tester-03", Password="Correct-Horse-9!")
    return {"account": ACCOUNT}


def _user_policies(iam: Any, finding: Finding) -> object:
    attached = iam.list_attached_user_policies(UserName="qa-tester-03")["AttachedPolicies"]
    return [p["PolicyArn"] for p in attached]


OPENED_TRUST = "role-trust-opened/positive_trust_opened_to_a_foreign_user_keeps_the_previous_policy"
FEDERATION = "federation-token-issued/positive_iam_user_key_gets_admin_federation_token_is_high"


def _fixture_record(fixture: str, index: int) -> dict[str, Any]:
    record: dict[str, Any] = load_case(EVENTS_DIR / f"{fixture}.json").records[index]
    return record


def _opened_role(iam: Any) -> dict[str, Any]:
    opened = _fixture_record(OPENED_TRUST, 1)["requestParameters"]["policyDocument"]
    iam.create_role(RoleName="reports-reader", AssumeRolePolicyDocument=opened)
    return {"account": ACCOUNT}


def _trust(iam: Any, finding: Finding) -> object:
    document = iam.get_role(RoleName="reports-reader")["Role"]["AssumeRolePolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def _federating_user(iam: Any) -> dict[str, Any]:
    iam.create_user(UserName="svc-backup-agent")
    return {"account": ACCOUNT}


def _inline_names(iam: Any, finding: Finding) -> object:
    return iam.list_user_policies(UserName="svc-backup-agent")["PolicyNames"]


SCENARIOS = [
    Scenario(
        "deactivate-access-key",
        "access-key-created/positive_iam_user_creates_key_for_another_user_is_high",
        ("deactivate-access-key",),
        _user_with_key,
        _key_status,
        remediated="Inactive",
        original="Active",
    ),
    Scenario(
        "detach-managed-policy-from-role",
        "admin-policy-attached/positive_attach_role_policy_administrator_access_in_dev",
        ("detach-policy",),
        _role_with_admin,
        _role_policies,
        remediated=[],
        original=[ADMIN],
    ),
    Scenario(
        "delete-inline-group-policy",
        "admin-policy-attached/positive_put_group_policy_single_statement_object",
        ("detach-policy",),
        _group_with_inline,
        _group_inline,
        remediated=None,
        original=ADMIN_DOCUMENT,
    ),
    Scenario(
        "remove-from-group",
        "user-added-to-group/positive_add_user_to_platform_admins_group_is_high",
        ("remove-from-group",),
        _member,
        _groups,
        remediated=[],
        original=["PlatformAdmins"],
    ),
    Scenario(
        "quarantine-user",
        "console-password-created/positive_iam_user_creates_login_profile_with_cli",
        ("quarantine-user",),
        _user,
        _user_policies,
        remediated=[QUARANTINE_POLICY],
        original=[],
    ),
    Scenario(
        "restore-trust-policy",
        OPENED_TRUST,
        ("restore-trust-policy",),
        _opened_role,
        _trust,
        remediated=json.loads(
            _fixture_record(OPENED_TRUST, 0)["requestParameters"]["assumeRolePolicyDocument"]
        ),
        original=json.loads(
            _fixture_record(OPENED_TRUST, 1)["requestParameters"]["policyDocument"]
        ),
    ),
    Scenario(
        "revoke-older-sessions",
        FEDERATION,
        ("revoke-older-sessions",),
        _federating_user,
        _inline_names,
        remediated=[REVOKE_SESSIONS_POLICY],
        original=[],
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_applied_changes_iam_is_audited_and_undone(
    scenario: Scenario, iam: Any, audit: SQLiteAuditLog
) -> None:
    finding = finding_of(scenario.fixture, **scenario.arrange(iam))
    audit.append(finding_raised(finding))
    assert scenario.observe(iam, finding) == scenario.original
    plan = plan_remediation(finding, scenario.actions)
    remediator = Remediator(iam, audit, account=ACCOUNT, history=NO_HISTORY)

    (applied,) = remediator.apply(
        plan, finding, by="arn:aws:iam::123456789012:user/oncall", via="cli"
    )
    assert applied.changed
    assert scenario.observe(iam, finding) == scenario.remediated
    record = audit.get(applied.action_id)
    assert record is not None
    assert record.kind is AuditKind.REMEDIATION_APPLIED
    assert record.finding_id == finding.finding_id
    assert record.data["before"] == applied.before != applied.after == record.data["after"]
    assert record.data["by"] == "arn:aws:iam::123456789012:user/oncall"
    assert record.data["plan_digest"] == plan.digest

    again = remediator.apply(plan, finding, by="oncall", via="cli")
    assert [a.changed for a in again] == [False]

    undone = remediator.undo(applied.action_id, by="oncall", via="cli")
    assert undone.changed
    assert scenario.observe(iam, finding) == scenario.original
    kinds = [r.kind for r in audit.for_finding(finding.finding_id)]
    assert kinds == [
        AuditKind.FINDING_RAISED,
        AuditKind.REMEDIATION_APPLIED,
        AuditKind.REMEDIATION_APPLIED,
        AuditKind.REMEDIATION_UNDONE,
    ]
    with pytest.raises(RemediationError, match="already undone"):
        remediator.undo(applied.action_id, by="oncall", via="cli")
    with pytest.raises(RemediationError, match="changed nothing"):
        remediator.undo(again[0].action_id, by="oncall", via="cli")


def test_a_deleted_login_profile_is_gone_and_undo_refuses(iam: Any, audit: SQLiteAuditLog) -> None:
    finding = finding_of(
        "console-password-created/positive_iam_user_creates_login_profile_with_cli",
        **_user(iam),
    )
    plan = plan_remediation(finding, ["delete-login-profile"])
    (applied,) = Remediator(iam, audit, account=ACCOUNT, history=NO_HISTORY).apply(
        plan, finding, by="oncall", via="cli"
    )
    assert applied.before["login_profile"] is True
    assert applied.after == {"login_profile": False}
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="qa-tester-03")
    assert applied.undo_command is None
    with pytest.raises(RemediationError, match="cannot be undone"):
        Remediator(iam, audit, account=ACCOUNT, history=NO_HISTORY).undo(
            applied.action_id, by="oncall", via="cli"
        )


def test_credentials_for_another_account_change_nothing(iam: Any, audit: SQLiteAuditLog) -> None:
    finding = finding_of(
        "access-key-created/positive_iam_user_creates_key_for_another_user_is_high",
        **_user_with_key(iam),
    )
    remediator = Remediator(iam, audit, account="999988887777", history=NO_HISTORY)
    with pytest.raises(RemediationError, match=r"account 123456789012.*account 999988887777"):
        remediator.apply(plan_remediation(finding), finding, by="oncall", via="cli")
    assert _key_status(iam, finding) == "Active"
    (refused,) = audit.for_finding(finding.finding_id)
    assert refused.kind is AuditKind.REMEDIATION_FAILED
    assert "account 999988887777" in refused.data["error"]


def test_a_failed_step_stops_the_plan_and_is_audited(iam: Any, audit: SQLiteAuditLog) -> None:
    finding = finding_of(
        "console-password-created/positive_iam_user_creates_login_profile_with_cli",
        account=ACCOUNT,
    )  # The user is already gone: no password to delete, and nobody to quarantine.
    with pytest.raises(RemediationError, match="NoSuchEntity") as raised:
        Remediator(iam, audit, account=ACCOUNT, history=NO_HISTORY).apply(
            plan_remediation(finding), finding, by="oncall", via="cli"
        )
    (unchanged,) = raised.value.applied
    assert (unchanged.step.action, unchanged.changed) == (ActionName.DELETE_LOGIN_PROFILE, False)
    applied, failed = audit.for_finding(finding.finding_id)
    assert applied.kind is AuditKind.REMEDIATION_APPLIED
    assert failed.kind is AuditKind.REMEDIATION_FAILED
    assert failed.data["step"]["action"] == "quarantine-user"
    assert "NoSuchEntity" in failed.data["error"]


def test_an_unknown_action_id_is_refused(iam: Any, audit: SQLiteAuditLog) -> None:
    with pytest.raises(RemediationError, match="no applied remediation"):
        Remediator(iam, audit, account=ACCOUNT, history=NO_HISTORY).undo(
            "not-an-action", by="oncall", via="cli"
        )


# --- restore-trust-policy, revoke-older-sessions, disable-trust-anchor ---------------------------


def test_the_revoke_policy_denies_sessions_issued_before_the_step_ran(
    iam: Any, audit: SQLiteAuditLog
) -> None:
    """The document AWS documents for revoking an IAM user's temporary credentials, with the
    time the step ran as the cut-off."""
    from datetime import UTC, datetime

    from iamwatch.remediation.iam import IamSteps

    finding = finding_of(FEDERATION, **_federating_user(iam))
    (step,) = plan_remediation(finding, ["revoke-older-sessions"]).steps
    steps = IamSteps(iam, clock=lambda: datetime(2026, 11, 4, 3, 40, 12, tzinfo=UTC))
    assert steps.apply(step, steps.read(step))
    document = iam.get_user_policy(UserName="svc-backup-agent", PolicyName=REVOKE_SESSIONS_POLICY)
    (statement,) = document["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*"
    assert statement["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-11-04T03:40:12Z"}
    }
    # The printed command makes the same call with the same document, the time from `date`.
    assert "put-user-policy" in step.command and "svc-backup-agent" in step.command
    assert "$(date -u +%Y-%m-%dT%H:%M:%SZ)" in step.command and "aws:TokenIssueTime" in step.command


def test_federation_findings_also_deactivate_the_minting_key() -> None:
    plan = plan_remediation(finding_of(FEDERATION))
    assert [(s.action.value, s.principal_name) for s in plan.steps] == [
        ("deactivate-access-key", "svc-backup-agent"),
        ("revoke-older-sessions", "svc-backup-agent"),
        ("quarantine-user", "svc-backup-agent"),
    ]
    key = _fixture_record(FEDERATION, 0)["userIdentity"]["accessKeyId"]
    assert plan.steps[0].access_key_id == key


def test_a_role_created_open_has_no_earlier_trust_to_restore() -> None:
    finding = finding_of("role-trust-opened/positive_create_role_trusting_anyone_is_critical")
    plan = plan_remediation(finding)
    assert plan.steps == ()
    (skipped,) = plan.not_applicable
    assert "no earlier trust policy" in skipped.reason
    assert "update-assume-role-policy --role-name cross-account-debug" in skipped.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"details": {"previousPolicyDocument": '{"Version": "2012-10-17", "Statem'}},
            "cannot be read",
        ),
        ({"details": {"previousPolicyDocument": "[1, 2]"}}, "cannot be read"),
        ({"target": "reports-reader --role-name iamwatch-prod-DetectRole"}, "not a valid IAM role"),
        ({"target_type": "iam-user"}, "not an IAM role"),
    ],
)
def test_restore_refuses_what_it_cannot_trust(changes: dict[str, Any], reason: str) -> None:
    plan = plan_remediation(finding_of(OPENED_TRUST, **changes))
    assert plan.steps == ()
    assert reason in plan.not_applicable[0].reason


def test_the_restore_command_is_the_exact_call(iam: Any, audit: SQLiteAuditLog) -> None:
    finding = finding_of(OPENED_TRUST)
    (step,) = plan_remediation(finding).steps
    previous = json.loads(
        _fixture_record(OPENED_TRUST, 0)["requestParameters"]["assumeRolePolicyDocument"]
    )
    assert step.policy_document is not None
    assert json.loads(step.policy_document) == previous
    words = shlex.split(step.command)
    assert words[:5] == ["aws", "iam", "update-assume-role-policy", "--role-name", "reports-reader"]
    assert json.loads(words[words.index("--policy-document") + 1]) == previous


ANCHOR = "roles-anywhere-trust-anchor-created/positive_create_trust_anchor_from_certificate_bundle"


def _anchors(responses: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> tuple[Any, Any]:
    """A real botocore Roles Anywhere client whose requests are checked against the service
    model and answered by a Stubber: moto does not serve Roles Anywhere."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "rolesanywhere",
        region_name="us-east-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    for operation, response, expected in responses:
        stubber.add_response(operation, response, expected)
    stubber.activate()
    return client, stubber


def _anchor_detail(enabled: bool) -> dict[str, Any]:
    record = _fixture_record(ANCHOR, 0)
    detail = dict(record["responseElements"]["trustAnchor"])
    detail.pop("createdAt"), detail.pop("updatedAt")
    return {"trustAnchor": {**detail, "enabled": enabled}}


def test_disabling_a_trust_anchor_makes_exactly_these_calls(audit: SQLiteAuditLog) -> None:
    finding = finding_of(ANCHOR)
    (step,) = plan_remediation(finding).steps
    anchor = _fixture_record(ANCHOR, 0)["responseElements"]["trustAnchor"]["trustAnchorId"]
    assert (step.trust_anchor_id, step.region) == (anchor, "us-east-2")
    assert shlex.split(step.command) == [
        "aws", "rolesanywhere", "disable-trust-anchor",
        "--region", "us-east-2", "--trust-anchor-id", anchor,
    ]  # fmt: skip
    asked = {"trustAnchorId": anchor}
    client, stubber = _anchors(
        [
            ("get_trust_anchor", _anchor_detail(True), asked),
            ("disable_trust_anchor", _anchor_detail(False), asked),
            ("get_trust_anchor", _anchor_detail(False), asked),
            # undo: read (the undo's "before", then revert's own look), enable, read
            ("get_trust_anchor", _anchor_detail(False), asked),
            ("get_trust_anchor", _anchor_detail(False), asked),
            ("enable_trust_anchor", _anchor_detail(True), asked),
            ("get_trust_anchor", _anchor_detail(True), asked),
        ]
    )
    regions: list[str] = []

    def rolesanywhere(region: str) -> Any:
        regions.append(region)
        return client

    remediator = Remediator(
        _no_iam(),
        audit,
        account=finding.account or "",
        history=NO_HISTORY,
        rolesanywhere=rolesanywhere,
    )
    (applied,) = remediator.apply(plan_remediation(finding), finding, by="oncall", via="cli")
    assert applied.changed and applied.before["enabled"] is True
    assert applied.after["enabled"] is False
    undone = remediator.undo(applied.action_id, by="oncall", via="cli")
    assert undone.changed and undone.after["enabled"] is True
    stubber.assert_no_pending_responses()
    assert set(regions) == {"us-east-2"}


def test_a_disabled_or_missing_anchor_is_left_alone(audit: SQLiteAuditLog) -> None:
    finding = finding_of(ANCHOR)
    anchor = {"trustAnchorId": finding.details["trustAnchorId"]}
    client, stubber = _anchors(
        [
            ("get_trust_anchor", _anchor_detail(False), anchor),
            ("get_trust_anchor", _anchor_detail(False), anchor),
        ]
    )
    remediator = Remediator(
        _no_iam(),
        audit,
        account=finding.account or "",
        history=NO_HISTORY,
        rolesanywhere=lambda region: client,
    )
    (applied,) = remediator.apply(plan_remediation(finding), finding, by="oncall", via="cli")
    assert not applied.changed
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"details": {"trustAnchorId": "x; aws iam delete-role"}}, "not a trust anchor id"),
        ({"details": {}}, "not a trust anchor id"),
        ({"region": "us-east-2 --endpoint-url https://evil.example.com"}, "not an AWS region"),
        ({"target_type": "roles-anywhere-profile"}, "not a Roles Anywhere trust anchor"),
    ],
)
def test_disable_refuses_what_the_event_cannot_vouch_for(
    changes: dict[str, Any], reason: str
) -> None:
    plan = plan_remediation(finding_of(ANCHOR, **changes))
    assert plan.steps == ()
    assert reason in plan.not_applicable[0].reason


def _no_iam() -> Any:
    """An IAM client that fails any call: trust anchor steps must not touch IAM."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    Stubber(client).activate()
    return client


def test_a_backdoor_sequence_plans_against_the_user_and_what_it_was_given() -> None:
    finding = finding_of("iam-user-backdoor-sequence/positive_created_key_then_admin_in_order")
    plan = plan_remediation(finding)
    planned = [(s.action.value, s.principal_name) for s in plan.steps]
    assert planned == [
        ("quarantine-user", "svc-sync-helper"),
        ("deactivate-access-key", "svc-sync-helper"),
        ("delete-login-profile", "svc-sync-helper"),
        ("detach-policy", "svc-sync-helper"),
    ]
    assert plan.steps[1].access_key_id == finding.details["accessKeyId"]
    assert plan.steps[3].policy_arn == ADMIN
    assert [n.action.value for n in plan.not_applicable] == ["remove-from-group"]
