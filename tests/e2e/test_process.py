"""A few runs of ``python -m iamwatch`` as a real process (the other e2e tests run the same
command line in-process): the entry point, a pipe into stdin, output identical either way."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from tests.conftest import EXAMPLES_DIR, findings_of, run_iamwatch, run_iamwatch_process


def test_the_entry_point_runs_and_lists_its_commands() -> None:
    result = run_iamwatch_process("--help")
    assert result.returncode == 0, result.stderr.decode()
    for command in (b"scan", b"export", b"detectors", b"runbook", b"remediate", b"slack"):
        assert command in result.stdout


def test_a_scan_in_a_process_prints_what_the_in_process_scan_prints(tmp_path: Path) -> None:
    args = ("scan", str(EXAMPLES_DIR), "--format", "jsonl")
    process = run_iamwatch_process(*args, env={"IAMWATCH_AUDIT_PATH": f"{tmp_path}/a.db"})
    inside = run_iamwatch(*args, env={"IAMWATCH_AUDIT_PATH": f"{tmp_path}/b.db"})
    assert process.returncode == inside.returncode == 0, process.stderr.decode()
    assert process.stdout == inside.stdout
    assert findings_of(process)


def test_a_gzip_stream_piped_into_stdin_is_scanned(tmp_path: Path) -> None:
    path = sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz"))[0]
    records = orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    result = run_iamwatch_process(
        "scan", "-", "--format", "jsonl", stdin=path.read_bytes(),
        env={"IAMWATCH_AUDIT_PATH": f"{tmp_path}/a.db"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert f"{len(records):,} records".encode() in result.stderr
