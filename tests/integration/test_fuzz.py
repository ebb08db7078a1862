"""Hostile and malformed input, property-based: real-shaped CloudTrail records from
tests/events, mutated (wrong types, missing and null fields, deep nesting, huge strings,
unicode with lone surrogates and control characters, 256 KB events), through every stage:
parse, detect, render (Slack), audit (SQLite, appended and read back) and export (JSON Lines,
CSV, OCSF). Batches mixing malformed records with good ones report each malformed one, with its
place and reason, and detect the rest. A corpus of hostile strings goes into every
attacker-controlled field at once: no live Slack mention or link, no spreadsheet formula, no
forged line in the Lambda handler's logs. Broken files (invalid UTF-8, truncated gzip, non-JSON
lines) go through the reader the CLI uses; the backfill path's are in test_handler_backfill.py.

The default run is short (60 examples per property). The long run is behind the ``slow``
marker: ``pytest -m slow tests/integration/test_fuzz.py`` (2,000 examples per property).
``pytest -s`` prints a FUZZ line with what ran.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors import REGISTRY
from handlers import events
from iamwatch.audit import AuditKind, SQLiteAuditLog, finding_raised, malformed_event
from iamwatch.detection import DetectionService
from iamwatch.engine import Engine, MalformedRecordError, parse_record
from iamwatch.export import ExportFormat, collect
from iamwatch.export import render as export
from iamwatch.export.csv import COLUMNS
from iamwatch.finding import Finding
from iamwatch.observability import logger as powertools_logger
from iamwatch.slack.render import render
from iamwatch.sources import Problem, Source
from iamwatch.text import encodable
from tests.aws import LambdaContext, deploy, eventbridge_event
from tests.conftest import (
    EVENTS_DIR,
    EXAMPLES_DIR,
    Case,
    FailedDetection,
    base_record,
    detector_cases,
    load_case,
    new_detection,
    new_engine,
    scan_items,
)
from tests.slack_server import live_tokens, message_texts, payload_problems

BASES: list[dict[str, Any]] = [r for case in detector_cases() for r in case.records] + [
    r for path in sorted((EVENTS_DIR / "messy").glob("*.json")) for r in load_case(path).records
]
SHORT = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
LONG = settings(
    SHORT,
    max_examples=2000,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "@here @channel @everyone",
    "<@U0123ABCD>",
    "<#C0123ABCD>",
    "<https://evil.example.com|click me>",
    "https://evil.example.com/login",
    "evil.example.com",
    "admin@evil.example.com",
    "www.evil.example",
    "*bold* _it_ ~strike~ `code` ```block```",
    "&lt;!channel&gt; &amp; &#60;",
    'line\nforged: log line\r\n{"level":"ERROR"}',
    "\x1b[2J\x1b[31mred\x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
    "\u202egnp.exe\u202c \u200b\u2066\u2069\ufeff",
    '=HYPERLINK("https://evil.example")',
    "+cmd|' /C calc'!A0",
    "\ud800 lone \udfff surrogates",
    "\x00\x01\x7f\x9b nul and C1",
    "\U0001f600\U0001f1fa\U0001f1f8 emoji \u0301\u0301\u0301",
    "null",
    "None",
    "",
    "   ",
    "xoxb-1234-5678-abcdef",
    # Spreadsheet formulas and DDE, with the prefixes OWASP lists.
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    '\r=HYPERLINK("https://evil.example","x")',
    # Log forging: a whole fake JSON line, a field that tries to close its string, and
    # Unicode line breaks.
    '\n{"level":"CRITICAL","message":"iamwatch disabled","forged":true}\n',
    '","level":"ERROR","forged":"',
    "\u2028forged\u2029line\x85next",
]
# 256 KB in one field (an EventBridge event's whole budget), opening with live tokens.
LARGE = "<!channel> =cmd\n" + "x" * 262_144


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(HOSTILE),
        st.text(
            st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
            max_size=60,
        ),
        st.sampled_from(["A" * 262_144, "\u00e9" * 70_000, "<!channel>" * 20_000]),
    )


def values() -> st.SearchStrategy[Any]:
    return st.one_of(
        scalars(),
        st.lists(scalars(), max_size=4),
        st.dictionaries(
            st.sampled_from([*HOSTILE, "userName", "arn", "type"]), scalars(), max_size=4
        ),
        st.integers(min_value=1, max_value=300).map(nested),
        st.just({}),
        st.just([]),
    )


def paths(record: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a record a value could be replaced or removed."""
    found = [prefix] if prefix else []
    if isinstance(record, dict):
        for key, value in record.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(record, list):
        for index, value in enumerate(record):
            found.extend(paths(value, (*prefix, index)))
    return found


@st.composite
def mutated_records(draw: st.DrawFn) -> Any:
    record = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        candidates = paths(record)
        if not candidates or not isinstance(record, dict):
            break
        path = draw(st.sampled_from(candidates))
        parent: Any = record
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "hostile"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "hostile":
            parent[path[-1]] = draw(st.sampled_from(HOSTILE))
        else:
            parent[path[-1]] = draw(values())
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        return draw(values())  # not even an object
    return record


# What ran, for the FUZZ line (pytest -s) and SECURITY.md.
RAN: Counter[str] = Counter()

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END = datetime(9999, 1, 1, tzinfo=UTC)
# What makes a spreadsheet evaluate a cell (OWASP's CSV injection list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print("\nFUZZ " + ", ".join(f"{name}={count}" for name, count in sorted(RAN.items())))


def check_record(raw: Any, engine: Engine | None = None) -> list[Finding]:
    """One raw record through every stage; only ``MalformedRecordError`` (with a reason) may
    stop it, and then the reason itself goes through the audit trail."""
    RAN["records"] += 1
    engine = engine or new_engine()
    try:
        engine.wants(raw) if isinstance(raw, dict) else None
        record = parse_record(raw)
    except MalformedRecordError as error:
        reason = str(error)
        assert reason  # reported with a reason
        RAN["malformed"] += 1
        check_downstream([], [("fuzz.jsonl: line 1", reason)])
        return []
    evaluation = engine.evaluate(record)
    assert evaluation.failures == [], evaluation.failures
    for finding in evaluation.findings:
        check_slack(finding)
    check_downstream(evaluation.findings)
    return evaluation.findings


def check_slack(finding: Finding) -> None:
    RAN["slack messages"] += 1
    message = render(finding)
    body = {"channel": "#alerts", "text": message.text, "blocks": list(message.blocks)}
    assert payload_problems(body) == []
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # sendable as UTF-8 JSON
    for text, _kind in message_texts(body):
        assert live_tokens(text) == [], text[:200]


def check_downstream(findings: list[Finding], problems: Sequence[tuple[str, str]] = ()) -> None:
    """Audit (append, read back) and export (JSON Lines, CSV, OCSF) what one run produced."""
    log = SQLiteAuditLog()
    try:
        for finding in findings:
            log.append(finding_raised(finding))
        for where, reason in problems:
            log.append(malformed_event(where, reason))
        trail = list(log.read(EPOCH, END))
        rows = collect(log, EPOCH, END)
    finally:
        log.close()
    RAN["audited"] += len(trail)
    raised = [r for r in trail if r.kind is AuditKind.FINDING_RAISED]
    assert {r.finding_id: Finding.model_validate(r.data["finding"]) for r in raised} == {
        f.finding_id: f for f in findings
    }
    reported = [
        (r.data["location"], r.data["reason"]) for r in trail if r.kind is AuditKind.MALFORMED_EVENT
    ]
    assert sorted(reported) == sorted((encodable(w), encodable(r)) for w, r in problems)
    jsonl = export(rows, ExportFormat.JSONL).splitlines()
    assert sorted(orjson.loads(line)["finding_id"] for line in jsonl) == sorted(
        f.finding_id for f in findings
    )
    assert formula_cells(export(rows, ExportFormat.CSV), len(findings)) == []
    # Each OCSF event is validated against the schema as it is written.
    assert len(export(rows, ExportFormat.OCSF).splitlines()) == len(findings)
    RAN["exported"] += len(rows)


def formula_cells(content: bytes, expected_rows: int) -> list[str]:
    """Cells of a CSV export that a spreadsheet would evaluate."""
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(COLUMNS) and len(rows) == expected_rows + 1
    cells = [cell for row in rows[1:] for cell in row]
    # A spreadsheet may split a cell again at ; | tab or a line break (defect 10).
    pieces = [piece for cell in cells for piece in re.split(r"[;|\t\r\n]", cell)[1:]]
    return [
        text
        for text in (*cells, *(piece.lstrip(' "') for piece in pieces))
        if text.startswith(FORMULA_START)
    ]


@SHORT
@given(mutated_records())
def test_mutated_records_never_crash_any_stage(raw: Any) -> None:
    check_record(raw)


@SHORT
@given(st.sampled_from(BASES), st.sampled_from(HOSTILE), st.data())
def test_hostile_strings_in_every_field_render_inert(
    base: dict[str, Any], hostile: str, data: st.DataObject
) -> None:
    """A hostile string in one attacker-controlled field of a record that raises a finding."""
    hostile_case(base, hostile, data)


def hostile_case(base: dict[str, Any], hostile: str, data: st.DataObject) -> None:
    record = copy.deepcopy(base)
    strings = [p for p in paths(record) if isinstance(_get(record, p), str)]
    path = data.draw(st.sampled_from(strings))
    _set(record, path, _get(record, path) + hostile)
    check_record(record)


def test_a_256_kb_event_is_handled() -> None:
    for base in BASES[:20]:
        record = copy.deepcopy(base)
        record["userAgent"] = "<!channel> " + "x" * 262_144
        record.setdefault("requestParameters", {})
        if isinstance(record["requestParameters"], dict):
            record["requestParameters"]["userName"] = "<@U1> " + "\u00e9" * 131_072
        for finding in check_record(record):
            # Bounded, so one finding always fits an SQS message and a DynamoDB item.
            assert len(finding.model_dump_json()) < 64_000


def _get(record: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        record = record[step]
    return record


def _set(record: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(record, path[:-1])[path[-1]] = value


# Batches: every malformed record reported with its place and reason, the rest detected -------

POSITIVE_CASES = [c for c in detector_cases() if c.path.stem.startswith("positive_")]
# The fields that decide whether a record is wanted at all; mutations before the breakage
# leave them alone, so that the breakage is what makes the record malformed.
KEYS = frozenset({"eventSource", "eventName", "eventTime", "userIdentity"})
NOT_TIMES: list[Any] = [None, True, [], {}, 1e300, "yesterday", "2026-13-45T99:00:00Z", "", "null"]
NOT_NAMES: list[Any] = [None, 7, ["iam.amazonaws.com"], {"name": "CreateUser"}, True]
NOT_OBJECTS = [b'"a string"', b"42", b"null", b"true", b"1.5"]
# Records some detector wants for their event, not only for who acted (root): broken, they are
# still wanted, so malformed rather than skipped unread.
WANTED_BY_EVENT = [
    record
    for case in POSITIVE_CASES
    for record in case.records
    if REGISTRY.wants(record["eventSource"], record["eventName"], None)
]


def encode_line(record: Any) -> bytes:
    """One JSON Lines line; what orjson cannot write (lone surrogates, huge numbers, NaN,
    300 levels of nesting) is written by ``json``, and the reader then rejects the line."""
    try:
        return orjson.dumps(record)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(record).encode("utf-8", "surrogatepass")


@st.composite
def malformed_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["field", "field", "not an object", "not JSON"]))
    if kind == "not JSON":
        return draw(st.sampled_from([g for g in GARBAGE if g not in NOT_OBJECTS]))
    if kind == "not an object":
        return draw(st.sampled_from(NOT_OBJECTS))
    record = copy.deepcopy(draw(st.sampled_from(WANTED_BY_EVENT)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        candidates = [path for path in paths(record) if path[0] not in KEYS]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        _set(record, path, draw(values()))
    breakage = draw(st.sampled_from(["time", "no time", "source", "name", "identity"]))
    if breakage == "time":
        record["eventTime"] = draw(st.sampled_from(NOT_TIMES))
    elif breakage == "no time":
        del record["eventTime"]
    elif breakage == "identity":
        record["userIdentity"] = draw(st.sampled_from(["root", 12, ["Root"], True]))
    else:
        record["eventSource" if breakage == "source" else "eventName"] = draw(
            st.sampled_from(NOT_NAMES)
        )
    return encode_line(record)


@st.composite
def batches(draw: st.DrawFn) -> tuple[Case, list[bytes], list[int]]:
    """The records of one positive case as JSON Lines, with malformed lines among them (never
    first: a first line that opens an object may start a pretty-printed document)."""
    case = draw(st.sampled_from(POSITIVE_CASES))
    lines = [orjson.dumps(record) for record in case.records]
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        position = draw(st.integers(min_value=1, max_value=len(lines)))
        lines.insert(position, b"\x00BAD" + draw(malformed_lines()))
    bad = [number for number, line in enumerate(lines, start=1) if line.startswith(b"\x00BAD")]
    return case, [line.removeprefix(b"\x00BAD") for line in lines], bad


def scan_batch(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> tuple[DetectionService, list[Any], Path]:
    path = tmp_path_factory.mktemp("batch") / "records.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    scanner, items = scan_file(path)
    return scanner, items, path


@SHORT
@given(batches())
def test_a_batch_reports_each_malformed_record_and_detects_the_rest(
    tmp_path_factory: pytest.TempPathFactory, batch: tuple[Case, list[bytes], list[int]]
) -> None:
    check_batch(tmp_path_factory, batch)


def check_batch(
    tmp_path_factory: pytest.TempPathFactory, batch: tuple[Case, list[bytes], list[int]]
) -> None:
    case, lines, bad = batch
    RAN["batches"] += 1
    RAN["malformed lines in batches"] += len(bad)
    scanner, items, path = scan_batch(tmp_path_factory, lines)
    problems = [item for item in items if isinstance(item, Problem)]
    assert sorted(p.location.position for p in problems) == sorted(f"line {n}" for n in bad)
    assert all(str(path) == p.location.source and p.reason for p in problems)
    assert scanner.stats.malformed == len(bad)
    assert not [item for item in items if isinstance(item, FailedDetection)]
    findings = [item for item in items if isinstance(item, Finding)]
    assert {(f.detector, f.severity.value, f.event_id) for f in findings} == case.expected_set()
    check_downstream(findings, [(str(p.location), p.reason) for p in problems])


# A hostile string in every attacker-controlled field at once -------------------------------

# One positive case per detector, whole (stateful detectors need every record).
HOSTILE_CASES = list({c.path.parent.name: c for c in reversed(POSITIVE_CASES)}.values())
# Left as they are, so the records still raise findings and the hostile text reaches every
# stage: what routes a record, and the values detectors compare exactly.
STRUCTURAL = frozenset(
    {
        "eventSource", "eventName", "eventTime", "type", "ConsoleLogin", "MFAUsed", "status",
        "policyArn", "managedPolicyArn", "policyDocument", "inlinePolicy",
        "assumeRolePolicyDocument", "CredentialType", "UserAuthentication",
    }
)  # fmt: skip
MODES = {
    "prefix": lambda value, hostile: hostile + value,
    "append": lambda value, hostile: value + hostile,
    "replace": lambda value, hostile: hostile,
}


def attacker_fields(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        path
        for path in paths(record)
        if isinstance(_get(record, path), str) and path[-1] not in STRUCTURAL
    ]


def everywhere(record: dict[str, Any], hostile: str, mode: str) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    for path in attacker_fields(changed):
        _set(changed, path, MODES[mode](_get(changed, path), hostile))
    return changed


@pytest.mark.parametrize("hostile", [*HOSTILE, LARGE], ids=lambda h: repr(h[:24]))
def test_a_hostile_string_in_every_field_is_inert_at_every_stage(hostile: str) -> None:
    fired: dict[str, set[str]] = {mode: set() for mode in MODES}
    for case in HOSTILE_CASES:
        for mode in MODES:
            engine = new_engine()
            for record in case.records:
                RAN["hostile fields"] += len(attacker_fields(record))
                findings = check_record(everywhere(record, hostile, mode), engine)
                fired[mode] |= {f.detector for f in findings}
    RAN["hostile strings"] += 1
    # Appended to every field, the hostile text reaches a finding of every detector.
    assert fired["append"] == set(REGISTRY.ids)


# What the fuzzing found, kept as plain examples ---------------------------------------------


def regressions() -> dict[str, dict[str, Any]]:
    user = copy.deepcopy(base_record("iam-user-created"))
    role = next(r for r in WANTED_BY_EVENT if r["userIdentity"].get("sessionContext"))
    return {
        "lone surrogates in every field": everywhere(user, "\udc80", "append"),
        "no account anywhere": {
            **user,
            "recipientAccountId": None,
            "userIdentity": {**user["userIdentity"], "accountId": None},
        },
        "unreadable session creationDate": {
            **role,
            "userIdentity": {
                **role["userIdentity"],
                "sessionContext": {
                    **role["userIdentity"]["sessionContext"],
                    "attributes": {"creationDate": "yesterday", "mfaAuthenticated": "false"},
                },
            },
        },
        "256 KB eventID and user name": {
            **user,
            "eventID": "e" * 262_144,
            "requestParameters": {"userName": "\u00e9" * 262_144},
        },
    }


@pytest.mark.parametrize("name", list(regressions()))
def test_what_the_fuzzing_found_is_detected_and_stored(name: str) -> None:
    (finding, *_) = check_record(regressions()[name])
    assert len(finding.model_dump_json()) < 64_000
    assert len(finding.event_id) <= 128


# The Lambda handler's logs: one JSON object per line, whatever the event holds ---------------

LOG_BASES = [
    next(c for c in POSITIVE_CASES if c.path.parent.name == detector_id).records[0]
    for detector_id in ("iam-user-created", "root-account-used", "iamwatch-tampering")
]


class Recorder(logging.Handler):
    """Every log record the powertools logger handles, to count the lines it must write."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def lambda_logs(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Recorder]]:
    """The detect handler deployed on moto, its log stream captured as Lambda ships it: UTF-8
    bytes, written strictly (what cannot be encoded is lost, with a traceback on stderr)."""
    deploy(moto_endpoint, monkeypatch)
    handler = powertools_logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    previous = handler.setStream(stream)
    recorder = Recorder()
    logging.getLogger(powertools_logger.name).addHandler(recorder)
    try:
        yield stream, recorder
    finally:
        handler.setStream(previous)
        logging.getLogger(powertools_logger.name).removeHandler(recorder)


def test_hostile_strings_never_forge_or_lose_a_log_line(lambda_logs: tuple[Any, Recorder]) -> None:
    """Every field of detected and of malformed events (whose reason quotes the bad value)
    carries a hostile string, and the eventID becomes every line's correlation id."""
    stream, recorder = lambda_logs
    for hostile in [*HOSTILE, LARGE]:
        for base in LOG_BASES:
            detected = everywhere(base, hostile, "append")
            malformed = {**detected, "eventTime": hostile}
            for detail in (detected, malformed):
                envelope = eventbridge_event({**detail, "eventID": str(uuid.uuid4())})
                events.handler({**envelope, "detail": detail}, LambdaContext())
                RAN["lambda invocations"] += 1
    text = stream.buffer.getvalue().decode("utf-8")
    lines = text.split("\n")
    assert lines.pop() == "", "every line ends with a newline"
    logged = [orjson.loads(line) for line in lines]
    assert all(isinstance(line, dict) for line in logged)
    assert [line["level"] for line in logged] == [r.levelname for r in recorder.records]
    assert not [line for line in logged if "forged" in line]
    messages = Counter(line["message"] for line in logged)
    assert messages["finding raised"] >= len(LOG_BASES) * (len(HOSTILE) + 1)
    assert messages["malformed event skipped"] == len(LOG_BASES) * (len(HOSTILE) + 1)
    RAN["log lines"] += len(logged)


# Files through the CLI's reader ------------------------------------------------------------

GZ_FILES = sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz"))[:5]
GARBAGE = [
    b"{not json",
    b"\xff\xfe\xfd invalid utf-8",
    b'{"Records": [1, 2',
    b"]]]",
    b"\x00\x01\x02",
    b'{"eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "x": "\xc3\x28"}',
    b'"just a string"',
    b"42",
]


def scan_file(path: Path) -> tuple[DetectionService, list[Any]]:
    detection = new_detection()
    source = Source(name=str(path), size=path.stat().st_size, kind="file")
    return detection, scan_items(detection, [source])


def records_of(path: Path) -> list[dict[str, Any]]:
    return list(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])


@SHORT
@given(st.sampled_from(GZ_FILES), st.floats(min_value=0.0, max_value=0.999))
def test_truncated_gzip_is_reported_with_a_location(
    tmp_path_factory: pytest.TempPathFactory, original: Path, fraction: float
) -> None:
    data = original.read_bytes()
    cut = max(1, int(len(data) * fraction))  # an empty file is empty, not truncated
    path = tmp_path_factory.mktemp("gz") / "truncated.json.gz"
    path.write_bytes(data[:cut])
    _scanner, items = scan_file(path)
    problems = [item for item in items if isinstance(item, Problem)]
    assert problems, "a truncated file is never read as complete"
    assert all(str(path) in str(p.location) and p.reason for p in problems)
    assert not [item for item in items if isinstance(item, FailedDetection)]


@st.composite
def jsonl_with_garbage(draw: st.DrawFn) -> tuple[bytes, int, list[int]]:
    records = [r for path in GZ_FILES[:2] for r in records_of(path)][:30]
    lines: list[bytes] = [orjson.dumps(r) for r in records]
    bad_lines: list[int] = []
    count = draw(st.integers(min_value=1, max_value=6))
    for _ in range(count):
        position = draw(st.integers(min_value=1, max_value=len(lines)))  # never line 1
        lines.insert(position, draw(st.sampled_from(GARBAGE)))
    numbered = list(enumerate(lines, start=1))
    good = len(records)
    bad_lines = [n for n, line in numbered if line in GARBAGE]
    return b"\n".join(lines) + b"\n", good, bad_lines


@SHORT
@given(jsonl_with_garbage())
def test_non_json_lines_are_reported_and_the_rest_is_scanned(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[bytes, int, list[int]]
) -> None:
    content, good, bad_lines = case
    path = tmp_path_factory.mktemp("jsonl") / "records.jsonl"
    path.write_bytes(content)
    scanner, items = scan_file(path)
    problems = [item for item in items if isinstance(item, Problem)]
    assert sorted(p.location.position for p in problems) == sorted(
        f"line {n}" for n in bad_lines
    ), [(str(p.location), p.reason) for p in problems]
    assert all(p.reason for p in problems)
    assert scanner.stats.records == good


@SHORT
@given(st.sampled_from(GZ_FILES), st.data())
def test_invalid_utf8_inside_a_log_file_is_reported(
    tmp_path_factory: pytest.TempPathFactory, original: Path, data: st.DataObject
) -> None:
    text = gzip.decompress(original.read_bytes())
    offset = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    broken = text[:offset] + b"\xff\xc3" + text[offset:]
    path = tmp_path_factory.mktemp("utf8") / "broken.json.gz"
    path.write_bytes(gzip.compress(broken))
    _scanner, items = scan_file(path)
    problems = [item for item in items if isinstance(item, Problem)]
    assert problems and all(str(path) in str(p.location) and p.reason for p in problems)


def test_an_io_error_is_a_transient_problem_and_corrupt_data_is_not(tmp_path: Path) -> None:
    """Reading again may cure an I/O error (the backfill path has SQS retry the file), never
    corrupt content (it is audited once)."""
    corrupt = tmp_path / "corrupt.json.gz"
    corrupt.write_bytes(GZ_FILES[0].read_bytes()[:200])
    sources = {
        # Opens, and then every read fails with EIO: an I/O error in the middle of a file.
        "/proc/self/mem": True,
        str(tmp_path / "missing.json"): True,
        str(corrupt): False,
    }
    for name, transient in sources.items():
        (problem,) = scan_items(new_detection(), [Source(name, None, "file")])
        assert isinstance(problem, Problem), name
        assert problem.transient is transient, name
        assert problem.location.source == name and problem.reason


# The long run ------------------------------------------------------------------------------


def _long(test: Callable[..., None]) -> Callable[..., None]:
    marked: Callable[..., None] = pytest.mark.slow(LONG(test))
    return marked


@_long
@given(mutated_records())
def test_long_mutated_records(raw: Any) -> None:
    check_record(raw)


@_long
@given(st.sampled_from(BASES), st.sampled_from(HOSTILE), st.data())
def test_long_hostile_strings(base: dict[str, Any], hostile: str, data: st.DataObject) -> None:
    hostile_case(base, hostile, data)


@_long
@given(batches())
def test_long_batches(
    tmp_path_factory: pytest.TempPathFactory, batch: tuple[Case, list[bytes], list[int]]
) -> None:
    check_batch(tmp_path_factory, batch)
