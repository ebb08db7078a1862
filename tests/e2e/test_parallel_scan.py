"""``iamwatch scan --jobs N``: the input read on several cores gives byte for byte the JSON Lines
of a one-process scan (same findings, ids and order; stateful detectors and sequences
included), on examples/, on the benchmark corpus, and on standard input."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from bench import corpus
from tests.conftest import EXAMPLES_DIR, run_iamwatch, run_iamwatch_process


def jsonl(*args: str, jobs: int, tmp_path: Path, stdin: bytes | None = None) -> bytes:
    result = run_iamwatch_process(
        "scan", *args, "--format", "jsonl", "--jobs", str(jobs), stdin=stdin,
        env={"IAMWATCH_AUDIT_PATH": str(tmp_path / f"audit-{jobs}.db")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.mark.parametrize("jobs", [2, 3])
def test_examples_give_the_same_bytes_on_several_cores(tmp_path: Path, jobs: int) -> None:
    one = jsonl(str(EXAMPLES_DIR / "AWSLogs"), jobs=1, tmp_path=tmp_path)
    assert one.count(b"\n") > 100
    assert b"sequence" in one, "the stateful detectors and sequences are part of the proof"
    assert jsonl(str(EXAMPLES_DIR / "AWSLogs"), jobs=jobs, tmp_path=tmp_path) == one


def test_the_benchmark_corpus_gives_the_same_bytes_on_several_cores(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    corpus.generate(40_000, folder, seed=11, jobs=2)
    one = jsonl(str(folder), jobs=1, tmp_path=tmp_path)
    assert one.count(b"\n") > 100
    assert jsonl(str(folder), jobs=2, tmp_path=tmp_path) == one


def test_standard_input_is_cut_into_pieces_and_gives_the_same_bytes(tmp_path: Path) -> None:
    lines = []
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz")):
        lines.append(gzip.decompress(path.read_bytes()).strip())
    # JSON Lines of whole log files, then garbage lines, repeated past one 8 MB piece.
    stream = b"\n".join([*lines, b"{not json", b"\xff garbage"] * 60) + b"\n"
    assert len(stream) > 8 * 1024 * 1024
    for data in (stream, gzip.compress(stream)):
        one = run_iamwatch_process(
            "scan", "-", "-f", "jsonl", "--jobs", "1", stdin=data,
            env={"IAMWATCH_AUDIT_PATH": str(tmp_path / "a1.db")},
        )  # fmt: skip
        two = run_iamwatch_process(
            "scan", "-", "-f", "jsonl", "--jobs", "2", stdin=data,
            env={"IAMWATCH_AUDIT_PATH": str(tmp_path / "a2.db")},
        )  # fmt: skip
        assert one.returncode == two.returncode == 0, two.stderr.decode()
        assert one.stdout == two.stdout and one.stdout
        # The same problems, at the same lines of the stream.
        assert warnings(one.stderr) == warnings(two.stderr)


def warnings(stderr: bytes) -> list[bytes]:
    return sorted(line for line in stderr.splitlines() if line.startswith(b"warning"))


def test_a_pretty_printed_document_on_standard_input_is_read_whole(tmp_path: Path) -> None:
    data = gzip.decompress(sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz"))[3].read_bytes())
    pretty = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2)
    one = run_iamwatch("scan", "-", "-f", "jsonl", "--jobs", "1", stdin=pretty, home=tmp_path)
    two = run_iamwatch("scan", "-", "-f", "jsonl", "--jobs", "2", stdin=pretty, home=tmp_path)
    assert one.stdout == two.stdout
    assert b"Malformed records or files: 0." in two.stderr
