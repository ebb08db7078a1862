"""The command line's conventions, as a user of the aws CLI, Prowler or Custodian expects them:
exit codes that tell "found something" from "could not read", bad input in one line, pipes and
Ctrl-C, duplicates, the table and its short ids, progress, Slack unreachable, and the common
options (-h, --version, -q, --no-color, --profile/--region, case-insensitive choices)."""

from __future__ import annotations

import gzip
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from tests.conftest import (
    EXAMPLES_DIR,
    ROOT,
    detector_cases,
    findings_of,
    run_iamwatch,
    run_iamwatch_process,
)

RECORDS: list[dict[str, Any]] = [r for case in detector_cases() for r in case.records]
ARCHIVE = EXAMPLES_DIR / "AWSLogs"


def scan(*args: str, tmp_path: Path, **kwargs: Any) -> Any:
    return run_iamwatch(
        "scan", *args, "--audit", str(tmp_path / "audit.db"), home=tmp_path, **kwargs
    )


# Inputs that cannot be read: exit 5, one line naming the source and the cause -----------


@pytest.fixture
def no_default_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """--profile/--region set boto3's default session, which outlives an in-process run."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.mark.usefixtures("no_default_session")
def test_a_missing_bucket_exits_5_with_one_line(tmp_path: Path, aws_env: dict[str, str]) -> None:
    result = scan("s3://no-such-bucket-here/AWSLogs/", tmp_path=tmp_path, env=aws_env)
    assert result.returncode == 5
    assert (
        result.stderr.decode().strip() == "error: s3://no-such-bucket-here/AWSLogs/: no such bucket"
    )


@pytest.mark.usefixtures("no_default_session")
@pytest.mark.parametrize(
    ("env", "cause"),
    [
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach AWS"),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no AWS credentials"),
    ],
    ids=["no-network", "no-credentials"],
)
def test_s3_without_network_or_credentials_exits_5_without_a_traceback(
    tmp_path: Path, aws_env: dict[str, str], env: dict[str, str], cause: str
) -> None:
    isolated = {
        **aws_env,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        **env,
    }
    result = scan("s3://trail/AWSLogs/", tmp_path=tmp_path, env=isolated)
    assert result.returncode == 5, result.stderr.decode()
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: s3://trail/AWSLogs/: " + cause)
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.usefixtures("no_default_session")
def test_profile_and_region_are_the_aws_clis(tmp_path: Path, aws_env: dict[str, str]) -> None:
    boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"]).create_bucket(
        Bucket="eu-trail", CreateBucketConfiguration={"LocationConstraint": "eu-north-1"}
    )
    result = scan("s3://eu-trail/", "--region", "eu-north-1", tmp_path=tmp_path, env=aws_env)
    assert result.returncode == 0, result.stderr.decode()
    assert boto3.DEFAULT_SESSION is not None
    assert boto3.DEFAULT_SESSION.region_name == "eu-north-1"
    missing = scan("s3://eu-trail/", "--profile", "nope", tmp_path=tmp_path, env=aws_env)
    assert missing.returncode == 2
    assert b"The config profile (nope) could not be found" in missing.stderr


def test_an_unreadable_file_exits_5_after_reading_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "trail.json"
    good.write_bytes(orjson.dumps({"Records": RECORDS}))
    # Opens, then every read fails with EIO (root can open any file, so chmod proves nothing).
    result = scan(str(good), "/proc/self/mem", "--format", "jsonl", tmp_path=tmp_path)
    assert result.returncode == 5
    assert findings_of(result), "what could be read was scanned"
    assert re.search(rb"^error: /proc/self/mem: .*read failed", result.stderr, re.MULTILINE)
    assert b"Inputs that could not be read: 1." in result.stderr


# Nothing read, garbage, files named anything ------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.mkdir(),
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(orjson.dumps({"name": "not a trail", "version": 3})),
        lambda p: p.write_bytes(random.Random(7).randbytes(4096)),
    ],
    ids=["empty-folder", "empty-file", "other-json", "binary"],
)
def test_a_scan_that_reads_no_cloudtrail_says_so_and_strict_exits_5(
    tmp_path: Path, make: Any
) -> None:
    target = tmp_path / "input"
    make(target)
    result = scan(str(target), "--format", "jsonl", tmp_path=tmp_path)
    assert result.returncode == 0
    assert b"warning: no CloudTrail records were found in the input" in result.stderr
    strict = scan(str(target), "--format", "jsonl", "--strict", tmp_path=tmp_path)
    assert strict.returncode == 5
    with_records = scan(str(ARCHIVE), "--strict", "--format", "jsonl", tmp_path=tmp_path)
    assert with_records.returncode == 0


def test_a_large_random_file_costs_one_line_not_thousands(tmp_path: Path) -> None:
    noise = tmp_path / "noise.json"
    noise.write_bytes(b"{" + random.Random(1).randbytes(2 * 1024 * 1024))
    result = scan(str(noise), "--format", "jsonl", tmp_path=tmp_path)
    warnings = [line for line in result.stderr.splitlines() if line.startswith(b"warning:")]
    assert len(warnings) <= 7, warnings[:10]


def test_garbage_lines_are_capped_per_file(tmp_path: Path) -> None:
    lines = [orjson.dumps(RECORDS[0])] + [b"{garbage %d" % n for n in range(500)]
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join(lines))
    result = scan(str(path), "--format", "jsonl", tmp_path=tmp_path)
    shown = [line for line in result.stderr.splitlines() if b"not valid JSON" in line]
    assert len(shown) == 5
    assert b"more malformed records; only the first 5 are shown" in result.stderr
    assert b"Malformed records or files: 500." in result.stderr


def test_files_are_sniffed_by_content_whatever_their_names(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "trail.log").write_bytes(gzip.compress(orjson.dumps({"Records": RECORDS})))
    (folder / "notes.txt").write_text("not a log file")
    result = scan(str(folder), "--format", "jsonl", tmp_path=tmp_path)
    assert result.returncode == 0
    assert findings_of(result), "a gzip CloudTrail file named .log is read"
    assert b"skipped 1 file(s) holding no CloudTrail records" in result.stderr
    assert b"notes.txt" in result.stderr


# Duplicates -------------------------------------------------------------------------------


def test_a_record_read_twice_raises_its_findings_once(tmp_path: Path) -> None:
    once = findings_of(scan(str(ARCHIVE), "--format", "jsonl", tmp_path=tmp_path))
    twice = scan(str(ARCHIVE), str(ARCHIVE), "--format", "jsonl", tmp_path=tmp_path)
    assert [f["finding_id"] for f in findings_of(twice)] == [f["finding_id"] for f in once]
    assert re.search(rb"Records already scanned, skipped: \d+", twice.stderr)


def test_with_state_a_rescan_raises_nothing_new(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first = scan(str(ARCHIVE), "--format", "jsonl", "--state", str(state), tmp_path=tmp_path)
    again = scan(str(ARCHIVE), "--format", "jsonl", "--state", str(state), tmp_path=tmp_path)
    assert findings_of(first) and findings_of(again) == []
    assert first.returncode == again.returncode == 0


# Pipes and Ctrl-C (real processes) -------------------------------------------------------


def test_a_closed_stdout_ends_quietly_with_0(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IAMWATCH_")},
        "IAMWATCH_AUDIT_PATH": str(tmp_path / "a.db"),
    }
    many = tmp_path / "many.jsonl"
    many.write_bytes(b"\n".join(orjson.dumps(r) for r in RECORDS * 30))
    for command in (
        f"{sys.executable} -m iamwatch scan {many} -f jsonl | head -1",
        f"{sys.executable} -m iamwatch slack preview root-account-used | head -1",
        f"{sys.executable} -m iamwatch detectors -f json | head -2",
    ):
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            capture_output=True, cwd=ROOT, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (command, result.stderr.decode())
        assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr


def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    env = {**os.environ, "IAMWATCH_AUDIT_PATH": str(tmp_path / "a.db")}
    process = subprocess.Popen(
        [sys.executable, "-m", "iamwatch", "scan", "-", "--format", "jsonl"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env,
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(orjson.dumps(RECORDS[0]) + b"\n")
    process.stdin.flush()
    time.sleep(1.5)  # a real process must be started and reading before it is interrupted
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert b"interrupted" in stderr and b"Traceback" not in stderr


# The table and short ids ------------------------------------------------------------------


def test_the_table_shows_short_ids_that_remediate_and_export_take(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    jsonl = findings_of(
        run_iamwatch("scan", str(ARCHIVE), "-f", "jsonl", "--audit", str(audit), home=tmp_path)
    )
    table = run_iamwatch(
        "scan", str(ARCHIVE), "-f", "table", "--audit", str(tmp_path / "t.db"),
        env={"COLUMNS": "80"}, home=tmp_path,
    ).stdout.decode()  # fmt: skip
    with_actions = next(f for f in jsonl if f["detector"] == "access-key-created")
    short = with_actions["finding_id"][:8]
    assert short in table
    assert all(len(line) <= 80 for line in table.splitlines())
    # ARNs are folded onto more lines, never cut short with an ellipsis.
    assert "\u2026" not in table
    wide = run_iamwatch(
        "scan", str(ARCHIVE), "-f", "table", "--audit", str(tmp_path / "w.db"),
        env={"COLUMNS": "400"}, home=tmp_path,
    ).stdout.decode()  # fmt: skip
    assert all(f["actor"] in wide for f in jsonl)
    plan = run_iamwatch("remediate", short, "--audit", str(audit), home=tmp_path)
    assert plan.returncode == 0, plan.stderr.decode()
    assert b"Dry run" in plan.stdout
    exported = run_iamwatch(
        "export", "--audit", str(audit), "--since", "2026-11-01", "--finding", short,
        home=tmp_path,
    )  # fmt: skip
    assert [e["finding_id"] for e in findings_of(exported)] == [with_actions["finding_id"]]
    ambiguous = run_iamwatch("remediate", "0000", "--audit", str(audit), home=tmp_path)
    assert ambiguous.returncode == 2


def test_json_is_one_document(tmp_path: Path) -> None:
    document = orjson.loads(scan(str(ARCHIVE), "--format", "JSON", tmp_path=tmp_path).stdout)
    streamed = findings_of(scan(str(ARCHIVE), "-f", "jsonl", tmp_path=tmp_path))
    assert sorted(f["finding_id"] for f in document) == sorted(f["finding_id"] for f in streamed)


# Progress within a file -----------------------------------------------------------------


def test_progress_moves_within_one_large_file(tmp_path: Path) -> None:
    from iamwatch.sources import ByteCounter, Source, read_source

    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in RECORDS * 200))
    heard: list[int] = []
    counter = ByteCounter(watcher=heard.append, step=256 * 1024)
    for _ in read_source(Source(str(path), path.stat().st_size, "file"), counter):
        pass
    # As often as the file is read (a megabyte at a time), not once at its end.
    assert len(heard) >= path.stat().st_size // (1024 * 1024) - 1
    assert heard == sorted(heard) and counter.total == path.stat().st_size


# Slack unreachable: fail fast, say each failure when it happens --------------------------


def test_with_slack_unreachable_the_scan_fails_fast_and_names_each_finding(tmp_path: Path) -> None:
    env = {
        "IAMWATCH_SLACK_TOKEN": "xoxb-test",
        "IAMWATCH_SLACK_CHANNEL": "#alerts",
        "IAMWATCH_SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    result = scan(str(ARCHIVE), "--format", "jsonl", "--slack", tmp_path=tmp_path, env=env)
    assert result.returncode == 4
    findings = findings_of(result)
    failed = re.findall(
        rb"^error: slack: failed: \S+ ([0-9a-f-]{36})(?: to \S+)?: (.+)$", result.stderr, re.M
    )
    assert {fid.decode() for fid, _ in failed} == {f["finding_id"] for f in findings}
    reasons = [reason for _, reason in failed]
    assert reasons[0].startswith(b"connection failed")
    # The breaker: after three consecutive connection failures the rest are not even tried.
    assert sum(r.startswith(b"not sent: Slack unreachable") for r in reasons) >= len(reasons) - 3


# Common options -----------------------------------------------------------------------------


def test_version_help_and_exit_codes() -> None:
    from importlib.metadata import version

    assert run_iamwatch("--version").stdout.decode().strip() == f"iamwatch {version('iamwatch')}"
    for args in (("-h",), ("scan", "-h"), ("export", "--help")):
        shown = run_iamwatch(*args)
        assert shown.returncode == 0 and b"Exit codes" in shown.stdout
    helps = b"".join(run_iamwatch(*args, "-h").stdout for args in (["scan"], ["remediate"], []))
    assert b"<bool>" not in helps and b"<str>" not in helps
    assert b"--install-completion" in run_iamwatch("-h").stdout
    bare = run_iamwatch("remediate")
    assert bare.returncode == 2 and b"not both" not in bare.stderr


def test_choices_are_case_insensitive(tmp_path: Path) -> None:
    result = scan(str(ARCHIVE), "--format", "JSONL", "--min-severity", "HIGH", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert {f["severity"] for f in findings_of(result)} <= {"high", "critical"}
    assert (
        scan(str(ARCHIVE), "-f", "jsonl", "--fail-on", "Critical", tmp_path=tmp_path).returncode
        == 1
    )


def test_quiet_keeps_results_and_warnings_only(tmp_path: Path) -> None:
    loud = scan(str(EXAMPLES_DIR), "-f", "jsonl", tmp_path=tmp_path)
    quiet = run_iamwatch("-q", "scan", str(EXAMPLES_DIR), "-f", "jsonl", "--audit",
                         str(tmp_path / "q.db"), home=tmp_path)  # fmt: skip
    assert quiet.stdout == loud.stdout
    assert b"Scanned" in loud.stderr and b"Scanned" not in quiet.stderr
    assert b"warning: skipped" in quiet.stderr


def test_no_color_and_NO_COLOR(tmp_path: Path) -> None:
    forced = {"FORCE_COLOR": "1", "COLUMNS": "120"}
    colored = run_iamwatch("detectors", "-f", "table", env=forced)
    assert b"\x1b[" in colored.stdout
    assert b"\x1b[" not in run_iamwatch("--no-color", "detectors", "-f", "table", env=forced).stdout
    plain = run_iamwatch("detectors", "-f", "table", env={**forced, "NO_COLOR": "1"})
    assert b"\x1b[" not in plain.stdout


def test_a_bad_value_in_the_config_file_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "iamwatch.toml"
    config.write_text('slack_dedup_window_seconds = "soon"\nslak_channel = "#x"\n')
    result = scan(str(ARCHIVE), "--config", str(config), tmp_path=tmp_path)
    assert result.returncode == 2
    message = result.stderr.decode()
    assert f"{config}: slack_dedup_window_seconds: Input should be a valid integer" in message
    assert f"{config}: slak_channel: not a setting iamwatch knows" in message
    assert "IAMWATCH_SLACK_DEDUP_WINDOW_SECONDS" not in message


def test_a_scan_in_a_process_reports_the_same_as_in_process(tmp_path: Path) -> None:
    result = run_iamwatch_process(
        "scan", str(ARCHIVE), "-f", "jsonl", env={"IAMWATCH_AUDIT_PATH": str(tmp_path / "a.db")}
    )
    assert result.returncode == 0 and findings_of(result)


def test_the_runtime_needs_no_click_and_a_usage_error_exits_2(tmp_path: Path) -> None:
    """`make demo` installs the runtime alone, where no Click is installed beside typer's own
    copy (the development extras bring one): a Click that cannot be imported changes nothing."""
    shadow = tmp_path / "shadow" / "click"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('click is not a runtime dependency')\n")
    env = {"PYTHONPATH": str(shadow.parent), "IAMWATCH_AUDIT_PATH": str(tmp_path / "a.db")}
    usage = run_iamwatch_process("scan", "--format", "bogus", str(ARCHIVE), env=env)
    assert usage.returncode == 2
    assert b"Traceback" not in usage.stderr
    assert b"'bogus' is not one of" in usage.stderr
    scanned = run_iamwatch_process("scan", str(ARCHIVE), "-f", "jsonl", env=env)
    assert scanned.returncode == 0 and findings_of(scanned), scanned.stderr
