"""``iamwatch scan`` through the detection service, in-process: suppressed findings are shown
as suppressed (never as live ones, never for ``--fail-on``) and exported as suppressed;
``--enrich`` adds read-only IAM context with the caller's credentials, for their account only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from detectors import REGISTRY
from iamwatch.audit import AuditKind, SQLiteAuditLog
from iamwatch.cli import app
from tests.conftest import EXAMPLES_DIR

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
MUTE_CRITICAL = [
    {"detector": "root-account-used", "owner": "sre", "reason": "drill", "expires": "2999-01-01"},
    {"detector": "*-tampering", "owner": "sre", "reason": "drill", "expires": "2999-01-01"},
]


def scan(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["scan", str(EXAMPLES_DIR), *args], env=env or {})


def printed(result: Result) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def muted_env(rules: list[dict[str, str]] = MUTE_CRITICAL) -> dict[str, str]:
    return {"IAMWATCH_SUPPRESSIONS": orjson.dumps(rules).decode()}


def test_suppressed_findings_are_marked_and_audited_as_suppressed(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    result = scan("--format", "jsonl", "--audit", str(audit), env=muted_env())
    assert result.exit_code == 0, result.output
    findings = printed(result)
    muted = [f for f in findings if f.get("suppressed")]
    live = [f for f in findings if not f.get("suppressed")]
    assert muted and live
    assert {f["detector"] for f in muted} == {
        "root-account-used",
        "cloudtrail-tampering",
        "iamwatch-tampering",
    }
    assert all("owner sre: drill" in f["suppressed_by"] for f in muted)
    assert all("suppressed_by" not in f for f in live)
    log = SQLiteAuditLog(audit)
    records = list(log.read(*EVER))
    log.close()
    suppressed = {r.finding_id for r in records if r.kind is AuditKind.FINDING_SUPPRESSED}
    raised = {r.finding_id for r in records if r.kind is AuditKind.FINDING_RAISED}
    assert suppressed == {f["finding_id"] for f in muted}
    assert raised == {f["finding_id"] for f in live}
    assert f"Findings: {len(live):,} ({len(muted):,} more suppressed)" in result.stderr
    assert "suppressed: " in result.stderr and "owner sre: drill" in result.stderr


def test_suppressed_findings_never_count_for_fail_on(tmp_path: Path) -> None:
    audit = ["--audit", str(tmp_path / "audit.db"), "--format", "jsonl"]
    assert scan(*audit, "--fail-on", "critical").exit_code == 1
    every_critical = [
        *MUTE_CRITICAL,
        {"detector": "console-login-without-mfa", "owner": "o", "reason": "r",
         "expires": "2999-01-01", "actor": "*root*"},
        {"detector": "access-key-created", "owner": "o", "reason": "r", "expires": "2999-01-01",
         "actor": "*root*"},
        {"detector": "role-trust-opened", "owner": "o", "reason": "r", "expires": "2999-01-01"},
        {"detector": "*-sequence", "owner": "o", "reason": "r", "expires": "2999-01-01"},
        {"detector": "mfa-removed-then-sign-in", "owner": "o", "reason": "r",
         "expires": "2999-01-01"},
    ]  # fmt: skip
    result = scan(*audit, "--fail-on", "critical", env=muted_env(every_critical))
    criticals = [f for f in printed(result) if f["severity"] == "critical"]
    assert criticals and all(f.get("suppressed") for f in criticals)
    assert result.exit_code == 0, result.output


def test_the_table_shows_suppressed_findings_as_suppressed(tmp_path: Path) -> None:
    result = scan("--format", "table", "--audit", str(tmp_path / "a.db"), env=muted_env())
    assert result.exit_code == 0, result.output
    assert "(suppressed)" in result.stdout
    assert "suppressed by" in result.stdout


def test_an_export_reports_suppressed_findings_as_suppressed(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    result = scan("--format", "jsonl", "--audit", str(audit), env=muted_env())
    muted = {f["finding_id"] for f in printed(result) if f.get("suppressed")}
    exported = CliRunner().invoke(
        app,
        ["export", "--audit", str(audit), "--since", "2000-01-01", "--until", "2100-01-01"],
    )
    assert exported.exit_code == 0, exported.output
    rows = {row["finding_id"]: row for row in map(orjson.loads, exported.stdout.splitlines())}
    assert muted <= set(rows)
    assert {rows[fid]["delivery_status"] for fid in muted} == {"suppressed"}
    assert all("owner sre" in rows[fid]["delivery_reason"] for fid in muted)


def test_enrich_adds_iam_context_for_the_callers_account_only(
    tmp_path: Path, iam: Any, aws_env: dict[str, str]
) -> None:
    plain = printed(scan("--format", "jsonl", "--audit", str(tmp_path / "a.db")))
    # Findings whose detector asks for the user's tags (each declares its look-ups).
    tagged = {d.meta.id for d in REGISTRY if "iam:ListUserTags" in d.meta.enrichment_permissions}
    about_users = [f for f in plain if f["target_type"] == "iam-user" and f["detector"] in tagged]
    ours = next(f for f in about_users if f["account"] == "123456789012")
    theirs = [f for f in about_users if f["account"] != "123456789012"]
    assert theirs, "examples hold findings from other accounts"
    iam.create_user(UserName=ours["target"], Tags=[{"Key": "owner", "Value": "data-team"}])
    env = {key: aws_env[key] for key in aws_env if key.startswith("AWS_")}
    result = scan("--format", "jsonl", "--enrich", "--audit", str(tmp_path / "b.db"), env=env)
    assert result.exit_code == 0, result.output
    enriched = {f["finding_id"]: f for f in printed(result)}
    assert enriched[ours["finding_id"]]["enrichment"]["owner"] == "data-team"
    assert all(enriched[f["finding_id"]]["enrichment"] == {} for f in theirs)
    assert all(f["enrichment"] == {} for f in plain)


def test_enrich_without_credentials_is_a_usage_error(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = scan("--enrich", "--audit", str(tmp_path / "a.db"), env=env)
    assert result.exit_code == 2
    assert "--enrich: cannot identify your AWS account" in result.stderr
