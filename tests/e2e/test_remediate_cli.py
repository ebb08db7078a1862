"""``iamwatch remediate`` as an operator runs it: scan, plan (dry run), --apply against moto's
IAM, the audit trail, --undo."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from iamwatch.audit import AuditKind, SQLiteAuditLog
from tests.conftest import EVENTS_DIR, load_case, run_iamwatch

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
# An SSO administrator attached AdministratorAccess to IAM user vendor-integration.
GRANT = "admin-policy-attached/positive_attach_user_policy_administrator_access"
# The same kind of grant, in account 444455556666.
OTHER_ACCOUNT = "admin-policy-attached/positive_put_group_policy_single_statement_object"


@pytest.fixture
def granted(iam: Any, event_history: Any) -> Any:
    """IAM as the GRANT event left it: vendor-integration holds AdministratorAccess (and
    CloudTrail's event history shows no earlier grant of it)."""
    iam.create_user(UserName="vendor-integration")
    iam.attach_user_policy(UserName="vendor-integration", PolicyArn=ADMIN)
    return iam


def scanned(fixture: str, tmp_path: Path, aws_env: dict[str, str]) -> tuple[Path, str]:
    """Scan the fixture's records into a fresh audit trail; the finding id it raised."""
    trail = tmp_path / f"{fixture.replace('/', '_')}.json"
    trail.write_bytes(orjson.dumps({"Records": load_case(EVENTS_DIR / f"{fixture}.json").records}))
    audit = tmp_path / "audit.db"
    result = run_iamwatch(
        "scan", str(trail), "--format", "jsonl", "--audit", str(audit), env=aws_env
    )
    assert result.returncode == 0, result.stderr
    (finding,) = [orjson.loads(line) for line in result.stdout.splitlines()]
    return audit, finding["finding_id"]


def attached(iam: Any) -> set[str]:
    policies = iam.list_attached_user_policies(UserName="vendor-integration")["AttachedPolicies"]
    return {p["PolicyArn"] for p in policies}


def test_plan_apply_audit_and_undo(granted: Any, aws_env: dict[str, str], tmp_path: Path) -> None:
    audit, finding_id = scanned(GRANT, tmp_path, aws_env)
    remediate = ("remediate", "--audit", str(audit))

    dry = run_iamwatch(*remediate, finding_id, env=aws_env)
    assert dry.returncode == 0, dry.stderr
    plan = dry.stdout.decode()
    assert "Runbook, Remediation:" in plan
    assert (
        "$ aws iam detach-user-policy --user-name vendor-integration --policy-arn " + ADMIN
    ) in plan
    assert (
        f"$ aws iam attach-user-policy --user-name vendor-integration --policy-arn {DENY_ALL}"
        in plan
    )
    assert "Dry run: nothing was changed" in plan
    assert attached(granted) == {ADMIN}

    applied = run_iamwatch(*remediate, finding_id, "--apply", env=aws_env)
    assert applied.returncode == 0, applied.stderr
    assert attached(granted) == {DENY_ALL}
    output = applied.stdout.decode()
    action_ids = re.findall(r"action id: (\S+)", output)
    assert len(action_ids) == 2
    assert [f"undo: iamwatch remediate --undo {a}" in output for a in action_ids] == [True, True]

    log = SQLiteAuditLog(audit)
    records = list(log.for_finding(finding_id))
    log.close()
    assert [r.kind for r in records] == [
        AuditKind.FINDING_RAISED,
        AuditKind.REMEDIATION_APPLIED,
        AuditKind.REMEDIATION_APPLIED,
    ]
    detach, quarantine = records[1:]
    assert (detach.data["before"], detach.data["after"]) == (
        {"attached": True},
        {"attached": False},
    )
    assert (quarantine.data["before"], quarantine.data["after"]) == (
        {"attached": False},
        {"attached": True},
    )
    assert detach.data["by"].startswith("arn:aws:")
    assert detach.data["via"] == "cli"

    for action_id in reversed(action_ids):
        undone = run_iamwatch(*remediate, "--undo", action_id, env=aws_env)
        assert undone.returncode == 0, undone.stderr
        assert b": undone" in undone.stdout
    assert attached(granted) == {ADMIN}
    log = SQLiteAuditLog(audit)
    kinds = [r.kind for r in log.for_finding(finding_id)]
    log.close()
    assert kinds[-2:] == [AuditKind.REMEDIATION_UNDONE, AuditKind.REMEDIATION_UNDONE]

    again = run_iamwatch(*remediate, "--undo", action_ids[0], env=aws_env)
    assert again.returncode == 6
    assert b"already undone" in again.stderr


def test_one_action_can_be_chosen(granted: Any, aws_env: dict[str, str], tmp_path: Path) -> None:
    audit, finding_id = scanned(GRANT, tmp_path, aws_env)
    result = run_iamwatch(
        "remediate", "--audit", str(audit), finding_id, "--action", "detach-policy", "--apply",
        env=aws_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert attached(granted) == set()


def test_a_protected_user_is_not_planned_and_a_re_granted_policy_is_not_removed(
    granted: Any, event_history: Any, aws_env: dict[str, str], tmp_path: Path
) -> None:
    """Defect 6 through the command line: IAMWATCH_PROTECTED_PRINCIPALS takes the user out of
    the plan; without it, an AdministratorAccess attachment CloudTrail saw before the event
    (the event re-attached it) is refused when applying, and the quarantine still applied."""
    audit, finding_id = scanned(GRANT, tmp_path, aws_env)
    protected = {**aws_env, "IAMWATCH_PROTECTED_PRINCIPALS": "vendor-*"}
    result = run_iamwatch("remediate", "--audit", str(audit), finding_id, "--apply", env=protected)
    assert result.returncode == 0, result.stderr
    output = result.stdout.decode()
    assert "is protected (listed in IAMWATCH_PROTECTED_PRINCIPALS (vendor-*))" in output
    assert "Nothing to apply" in output or "No automated action applies" in output
    assert attached(granted) == {ADMIN}

    (event,) = load_case(EVENTS_DIR / f"{GRANT}.json").records
    earlier = {
        **event,
        "eventID": "0b5e5b8e-0000-4000-8000-000000000001",
        "eventTime": "2026-10-01T09:00:00Z",
    }
    event_history.add(earlier)
    result = run_iamwatch("remediate", "--audit", str(audit), finding_id, "--apply", env=aws_env)
    assert result.returncode == 0, result.stderr
    output = result.stdout.decode()
    assert "refused" in output and "0b5e5b8e-0000-4000-8000-000000000001" in output
    assert attached(granted) == {ADMIN, DENY_ALL}


def test_credentials_for_another_account_are_refused(
    granted: Any, aws_env: dict[str, str], tmp_path: Path
) -> None:
    audit, finding_id = scanned(OTHER_ACCOUNT, tmp_path, aws_env)
    result = run_iamwatch("remediate", "--audit", str(audit), finding_id, "--apply", env=aws_env)
    assert result.returncode == 6
    assert b"the finding is in account 444455556666" in result.stderr
    assert attached(granted) == {ADMIN}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("00000000-0000-0000-0000-000000000000",), b"no finding"),
        (("FINDING", "--action", "delete-login-profile"), b"not an automated action"),
        ((), b"give a FINDING_ID"),
        (("FINDING", "--undo", "x"), b"not both"),
    ],
)
def test_usage_errors_exit_2(
    granted: Any, aws_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], message: bytes
) -> None:
    audit, finding_id = scanned(GRANT, tmp_path, aws_env)
    args = tuple(finding_id if a == "FINDING" else a for a in args)
    result = run_iamwatch("remediate", "--audit", str(audit), *args, env=aws_env)
    assert result.returncode == 2
    assert message in result.stderr
    assert attached(granted) == {ADMIN}


@pytest.mark.parametrize("table", ["a b", "x", "t;rm -rf"])
def test_a_dynamodb_audit_trail_must_name_a_table(aws_env: dict[str, str], table: str) -> None:
    result = run_iamwatch(
        "remediate", "--undo", "00000000-0000-4000-8000-000000000000", "--audit",
        f"dynamodb://{table}", env=aws_env,
    )  # fmt: skip
    assert result.returncode == 2
    assert b"is not a DynamoDB table name" in result.stderr


def test_an_unknown_action_in_a_dynamodb_trail_is_refused(aws_env: dict[str, str]) -> None:
    """The deployment's table, read with the operator's credentials (moto here)."""
    import boto3

    from iamwatch.aws.tables import create_table

    table = f"iamwatch-audit-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb", endpoint_url=aws_env["AWS_ENDPOINT_URL"]), "audit", table)
    result = run_iamwatch(
        "remediate", "--undo", str(uuid.uuid4()), "--audit", f"dynamodb://{table}", env=aws_env
    )
    assert result.returncode == 6
    assert b"no applied remediation has this action id" in result.stderr
