"""Your own detections: a package with ``iamwatch.detectors`` entry points (the worked example
in docs/custom-detector-example, as docs/custom-detectors.md builds it) is listed, tested with
``iamwatch test``, scanned with and routed like a built-in detector; and ``iamwatch test`` on
iamwatch's own fixtures. The package is made installed by its metadata on PYTHONPATH, as pip
would leave it, in real processes (the registry is built once per process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from iamwatch.aws.routing import PATTERN_FILE
from tests.conftest import ROOT, run_iamwatch, run_iamwatch_process

EXAMPLE = ROOT / "docs" / "custom-detector-example"
CASES = EXAMPLE / "cases"


def installed(tmp_path: Path, module: str = "acme_detections", entry: str | None = None) -> Path:
    """A site folder holding the example package and its dist-info (what pip install leaves)."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "acme_detections", site / module)
    info = site / "acme_iamwatch_detections-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-iamwatch-detections\nVersion: 0.1.0\n"
    )
    target = entry or f"{module}:DETECTORS"
    (info / "entry_points.txt").write_text(f"[iamwatch.detectors]\nacme = {target}\n")
    return site


def iamwatch(site: Path, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {"PYTHONPATH": str(site), "IAMWATCH_AUDIT_PATH": str(tmp_path / "audit.db")}
    return run_iamwatch_process(*args, env=env)


def test_a_plugin_detector_is_listed_tested_and_scanned(tmp_path: Path) -> None:
    site = installed(tmp_path)
    listed = iamwatch(site, "detectors", "--format", "json", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr.decode()
    ids = [d["id"] for d in orjson.loads(listed.stdout)]
    assert ids[-1] == "acme.long-session-role" and "iam-user-created" in ids

    tested = iamwatch(site, "test", str(CASES), tmp_path=tmp_path)
    assert tested.returncode == 0, tested.stdout.decode() + tested.stderr.decode()
    lines = tested.stdout.decode().splitlines()
    assert len(lines) == 3 and all(
        line.startswith("PASS acme.long-session-role/") for line in lines
    )
    assert b"3 passed, 0 failed" in tested.stderr

    record = json.loads(next(CASES.rglob("positive_role_with_twelve*")).read_text())["records"][0]
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [record]}))
    scanned = iamwatch(site, "scan", str(trail), "--format", "jsonl", tmp_path=tmp_path)
    assert scanned.returncode == 0, scanned.stderr.decode()
    (finding,) = [orjson.loads(line) for line in scanned.stdout.splitlines()]
    assert (finding["detector"], finding["severity"]) == ("acme.long-session-role", "high")
    assert finding["runbook_url"] == "https://wiki.example.com/security/runbooks/long-session-role"


def test_a_failing_case_fails_the_run_with_why(tmp_path: Path) -> None:
    site = installed(tmp_path)
    cases = tmp_path / "cases"
    shutil.copytree(CASES, cases)
    folder = cases / "acme.long-session-role"
    wrong = json.loads((folder / "positive_role_updated_to_four_hours_is_medium.json").read_text())
    wrong["severity"] = "critical"
    (folder / "positive_role_updated_to_four_hours_is_medium.json").write_text(json.dumps(wrong))
    (folder / "negative_broken.json").write_text("{not json")
    result = iamwatch(site, "test", str(cases), tmp_path=tmp_path)
    assert result.returncode == 1
    out = result.stdout.decode()
    assert "FAIL acme.long-session-role/positive_role_updated_to_four_hours_is_medium" in out
    assert "expected severity critical" in out
    assert "FAIL acme.long-session-role/negative_broken  cannot run the case" in out
    assert b"2 passed, 2 failed, of 4 case(s)." in result.stderr


def test_the_generated_eventbridge_pattern_routes_the_plugins_events(tmp_path: Path) -> None:
    site = installed(tmp_path)
    out = tmp_path / "deploy"
    result = subprocess.run(
        [sys.executable, "-m", "iamwatch.aws.routing", str(out)],
        env={"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    pattern = json.loads((out / PATTERN_FILE).read_text())
    names = {
        name
        for branch in pattern["detail"]["$or"]
        if branch.get("eventSource") == ["iam.amazonaws.com"]
        for name in branch["eventName"]
    }
    assert {"CreateRole", "UpdateRole", "CreateUser"} <= names


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.replace('id="acme.long-session-role"', 'id="iam-user-created"'),
         b"plugin detector 'iam-user-created' (acme_detections) needs a namespace"),
        (lambda s: s.replace('    runbook_url="https://wiki.example.com/security/runbooks/'
                             'long-session-role",\n', ""),
         b"declares no runbook_url"),
        (lambda s: s + "\nraise RuntimeError('broken plugin')\n",
         b"detector plugin 'acme' (acme_detections:DETECTORS) failed to load: RuntimeError"),
    ],
    ids=["no-namespace-cannot-shadow-a-built-in", "no-runbook", "import-fails"],
)  # fmt: skip
def test_a_bad_plugin_stops_iamwatch_naming_it(
    tmp_path: Path, change: object, message: bytes
) -> None:
    site = installed(tmp_path)
    module = site / "acme_detections" / "__init__.py"
    module.write_text(change(module.read_text()))  # type: ignore[operator]
    result = iamwatch(site, "detectors", tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr.decode()


def test_iamwatch_test_runs_the_built_in_fixtures() -> None:
    result = run_iamwatch("test")
    assert result.returncode == 0, result.stdout.decode()[-2000:]
    lines = result.stdout.decode().splitlines()
    assert lines and all(line.startswith("PASS ") for line in lines)
    assert any(line.startswith("PASS iam-user-created/negative_") for line in lines)
    only = run_iamwatch("-q", "test", "--detector", "root-account-used")
    assert only.returncode == 0 and only.stdout == b""
    assert run_iamwatch("test", "/no/such/folder").returncode == 2
