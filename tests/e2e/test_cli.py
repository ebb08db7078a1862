"""``iamwatch`` end to end, as a user runs it: every input form, malformed input, the jsonl
contract and the exit codes."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from detectors import REGISTRY
from tests.conftest import ROOT, detector_cases, findings_of, run_iamwatch

CASES = detector_cases()
RECORDS: list[dict[str, Any]] = [record for case in CASES for record in case.records]
EXPECTED = {(e["detector"], e["event_id"]) for case in CASES for e in case.expect}
JSONL_CONTRACT = {
    "detector",
    "severity",
    "event_id",
    "event_name",
    "event_time",
    "account",
    "region",
    "actor",
    "target",
    "title",
    "runbook_url",
}


iamwatch = run_iamwatch


def _records_document() -> bytes:
    return orjson.dumps({"Records": RECORDS})


def _envelope(record: dict[str, Any]) -> dict[str, Any]:
    source = record["eventSource"].split(".")[0]
    return {
        "version": "0",
        "id": "0d4d9bd3-1f0e-4e5e-8c1d-" + record["eventID"][-12:],
        "detail-type": "AWS Console Sign In via CloudTrail"
        if source == "signin"
        else "AWS API Call via CloudTrail",
        "source": f"aws.{source}",
        "account": record.get("recipientAccountId"),
        "time": record["eventTime"],
        "region": record.get("awsRegion"),
        "resources": [],
        "detail": record,
    }


def write_plain(tmp: Path) -> list[str]:
    path = tmp / "trail.json"
    path.write_bytes(_records_document())
    return [str(path)]


def write_gzip(tmp: Path) -> list[str]:
    path = tmp / "trail.json.gz"
    path.write_bytes(gzip.compress(_records_document()))
    return [str(path)]


def write_awslogs_tree(tmp: Path) -> list[str]:
    by_place: dict[Path, list[dict[str, Any]]] = {}
    for record in RECORDS:
        account, region = record["recipientAccountId"], record["awsRegion"]
        day = record["eventTime"][:10].replace("-", "/")
        folder = tmp / "AWSLogs" / account / "CloudTrail" / region / day
        by_place.setdefault(folder, []).append(record)
    for index, (folder, records) in enumerate(sorted(by_place.items())):
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{records[0]['recipientAccountId']}_CloudTrail_x_{index:04d}.json.gz"
        (folder / name).write_bytes(gzip.compress(orjson.dumps({"Records": records})))
    digest = tmp / "AWSLogs" / "123456789012" / "CloudTrail-Digest" / "us-east-1"
    digest.mkdir(parents=True)
    (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"digestStartTime": "x"}'))
    (tmp / "AWSLogs" / "notes.txt").write_text("not a log file")
    return [str(tmp)]


def write_jsonl_records(tmp: Path) -> list[str]:
    path = tmp / "records.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in RECORDS) + b"\n")
    return [str(path)]


def write_jsonl_envelopes(tmp: Path) -> list[str]:
    path = tmp / "events.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(_envelope(r)) for r in RECORDS)))
    return [str(path)]


def write_pretty_array(tmp: Path) -> list[str]:
    path = tmp / "pretty.json"
    path.write_bytes(orjson.dumps(RECORDS, option=orjson.OPT_INDENT_2))
    return [str(path)]


def write_split_files(tmp: Path) -> list[str]:
    half = len(RECORDS) // 2
    first, second = tmp / "a.json", tmp / "b.jsonl"
    first.write_bytes(orjson.dumps({"Records": RECORDS[:half]}))
    second.write_bytes(b"\n".join(orjson.dumps(r) for r in RECORDS[half:]))
    return [str(first), str(second)]


WRITERS: list[Callable[[Path], list[str]]] = [
    write_plain,
    write_gzip,
    write_awslogs_tree,
    write_jsonl_records,
    write_jsonl_envelopes,
    write_pretty_array,
    write_split_files,
]


@pytest.mark.parametrize("writer", WRITERS, ids=[w.__name__ for w in WRITERS])
def test_every_input_form_gives_the_same_findings(
    writer: Callable[[Path], list[str]], tmp_path: Path
) -> None:
    result = iamwatch("scan", *writer(tmp_path), "--format", "jsonl")
    assert result.returncode == 0, result.stderr.decode()
    assert {(f["detector"], f["event_id"]) for f in findings_of(result)} == EXPECTED
    assert b"Malformed records or files: 0" in result.stderr


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_stdin(compress: bool) -> None:
    data = b"\n".join(orjson.dumps(r) for r in RECORDS)
    result = iamwatch(
        "scan", "-", "--format", "jsonl", stdin=gzip.compress(data) if compress else data
    )
    assert result.returncode == 0, result.stderr.decode()
    assert {(f["detector"], f["event_id"]) for f in findings_of(result)} == EXPECTED


def test_s3_prefix_through_boto3(aws_env: dict[str, str]) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket="org-trail")
    prefix = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/03/"
    s3.put_object(
        Bucket="org-trail", Key=prefix + "a.json.gz", Body=gzip.compress(_records_document())
    )
    s3.put_object(
        Bucket="org-trail",
        Key="AWSLogs/123456789012/CloudTrail-Digest/d.json.gz",
        Body=gzip.compress(b"{}"),
    )
    env = {k: v for k, v in aws_env.items() if not k.startswith("IAMWATCH_")}
    result = iamwatch("scan", "s3://org-trail/AWSLogs/", "--format", "jsonl", env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert {(f["detector"], f["event_id"]) for f in findings_of(result)} == EXPECTED
    assert b"Scanned 1 file(s)" in result.stderr


def test_jsonl_contract(tmp_path: Path) -> None:
    findings = findings_of(iamwatch("scan", *write_plain(tmp_path), "--format", "jsonl"))
    assert findings
    for finding in findings:
        assert finding.keys() >= JSONL_CONTRACT
        assert finding["severity"] in {"low", "medium", "high", "critical"}
        assert finding["event_time"].endswith("Z")
        assert finding["runbook_url"].endswith(f"/runbooks/{finding['detector']}.md")


def test_malformed_input_is_reported_and_the_rest_scanned(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    lines = [orjson.dumps(r) for r in RECORDS]
    lines.insert(3, b"this is not json")
    lines.insert(5, b'"just a string"')
    lines.insert(7, b'{"eventVersion": "1.08"}')
    lines.insert(
        9,
        b'{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", '
        b'"eventTime": "not a time", "eventID": "x"}',
    )
    lines.insert(11, b'{"eventSource": "s3.amazonaws.com", "eventName": "\xff\xfe"}')
    good.write_bytes(b"\n".join(lines))
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in RECORDS))[:-40])
    not_a_list = tmp_path / "odd.json"
    not_a_list.write_bytes(b'{"Records": {"eventName": "CreateUser"}}')
    result = iamwatch("scan", str(good), str(truncated), str(not_a_list), "--format", "jsonl")
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert f"{good}: line 4: not valid JSON" in stderr
    assert f"{good}: line 6: expected a JSON object, got a string" in stderr
    assert f"{good}: line 8: missing eventSource or eventName" in stderr
    assert f"{good}: line 10: eventTime" in stderr
    assert f"{good}: line 12: not valid JSON" in stderr
    assert f"{truncated}: after line" in stderr and "rest of file skipped" in stderr
    assert f"{not_a_list}: Records: Records is not a list" in stderr
    assert "Malformed records or files: 7." in stderr
    found = {(f["detector"], f["event_id"]) for f in findings_of(result)}
    assert found >= EXPECTED  # everything in good.jsonl, plus what the truncated copy held


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--fail-on", "critical"], 1),
        (["--fail-on", "low"], 1),
        (["--min-severity", "critical", "--fail-on", "high"], 1),
        ([], 0),
    ],
)
def test_fail_on_exit_code(args: list[str], code: int, tmp_path: Path) -> None:
    result = iamwatch("scan", *write_plain(tmp_path), "--format", "jsonl", *args)
    assert result.returncode == code


def test_fail_on_not_reached(tmp_path: Path) -> None:
    path = tmp_path / "low.jsonl"
    low = [
        r
        for case in CASES
        if case.path.parent.name == "inline-user-policy"
        and all(e["severity"] == "low" for e in case.expect)
        and case.expect
        for r in case.records
    ]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in low))
    result = iamwatch("scan", str(path), "--format", "jsonl", "--fail-on", "high")
    assert result.returncode == 0 and findings_of(result)


def test_min_severity_filters(tmp_path: Path) -> None:
    result = iamwatch("scan", *write_plain(tmp_path), "--format", "jsonl", "--min-severity", "high")
    severities = {f["severity"] for f in findings_of(result)}
    assert severities and severities <= {"high", "critical"}
    assert b"below --min-severity" in result.stderr


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = iamwatch("scan", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert b"no such file or directory" in result.stderr


def test_invalid_setting_fails_fast_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "IAMWATCH_LOGIN_FAILURE_THRESHOLD": "0"}
    result = iamwatch("scan", *write_plain(tmp_path), env=env)
    assert result.returncode == 2
    assert b"IAMWATCH_LOGIN_FAILURE_THRESHOLD" in result.stderr


def test_settings_from_config_file(tmp_path: Path) -> None:
    config = tmp_path / "iamwatch.toml"
    config.write_text('runbook_base_url = "https://runbooks.example.com/iamwatch/"\n')
    result = iamwatch("scan", *write_plain(tmp_path), "--format", "jsonl", "--config", str(config))
    urls = {f["runbook_url"] for f in findings_of(result)}
    assert urls and all(u.startswith("https://runbooks.example.com/iamwatch/") for u in urls)


def test_table_output(tmp_path: Path) -> None:
    result = iamwatch("scan", *write_plain(tmp_path), "--format", "table")
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "iamwatch findings" in out and "CRITICAL" in out and "cloudtrail-tampering" in out


def test_detectors_command_lists_the_catalogue() -> None:
    result = iamwatch("detectors")
    assert result.returncode == 0
    assert b"identity-center-admin-assignment" in result.stdout
    assert b"console-login-without-mfa" in result.stdout
    # What each fires on (its declared description), then the events it is routed.
    wide = iamwatch("detectors", "--format", "TABLE", env={"COLUMNS": "200"}).stdout
    assert b"iam CreateUser" in wide and b"iam:CreateUser" in wide
    # Piped, it is JSON: one object per detector, as the registry declares it.
    listed = orjson.loads(result.stdout)
    assert [d["id"] for d in listed] == list(REGISTRY.ids)
    created = next(d for d in listed if d["id"] == "iam-user-created")
    assert created["events"] == {"iam.amazonaws.com": ["CreateUser"]}
    assert created["severity"] == "medium" and created["attack_techniques"]
    # At 80 columns nothing is cut: every id is shown whole.
    narrow = iamwatch("detectors", "-f", "table", env={"COLUMNS": "80"}).stdout.decode()
    assert all(detector_id in narrow for detector_id in REGISTRY.ids)
    assert all(len(line) <= 80 for line in narrow.splitlines())


def test_runbook_command() -> None:
    raw = iamwatch("runbook", "root-account-used", "--raw").stdout
    assert b"## Triage" in raw
    # The Markdown as written: it starts with its title, and has no front matter.
    assert raw == (ROOT / "runbooks" / "root-account-used.md").read_bytes()
    assert raw.startswith(b"# Root user activity\n")
    rendered = iamwatch("runbook", "root-account-used")
    assert rendered.returncode == 0 and b"Triage" in rendered.stdout
    assert b"Root user activity" in rendered.stdout and b"+++" not in rendered.stdout
    missing = iamwatch("runbook", "no-such-detector")
    assert missing.returncode == 2 and b"no runbook for no-such-detector" in missing.stderr
