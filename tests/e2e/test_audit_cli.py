"""The audit trail of ``iamwatch scan``, run as a user runs it (``python -m iamwatch`` in a
subprocess): findings raised, Slack deliveries and failures, suppressions, malformed records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from iamwatch.audit import (
    AuditKind,
    AuditRecord,
    BufferedAuditLog,
    SQLiteAuditLog,
    default_audit_path,
)
from tests.conftest import EXAMPLES_DIR, detector_cases, findings_of, run_iamwatch
from tests.slack_server import SlackServer

RECORDS: list[dict[str, Any]] = [r for case in detector_cases() for r in case.records]
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


iamwatch = run_iamwatch


def audit_records(path: Path) -> list[AuditRecord]:
    log = SQLiteAuditLog(path)
    try:
        return list(log.read(*EVER))
    finally:
        log.close()


def of_kind(records: list[AuditRecord], kind: AuditKind) -> list[AuditRecord]:
    return [r for r in records if r.kind is kind]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "trail.json"
    path.write_bytes(orjson.dumps({"Records": RECORDS}))
    return path


def test_scan_records_every_finding_in_full(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    result = iamwatch(
        "scan", str(EXAMPLES_DIR), "--format", "jsonl", "--audit", str(audit), home=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    findings = findings_of(result)
    assert findings
    raised = of_kind(audit_records(audit), AuditKind.FINDING_RAISED)
    assert len(raised) == len(findings)
    by_id = {r.finding_id: r for r in raised}
    for finding in findings:
        record = by_id[finding["finding_id"]]
        # The whole finding is kept, exactly as scan printed it, so export can rebuild it.
        assert record.data["finding"] == finding
        assert record.detector == finding["detector"]
        assert record.event_id == finding["event_id"]
        assert record.account == finding["account"]
        assert record.data["severity"] == finding["severity"]
    # The per-user default was not touched: --audit was given.
    assert not (tmp_path / "iamwatch").exists()


def test_audit_is_append_only_across_scans(tmp_path: Path, trail: Path) -> None:
    audit = tmp_path / "audit.db"
    args = ("scan", str(trail), "--format", "jsonl", "--audit", str(audit))
    first = iamwatch(*args, home=tmp_path)
    second = iamwatch(*args, home=tmp_path)
    assert first.returncode == second.returncode == 0
    raised = of_kind(audit_records(audit), AuditKind.FINDING_RAISED)
    # A re-scan raises the same findings again (same ids); the first records are kept.
    assert len(raised) == 2 * len(findings_of(first))
    assert {r.finding_id for r in raised} == {f["finding_id"] for f in findings_of(first)}


def test_audit_path_from_the_environment_the_state_file_or_the_user_default(
    tmp_path: Path, trail: Path
) -> None:
    env_audit = tmp_path / "env" / "audit.db"
    result = iamwatch(
        "scan",
        str(trail),
        "--format",
        "jsonl",
        env={"IAMWATCH_AUDIT_PATH": str(env_audit)},
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    expected = len(findings_of(result))
    assert len(of_kind(audit_records(env_audit), AuditKind.FINDING_RAISED)) == expected

    state = tmp_path / "state.db"
    result = iamwatch("scan", str(trail), "--format", "jsonl", "--state", str(state), home=tmp_path)
    assert result.returncode == 0
    assert len(of_kind(audit_records(state), AuditKind.FINDING_RAISED)) == expected

    result = iamwatch("scan", str(trail), "--format", "jsonl", home=tmp_path / "xdg")
    assert result.returncode == 0
    default = tmp_path / "xdg" / "iamwatch" / "audit.db"
    assert len(of_kind(audit_records(default), AuditKind.FINDING_RAISED)) == expected


def test_default_audit_path_follows_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_audit_path() == tmp_path / "iamwatch" / "audit.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_audit_path() == tmp_path / ".local" / "state" / "iamwatch" / "audit.db"


def test_malformed_records_are_in_the_audit_trail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"Records": [1, {"eventVersion": "1.08"}, RECORDS[0]]}))
    lines = tmp_path / "bad.jsonl"
    lines.write_bytes(orjson.dumps(RECORDS[0]) + b"\nnot json\n")
    audit = tmp_path / "audit.db"
    result = iamwatch(
        "scan", str(bad), str(lines), "--format", "jsonl", "--audit", str(audit), home=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    malformed = of_kind(audit_records(audit), AuditKind.MALFORMED_EVENT)
    where = sorted(r.data["location"] for r in malformed)
    assert where == [f"{bad}: record 1", f"{bad}: record 2", f"{lines}: line 2"]
    reasons = {r.data["location"]: r.data["reason"] for r in malformed}
    assert "got a number" in reasons[f"{bad}: record 1"]
    assert "not valid JSON" in reasons[f"{lines}: line 2"]


def test_slack_deliveries_failures_and_suppressions_are_in_the_audit_trail(
    tmp_path: Path, trail: Path, slack: SlackServer
) -> None:
    slack.fail_channel("#critical", "channel_not_found")
    rules = [
        {
            "detector": "inline-user-policy",
            "owner": "platform-team",
            "reason": "legacy pipeline, ticket OPS-1",
            "expires": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
        }
    ]
    env = {
        "IAMWATCH_SLACK_TOKEN": SlackServer.TOKEN,
        "IAMWATCH_SLACK_CHANNEL": "#security-alerts",
        "IAMWATCH_SLACK_CHANNEL_CRITICAL": "#critical",
        "IAMWATCH_SLACK_API_URL": slack.api_url,
        "IAMWATCH_SLACK_DEDUP_WINDOW_SECONDS": "0",
        "IAMWATCH_SUPPRESSIONS": orjson.dumps(rules).decode(),
    }
    audit = tmp_path / "audit.db"
    result = iamwatch(
        "scan",
        str(trail),
        "--format",
        "jsonl",
        "--slack",
        "--audit",
        str(audit),
        env=env,
        home=tmp_path,
    )
    assert result.returncode == 4, result.stderr.decode()
    findings = {f["finding_id"]: f for f in findings_of(result)}
    records = audit_records(audit)

    failed = of_kind(records, AuditKind.DELIVERY_FAILED)
    assert failed
    assert {findings[r.finding_id]["severity"] for r in failed} == {"critical"}
    assert all("channel_not_found" in r.data["reason"] for r in failed)
    assert all(r.data["channel"] == "#critical" for r in failed)

    suppressed = of_kind(records, AuditKind.FINDING_SUPPRESSED)
    assert suppressed
    assert {r.detector for r in suppressed} == {"inline-user-policy"}
    assert all(r.data["rule"]["owner"] == "platform-team" for r in suppressed)
    assert all("OPS-1" in r.data["reason"] for r in suppressed)

    attempted = of_kind(records, AuditKind.DELIVERY_ATTEMPTED)
    posted = [r for r in attempted if r.data["outcome"] == "posted"]
    assert len(posted) == len(slack.top_level("#security-alerts"))
    assert all(r.data["ts"] for r in posted)
    # Every finding's delivery has exactly one outcome record.
    outcomes = [r.finding_id or "" for r in (*failed, *suppressed, *attempted)]
    assert sorted(outcomes) == sorted(findings)


def test_buffered_log_writes_in_batches_and_ignores_retried_records(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    buffered = BufferedAuditLog(SQLiteAuditLog(path), batch_size=3)
    records = [AuditRecord(kind=AuditKind.MALFORMED_EVENT, data={"n": n}) for n in range(5)]
    for record in records:
        buffered.append(record)
    # Three written in one batch, two pending until flushed.
    assert len(audit_records(path)) == 3
    buffered.append(records[0])  # a retry of a record already written
    buffered.close()
    stored = audit_records(path)
    assert sorted(r.data["n"] for r in stored) == [0, 1, 2, 3, 4]
