"""Shared test helpers: fixture cases from tests/events/, a fresh engine, a moto server."""

from __future__ import annotations

import copy
import gzip
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from detectors import REGISTRY
from iamwatch.audit import SQLiteAuditLog
from iamwatch.detection import DetectionService
from iamwatch.engine import DetectorFailure, Engine
from iamwatch.finding import Finding
from iamwatch.registry import DetectionContext, DetectionSettings
from iamwatch.sources import Location, Problem, Source
from iamwatch.state import SQLiteStateStore
from tests.cloudtrail_server import CloudTrailHistory
from tests.notifiers import Sleeps
from tests.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = Path(__file__).resolve().parent / "events"
EXAMPLES_DIR = ROOT / "examples"


# Each folder of tests is a layer with a marker of its own: `pytest -m unit` (the pure core and
# fakes through its ports, seconds), `-m integration` (real local servers: moto, the loopback
# Slack server, the packaged template, a browser), `-m e2e` (the command line end to end).
LAYERS = ("unit", "integration", "e2e")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = item.path.parent.name
        # The benchmark's peer checks need the bench extra (DuckDB, jq): `make bench` runs them,
        # and `pytest -m unit` must not pick them up on a machine without it.
        if layer in LAYERS and item.get_closest_marker("bench") is None:
            item.add_marker(getattr(pytest.mark, layer))


@dataclass(frozen=True)
class Case:
    """One fixture file: records processed in order, and every finding they must raise."""

    path: Path
    description: str
    records: list[dict[str, Any]]
    expect: list[dict[str, str]]

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"

    def expected_set(self) -> set[tuple[str, str, str]]:
        return {(e["detector"], e["severity"], e["event_id"]) for e in self.expect}


def load_case(path: Path) -> Case:
    data = orjson.loads(path.read_bytes())
    return Case(path, data["description"], data["records"], data["expect"])


def detector_cases() -> list[Case]:
    return [
        load_case(path)
        for path in sorted(EVENTS_DIR.glob("*/*.json"))
        if path.parent.name in REGISTRY
    ]


def messy_cases() -> list[Case]:
    return [load_case(path) for path in sorted((EVENTS_DIR / "messy").glob("*.json"))]


def base_record(detector_id: str = "iam-user-created") -> dict[str, Any]:
    """A deep copy of the first positive record for a detector, to vary in parser tests."""
    path = sorted((EVENTS_DIR / detector_id).glob("positive_*.json"))[0]
    return copy.deepcopy(load_case(path).records[0])


@dataclass(frozen=True)
class Ran:
    """What a run of ``iamwatch`` left: its exit code and its output, as bytes."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


def _environment(env: dict[str, str] | None, home: Path | None) -> dict[str, str]:
    """The user's environment without the developer's IAMWATCH_ settings, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IAMWATCH_")}
    if home is not None:
        base["XDG_STATE_HOME"] = str(home)
    return {**base, **(env or {})}


def run_iamwatch(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    home: Path | None = None,
) -> Ran:
    """``iamwatch`` as a user runs it, in this process (typer's runner: milliseconds rather
    than a second per run), in a clean environment: no IAMWATCH_ setting leaks in from the
    developer's; ``env`` adds to it, ``home`` sets XDG_STATE_HOME (where the default audit
    trail goes). An exception that escapes the command is a crash, shown as Python would."""
    import traceback

    from typer.testing import CliRunner

    from iamwatch.cli import app

    wanted = _environment(env, home)
    changes: dict[str, str | None] = {key: None for key in os.environ if key not in wanted}
    changes.update(wanted)
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=changes)
    finally:
        os.chdir(here)
    stderr = result.stderr_bytes or b""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(result.exception))
        stderr += crash.encode()
    return Ran(tuple(args), result.exit_code, result.stdout_bytes, stderr)


def run_iamwatch_process(
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    home: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m iamwatch`` in a subprocess, for the few tests that need a real process:
    the entry point itself, pipes, signals, what reaches the terminal."""
    return subprocess.run(
        [sys.executable, "-m", "iamwatch", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=_environment(env, home),
        timeout=180,
        check=False,
    )


def findings_of(result: Ran | subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    """The findings a run printed as JSON Lines."""
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]


def new_engine(**settings: Any) -> Engine:
    context = DetectionContext(state=SQLiteStateStore(), settings=DetectionSettings(**settings))
    return Engine(REGISTRY, context)


def run_records(records: list[dict[str, Any]], engine: Engine | None = None) -> list[Finding]:
    engine = engine or new_engine()
    findings: list[Finding] = []
    for raw in records:
        evaluation = engine.evaluate_raw(raw)
        if evaluation is None:
            continue
        assert evaluation.failures == [], evaluation.failures
        findings.extend(evaluation.findings)
    return findings


def log_file_records(path: Path) -> list[dict[str, Any]]:
    """The records of a CloudTrail log file (``.json.gz``)."""
    records: list[dict[str, Any]] = orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def findings_in(paths: Iterable[Path]) -> set[tuple[str, str]]:
    """(detector, event id) of every finding the log files raise, read in order."""
    engine = new_engine()
    return {
        (finding.detector, finding.event_id)
        for path in paths
        for finding in run_records(log_file_records(path), engine)
    }


def example_files_with_findings(count: int) -> list[Path]:
    """The first ``count`` example log files that raise findings, and one of pure noise:
    enough to prove a path without replaying the whole archive through moto."""
    chosen: list[Path] = []
    noise: list[Path] = []
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz")):
        (chosen if findings_in([path]) else noise).append(path)
    return chosen[:count] + noise[:1]


def new_detection(engine: Engine | None = None, **options: Any) -> DetectionService:
    """The detection service with an in-memory audit trail and no sink."""
    return DetectionService(engine or new_engine(), SQLiteAuditLog(), **options)


@dataclass(frozen=True)
class FailedDetection:
    location: Location
    failure: DetectorFailure


def scan_items(
    detection: DetectionService, sources: Iterable[Source]
) -> list[Finding | Problem | FailedDetection]:
    """What a scan of ``sources`` reports, in order: problems, detector failures, findings."""
    items: list[Finding | Problem | FailedDetection] = []
    for item in detection.records(sources):
        if isinstance(item, Problem):
            items.append(item)
            continue
        outcome = detection.process(item.record, str(item.location))
        items.extend(FailedDetection(item.location, failure) for failure in outcome.failures)
        items.extend(outcome.raised)
    return items


@pytest.fixture(autouse=True, scope="session")
def _private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`iamwatch scan` keeps an audit trail under XDG_STATE_HOME by default; tests (and the CLI
    subprocesses they start) write theirs to a temporary folder, never the developer's.
    Session-scoped so it is in place before any module-scoped fixture runs the CLI."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state-home")))
        yield


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    """A Slack Web API server on loopback (tests/slack_server.py), fresh for each test."""
    with SlackServer() as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    """Stands in for time.sleep in Slack transports: records the waits, waits for nothing."""
    return Sleeps()


@pytest.fixture
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what the test sets, never from the developer's IAMWATCH_*."""
    for name in list(os.environ):
        if name.startswith("IAMWATCH_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on loopback standing in for AWS."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        # The AWS managed policies (AdministratorAccess, AWSDenyAll, ...) a real account has:
        # moto loads them once, when it first builds its IAM backend. Nothing resets the
        # server afterwards (that would reload them, seconds each time); tests use their own
        # names, and the `iam` fixture empties IAM instead.
        patch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def iam(aws_env: dict[str, str]) -> Any:
    """moto's IAM, emptied of what earlier tests made, with the AWS managed policies
    (AdministratorAccess, AWSDenyAll, ...) a real account has."""
    import boto3

    from tests.aws import empty_iam

    client = boto3.client("iam", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    empty_iam(client)
    return client


@pytest.fixture
def event_history(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTrailHistory]:
    """CloudTrail's event history (LookupEvents, which moto does not serve) on loopback, for
    whatever reads it through boto3 in this process: AWS_ENDPOINT_URL_CLOUDTRAIL points there.
    Use with ``aws_env`` (request it after, so its variable wins)."""
    with CloudTrailHistory() as history:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", history.url)
        yield history


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **env}
