"""Hostile and malformed input, property-based: real-shaped CloudTrail records from
tests/events, mutated (wrong types, missing and null fields, deep nesting, huge strings,
unicode with lone surrogates and control characters, 256 KB events), through parse, detect
and render; and broken files (invalid UTF-8, truncated gzip, non-JSON lines) through the
reader the CLI uses.

The default run is short (60 examples per property). The long run is behind the ``slow``
marker: ``pytest -m slow tests/test_fuzz.py`` (2,000 examples per property).
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iamwatch.engine import MalformedRecordError, parse_record
from iamwatch.scan import FailedDetection, Scanner
from iamwatch.slack.render import render
from iamwatch.sources import Problem, Source
from tests.conftest import EVENTS_DIR, EXAMPLES_DIR, detector_cases, load_case, new_engine
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
]


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


def check_record(raw: Any) -> None:
    engine = new_engine()
    try:
        engine.wants(raw) if isinstance(raw, dict) else None
        record = parse_record(raw)
    except MalformedRecordError as error:
        reason = str(error)
        record = None
    if record is None:
        assert reason  # reported with a reason
        return
    evaluation = engine.evaluate(record)
    assert evaluation.failures == [], evaluation.failures
    for finding in evaluation.findings:
        message = render(finding)
        body = {"channel": "#alerts", "text": message.text, "blocks": list(message.blocks)}
        assert payload_problems(body) == []
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # sendable as UTF-8 JSON
        for text, _kind in message_texts(body):
            assert live_tokens(text) == [], text[:200]


@SHORT
@given(mutated_records())
def test_mutated_records_never_crash_parse_detect_or_render(raw: Any) -> None:
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
        check_record(record)


def _get(record: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        record = record[step]
    return record


def _set(record: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(record, path[:-1])[path[-1]] = value


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


def scan_file(path: Path) -> tuple[Scanner, list[Any]]:
    scanner = Scanner(new_engine())
    source = Source(name=str(path), size=path.stat().st_size, kind="file")
    return scanner, list(scanner.scan([source]))


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
