"""The benchmark corpus is deterministic and shaped like CloudTrail, and scanning it (or odd
variations of it) gives the same results with and without the fast decoder."""

from __future__ import annotations

import copy
import gzip
import re
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import iamwatch.sources as sources
from bench import corpus
from detectors import REGISTRY
from iamwatch.engine import Engine
from iamwatch.finding import Finding
from iamwatch.registry import DetectionContext
from iamwatch.sources import Problem, expand
from iamwatch.state import SQLiteStateStore
from tests.conftest import new_detection, scan_items

RECORDS = 3000
LAYOUT = re.compile(
    r"AWSLogs/(?P<account>\d{12})/CloudTrail/(?P<region>[a-z]{2}-[a-z]+-\d)/"
    r"(?P<date>\d{4}/\d{2}/\d{2})/(?P=account)_CloudTrail_(?P=region)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, corpus.Manifest]:
    out = tmp_path_factory.mktemp("corpus")
    return out, corpus.generate(RECORDS, out, seed=7, jobs=2)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted((root / "AWSLogs").rglob("*.json.gz"))
    }


def all_records(root: Path) -> list[dict[str, Any]]:
    return [
        record
        for data in tree(root).values()
        for record in orjson.loads(gzip.decompress(data))["Records"]
    ]


def test_same_seed_same_bytes_whatever_the_worker_count(
    generated: tuple[Path, corpus.Manifest], tmp_path: Path
) -> None:
    root, manifest = generated
    again = corpus.generate(RECORDS, tmp_path / "again", seed=7, jobs=1)
    assert tree(tmp_path / "again") == tree(root)
    assert again.kinds == manifest.kinds
    other = corpus.generate(300, tmp_path / "other", seed=8, jobs=1)
    assert other.records == 300
    assert tree(tmp_path / "other") != tree(root)


def test_files_are_laid_out_and_written_as_aws_delivers_them(
    generated: tuple[Path, corpus.Manifest],
) -> None:
    root, manifest = generated
    files = tree(root)
    assert len(files) == manifest.files
    counts = []
    for name, data in files.items():
        match = LAYOUT.fullmatch(name)
        assert match, name
        assert match["date"].replace("/", "") == match["stamp"][:8]
        text = gzip.decompress(data)
        assert text.startswith(b'{"Records":[{') and b"\n" not in text
        counts.append(len(orjson.loads(text)["Records"]))
    assert sum(counts) == manifest.records == RECORDS
    # A few hundred to a few thousand per file; only the last file may hold the remainder.
    assert all(corpus.MIN_RECORDS_PER_FILE <= n <= corpus.MAX_RECORDS_PER_FILE for n in counts[:-1])
    assert manifest.compressed_bytes == sum(len(d) for d in files.values())


def test_records_are_real_shaped_and_mostly_noise(generated: tuple[Path, corpus.Manifest]) -> None:
    root, manifest = generated
    records = all_records(root)
    sizes = [len(orjson.dumps(r)) for r in records]
    assert 1000 <= statistics.median(sizes) <= 3000
    assert any(size >= 30_000 for size in sizes)  # large policy documents and templates
    assert len({r["eventID"] for r in records}) == len(records)
    for record in records[:200]:
        assert record["eventVersion"] and record["eventTime"].endswith("Z")
        assert record["userIdentity"]["type"]
        assert record["recipientAccountId"] in corpus.ACCOUNTS
    assert 0.005 <= manifest.interesting / manifest.records <= 0.02
    engine = Engine(REGISTRY, DetectionContext(state=SQLiteStateStore()))
    wanted = sum(engine.wants(r) for r in records)
    assert manifest.interesting <= wanted <= 3 * manifest.interesting


# --- the fast decoder against the ordinary path -----------------------------------------------


def scan_results(paths: list[Path]) -> tuple[list[tuple[str, ...]], tuple[object, ...]]:
    engine = Engine(REGISTRY, DetectionContext(state=SQLiteStateStore()))
    detection = new_detection(engine)
    items: list[tuple[str, ...]] = []
    for item in scan_items(detection, expand([str(p) for p in paths])):
        if isinstance(item, Finding):
            items.append(("finding", item.finding_id, item.severity.value))
        elif isinstance(item, Problem):
            items.append(("problem", str(item.location), item.reason))
        else:
            items.append(("failed", str(item.location), item.failure.detector))
    s = detection.stats
    return items, (
        s.files,
        s.records,
        s.examined,
        s.malformed,
        dict(s.findings),
        s.bytes_read.total,
    )


def _no_fast_path(*args: object) -> None:
    return None


def both_ways(
    paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[list[tuple[str, ...]], tuple[object, ...]], ...]:
    fast = scan_results(paths)
    with monkeypatch.context() as patch:
        patch.setattr(sources, "_fast_records", _no_fast_path)
        ordinary = scan_results(paths)
    return fast, ordinary


def test_scanning_the_corpus_gives_the_same_findings_with_the_fast_decoder(
    generated: tuple[Path, corpus.Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, manifest = generated
    fast, ordinary = both_ways([root / "AWSLogs"], monkeypatch)
    assert fast == ordinary
    items, stats = fast
    assert stats[1] == manifest.records and stats[3] == 0
    assert any(item[0] == "finding" for item in items)


Records = list[Any]  # mostly record objects, but odd inputs put other values in


def _odd(mutate: Callable[[Records], object]) -> Callable[[Records], bytes]:
    def build(records: Records) -> bytes:
        changed = copy.deepcopy(records)
        mutate(changed)
        return gzip.compress(orjson.dumps({"Records": changed}))

    return build


def _set(index: int, key: str, value: object) -> Callable[[Records], object]:
    return lambda records: records[index].__setitem__(key, value)


def _jsonl(records: Records, lines: int = 60) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records[:lines])


# Index 0 is noise; WANTED is a record some detector wants (see the fixture below).
WANTED = 1
ODD_INPUTS: dict[str, Callable[[Records], bytes]] = {
    "event_name_not_a_string": _odd(_set(0, "eventName", 5)),
    "event_source_missing": _odd(lambda r: r[0].pop("eventSource")),
    "user_identity_a_string": _odd(_set(0, "userIdentity", "weird")),
    "identity_type_a_number": _odd(_set(0, "userIdentity", {"type": 7})),
    "user_identity_null": _odd(_set(0, "userIdentity", None)),
    "root_identity_on_noise": _odd(_set(0, "userIdentity", {"type": "Root"})),
    "wanted_record_with_bad_time": _odd(_set(WANTED, "eventTime", "garbage")),
    "noise_record_with_bad_time": _odd(_set(0, "eventTime", "garbage")),
    "eventbridge_event_inside_records": _odd(
        lambda r: r.__setitem__(0, {"detail-type": "x", "detail": r[WANTED]})
    ),
    "eventbridge_event_with_a_number_detail": _odd(
        lambda r: r.__setitem__(0, {"detail-type": "x", "detail": 5})
    ),
    "record_with_detail_type_only": _odd(_set(0, "detail-type", "x")),
    "record_with_nested_records": _odd(_set(0, "Records", [1])),
    "non_object_records": _odd(lambda r: r.__setitem__(slice(2, 2), ["text", None, [1]])),
    "records_not_a_list": lambda r: b'{"Records": {"eventName": "CreateUser"}}',
    "top_level_array": lambda r: orjson.dumps(r[:40]),
    "single_record": lambda r: orjson.dumps(r[WANTED]),
    "pretty_printed": lambda r: orjson.dumps({"Records": r[:40]}, option=orjson.OPT_INDENT_2),
    "invalid_utf8_in_an_unread_field": lambda r: orjson.dumps({"Records": r}).replace(
        b'"eventVersion":"1.09"', b'"eventVersion":"\xff"', 1
    ),
    "non_ascii_text": lambda r: orjson.dumps({"Records": r}).replace(
        b'"eventVersion":"1.09"', '"eventVersion":"1.09é"'.encode(), 1
    ),
    "lone_surrogate_escape": lambda r: orjson.dumps({"Records": r}).replace(
        b'"eventVersion":"1.09"', b'"eventVersion":"\\ud800"', 1
    ),
    "trailing_garbage": lambda r: orjson.dumps({"Records": r}) + b" x",
    "duplicate_event_name_keys": lambda r: orjson.dumps({"Records": r}).replace(
        b'"eventName":', b'"eventName":"CreateUser","eventName":', 1
    ),
    "deep_nesting": lambda r: orjson.dumps({"Records": r}).replace(
        b'"eventVersion":"1.09"', b'"eventVersion":' + b"[" * 2000 + b"]" * 2000, 1
    ),
    "jsonl_with_crlf_and_blank_lines": lambda r: _jsonl(r).replace(b"\n", b"\r\n\n"),
    "jsonl_of_eventbridge_events": lambda r: b"\n".join(
        orjson.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": x}) for x in r[:60]
    ),
    "jsonl_mixed_with_junk": lambda r: b"\n".join(
        [orjson.dumps(r[0]), b"not json", b"[1, 2]", orjson.dumps({"Records": r[:30]}), b"null"]
    ),
    "truncated_gzip_document": lambda r: gzip.compress(orjson.dumps({"Records": r}))[:-40],
    "truncated_gzip_jsonl": lambda r: gzip.compress(_jsonl(r))[:-100],
    "gzip_members_with_zero_padding": lambda r: (
        gzip.compress(_jsonl(r)[:5000]) + b"\x00\x00" + gzip.compress(_jsonl(r)[5000:])
    ),
    "garbage_after_a_gzip_member": lambda r: gzip.compress(_jsonl(r)) + b"garbage!",
    "gzip_crc_mismatch": lambda r: _flip(gzip.compress(_jsonl(r)), -8),
    "empty": lambda r: b"",
}


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0xFF
    return bytes(changed)


@pytest.fixture(scope="module")
def sample_records(generated: tuple[Path, corpus.Manifest]) -> Records:
    """Noise first, then a record a detector wants, then the rest."""
    root, _ = generated
    records = all_records(root)[:400]
    engine = Engine(REGISTRY, DetectionContext(state=SQLiteStateStore()))
    noise = next(r for r in records if not engine.wants(r))
    wanted = next(r for r in records if engine.wants(r) and engine.evaluate_raw(r))
    return [noise, wanted, *records]


@pytest.mark.parametrize("name", list(ODD_INPUTS))
def test_the_fast_decoder_agrees_with_the_ordinary_path_on_odd_input(
    name: str, sample_records: Records, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_bytes(ODD_INPUTS[name](sample_records))
    fast, ordinary = both_ways([path], monkeypatch)
    assert fast == ordinary


def test_a_number_beyond_a_double_fails_only_its_record_on_the_fast_path(
    sample_records: Records, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one documented difference: orjson refuses the whole text, msgspec skips the number
    in records no detector wants, and the wanted record holding it is reported alone."""
    event_id = orjson.dumps(sample_records[WANTED]["eventID"])
    text = orjson.dumps({"Records": sample_records})
    text = text.replace(b'"eventID":' + event_id, b'"x":1e999,"eventID":' + event_id, 1)
    path = tmp_path / "overflow.json"
    path.write_bytes(text)
    (fast_items, fast_stats), (ordinary_items, ordinary_stats) = both_ways([path], monkeypatch)
    assert [(kind, where) for kind, where, _ in ordinary_items] == [("problem", str(path))]
    assert "infinity" in ordinary_items[0][2]
    assert ordinary_stats[1] == 0
    problems = [i for i in fast_items if i[0] == "problem"]
    assert problems == [
        ("problem", f"{path}: record {WANTED + 1}", ordinary_items[0][2]),
    ]
    assert fast_stats[1] == len(sample_records) - 1
