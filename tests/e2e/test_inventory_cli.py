# ruff: noqa: E501  (records and cases read best on one line each)
"""``iamwatch inventory`` end to end on the sample account in examples/inventory: the jsonl
contract, every kind and recommendation, the other formats, --fail-on, bad input and the
snapshot that scans then read and keep current."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest

from iamwatch.inventory.output.ocsf import problems
from tests.conftest import EXAMPLES_DIR, base_record, run_iamwatch

REPORT = str(EXAMPLES_DIR / "inventory" / "credential-report.csv")
DETAILS = str(EXAMPLES_DIR / "inventory" / "authorization-details.json")
OFFLINE = ("inventory", "--credential-report", REPORT, "--authorization-details", DETAILS)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    result = run_iamwatch(*OFFLINE, "--format", "jsonl")
    assert result.returncode == 0, result.stderr.decode()
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_one_row_per_user_and_root_with_the_contract_fields(rows) -> None:
    assert len(rows) == 12 and rows[0]["user"] == "<root_account>"
    for row in rows:
        assert {"user", "arn", "kind", "recommendation", "reason", "checks", "evidence"} <= set(row)
    assert {row["kind"] for row in rows} == {"human", "workload", "mixed", "dormant", "root"}
    assert {row["recommendation"] for row in rows} == {
        "identity-center", "role", "split", "remove", "keep", "secure-root"
    }  # fmt: skip


def test_the_sample_account_is_classified_as_designed(rows) -> None:
    by_user = {row["user"]: (row["kind"], row["recommendation"]) for row in rows}
    assert by_user == {
        "<root_account>": ("root", "secure-root"), "alice": ("human", "identity-center"),
        "backup-agent": ("workload", "role"), "bob": ("human", "identity-center"),
        "breakglass-admin": ("dormant", "keep"), "breakglass-old": ("dormant", "remove"),
        "carol": ("mixed", "split"), "ci-deploy": ("workload", "role"),
        "dana": ("human", "identity-center"), "erin-ops": ("human", "identity-center"),
        "legacy-reporting": ("dormant", "remove"), "old-contractor": ("dormant", "remove"),
    }  # fmt: skip
    checks = {row["user"]: set(row["checks"]) for row in rows}
    assert {"root-access-key", "root-without-mfa", "root-used-recently"} <= checks["<root_account>"]
    assert {"console-without-mfa", "admin-without-mfa"} <= checks["bob"]
    assert {"key-at-setup", "console-without-mfa"} <= checks["dana"]
    assert "two-active-access-keys" in checks["ci-deploy"]
    assert "inline-policy-near-limit" in checks["carol"]
    assert {"user-groups-near-quota", "user-policies-near-quota"} <= checks["erin-ops"]
    ci = next(row for row in rows if row["user"] == "ci-deploy")
    assert any("create-role" in step for step in ci["next_steps"])


def test_csv_is_one_row_each_and_formula_safe(tmp_path: Path) -> None:
    details = orjson.loads(Path(DETAILS).read_bytes())
    details["UserDetailList"][0]["Tags"].append({"Key": "team", "Value": '=HYPERLINK("x")'})
    (tmp_path / "d.json").write_bytes(orjson.dumps(details))
    result = run_iamwatch("inventory", "--credential-report", REPORT, "--authorization-details",
                          str(tmp_path / "d.json"), "--format", "csv")  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    table = list(csv.reader(io.StringIO(result.stdout.decode("utf-8-sig"))))
    assert len(table) == 13 and table[0][:5] == ["account", "user", "arn", "kind", "recommendation"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in table for cell in line)


def test_ocsf_is_schema_valid_compliance_findings() -> None:
    result = run_iamwatch(*OFFLINE, "--format", "ocsf")
    assert result.returncode == 0, result.stderr.decode()
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 12
    for event in events:
        assert problems(event) == [] and event["class_uid"] == 2003
    failing = [e for e in events if e["compliance"]["status"] == "Fail"]
    assert len(failing) == 11


def test_fail_on_a_check_or_a_severity() -> None:
    assert run_iamwatch(*OFFLINE, "--format", "jsonl", "--fail-on", "key-at-setup").returncode == 1
    assert run_iamwatch(*OFFLINE, "--format", "jsonl", "--fail-on", "critical").returncode == 1
    assert (
        run_iamwatch(*OFFLINE, "--format", "jsonl", "--fail-on", "users-near-quota").returncode == 0
    )
    bad = run_iamwatch(*OFFLINE, "--fail-on", "no-such-check")
    assert bad.returncode == 2 and b"no-such-check is not a check id" in bad.stderr


def test_a_malformed_file_names_the_file_and_line_and_exits_5(tmp_path: Path) -> None:
    lines = Path(REPORT).read_text().splitlines()
    lines[3] = lines[3].replace("true", "perhaps", 1)
    broken = tmp_path / "report.csv"
    broken.write_text("\n".join(lines) + "\n")
    result = run_iamwatch("inventory", "--credential-report", str(broken))
    assert result.returncode == 5
    assert (
        f"error: {broken}: line 4: access_key_1_active is not true or false".encode()
        in result.stderr
    )
    json_file = tmp_path / "details.json"
    json_file.write_text('{"UserDetailList": [\n  {"UserName": "a",}\n]}')
    result = run_iamwatch("inventory", "--credential-report", REPORT,
                          "--authorization-details", str(json_file))  # fmt: skip
    assert result.returncode == 5 and f"{json_file}: line 2".encode() in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_iamwatch("inventory", "--authorization-details", DETAILS).returncode == 2
    assert run_iamwatch("inventory", "--credential-report", str(tmp_path / "none")).returncode == 2
    assert run_iamwatch(*OFFLINE, "--format", "xml").returncode == 2
    assert run_iamwatch(*OFFLINE, "--as-of", "someday").returncode == 2


def test_protected_principals_setting_keeps_a_break_glass_user(rows) -> None:
    result = run_iamwatch(*OFFLINE, "--format", "jsonl",
                          env={"IAMWATCH_PROTECTED_PRINCIPALS": "legacy-*"})  # fmt: skip
    listed = [orjson.loads(line) for line in result.stdout.splitlines()]
    legacy = next(row for row in listed if row["user"] == "legacy-reporting")
    assert legacy["evidence"]["protected"] == "listed in IAMWATCH_PROTECTED_PRINCIPALS (legacy-*)"
    assert legacy["recommendation"] == "remove"  # no MFA and an access key: no exception
    bad = run_iamwatch(*OFFLINE, env={"IAMWATCH_PROTECTED_PRINCIPALS": "a b"})
    assert bad.returncode == 2 and b"IAMWATCH_PROTECTED_PRINCIPALS" in bad.stderr


def test_cloudtrail_evidence_is_read_with_the_report(tmp_path: Path) -> None:
    record = base_record("access-key-created")
    record["userIdentity"] = {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/svc/backup-agent",
                              "accountId": "123456789012", "userName": "backup-agent",
                              "accessKeyId": "AKIAEXAMPLEBACKUP001"}  # fmt: skip
    record["sourceIPAddress"] = "198.51.100.7"
    record["userAgent"] = "aws-cli/2.15.30 os/linux"
    record["eventTime"] = "2026-11-06T02:10:00Z"
    trail = tmp_path / "trail.json"
    trail.write_bytes(orjson.dumps({"Records": [record]}))
    result = run_iamwatch(*OFFLINE, "--format", "jsonl", "--cloudtrail", str(trail))
    assert result.returncode == 0, result.stderr.decode()
    agent = next(orjson.loads(x) for x in result.stdout.splitlines() if b'"backup-agent"' in x)
    assert agent["evidence"]["cloudtrail"]["outside_aws_calls"] == 1
    assert agent["evidence"]["roles_anywhere"] is True
    assert "Roles Anywhere applies" in agent["reason"]


def test_a_snapshot_in_the_state_file_tells_scans_who_a_key_is_for(tmp_path: Path) -> None:
    state = str(tmp_path / "state.db")
    taken = run_iamwatch(*OFFLINE, "--format", "jsonl", "--state", state)
    assert taken.returncode == 0, taken.stderr.decode()
    record = base_record("access-key-created")
    record["recipientAccountId"] = "123456789012"
    record["userIdentity"]["accountId"] = "123456789012"
    record["requestParameters"] = {"userName": "alice"}
    record["responseElements"]["accessKey"]["userName"] = "alice"
    record["eventTime"] = "2026-11-06T19:00:00Z"
    trail = tmp_path / "trail.json"
    trail.write_bytes(orjson.dumps({"Records": [record]}))
    scanned = run_iamwatch("scan", str(trail), "--format", "jsonl", "--state", state)
    assert scanned.returncode == 0, scanned.stderr.decode()
    (finding,) = [orjson.loads(line) for line in scanned.stdout.splitlines()]
    assert finding["details"]["userKind"] == "human"
    assert "The inventory knows alice as a person" in finding["summary"]
    # The key is now part of alice's identity in the state: a second key for her shows it.
    from iamwatch.inventory.tracker import StateInventory
    from iamwatch.state import SQLiteStateStore

    known = StateInventory(SQLiteStateStore(state)).identity("123456789012", "alice")
    assert known is not None and known.changed_by_events == ("CreateAccessKey",)
    assert [key.key_id for key in known.access_keys] == [
        record["responseElements"]["accessKey"]["accessKeyId"]
    ]
