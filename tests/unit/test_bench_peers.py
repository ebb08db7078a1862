"""The benchmark's contenders do what they claim: the stress mix has its share of records the
prefilter cannot drop; the inflate-only limit inflates every byte; DuckDB and jq select the
records whose eventName a detector declares."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from bench import corpus, floor, peers
from detectors import REGISTRY
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def stress(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, corpus.Manifest]:
    out = tmp_path_factory.mktemp("stress")
    return out, corpus.generate(4000, out, seed=11, jobs=1, mix="stress")


def records_of(root: Path) -> list[dict[str, object]]:
    return [
        record
        for path in sorted((root / "AWSLogs").rglob("*.json.gz"))
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    ]


def test_the_stress_mix_is_a_tenth_records_the_prefilter_passes(
    stress: tuple[Path, corpus.Manifest],
) -> None:
    _, manifest = stress
    kinds = Counter({k.split(":", 1)[1]: n for k, n in manifest.kinds.items()})
    share = sum(n for kind, n in kinds.items() if kind in corpus.STRESS_KINDS) / manifest.records
    assert 0.08 < share < 0.12
    assert manifest.mix == "stress"
    default = corpus.TemplatePool.build(corpus.DEFAULT_SEED)
    assert [t.text for t in default.templates] == [
        t.text for t in corpus.TemplatePool.build(corpus.DEFAULT_SEED, "stress").templates
    ], "the same records, only in other proportions"
    with pytest.raises(ValueError, match="mix"):
        corpus.TemplatePool.build(1, "other")


def test_the_inflate_only_limit_reads_and_inflates_every_file(
    stress: tuple[Path, corpus.Manifest],
) -> None:
    root, manifest = stress
    ran = subprocess.run(
        [sys.executable, "-m", "bench.floor", "--inflate-only", str(root / "AWSLogs")],
        capture_output=True, cwd=ROOT, check=True,
    )  # fmt: skip
    summary = orjson.loads(ran.stdout)
    assert summary["files"] == manifest.files
    assert summary["inflated_bytes"] == manifest.uncompressed_bytes
    assert summary["records"] == 0, "nothing is parsed"


def wanted(records: list[dict[str, object]]) -> int:
    names = set(peers.event_names())
    return sum(1 for record in records if record.get("eventName") in names)


def test_the_peers_select_the_event_names_the_registry_declares(
    stress: tuple[Path, corpus.Manifest],
) -> None:
    declared = {n for d in REGISTRY for names in d.meta.events.values() for n in names}
    assert peers.event_names() == sorted(declared)
    assert "CreateUser" in declared


# The peers themselves are installed by `make bench` (DuckDB from the bench extra, Debian's jq),
# which runs these first; deselected, not skipped, elsewhere (`pytest -m bench`).
@pytest.mark.bench
def test_duckdb_selects_those_records(stress: tuple[Path, corpus.Manifest]) -> None:
    root, _ = stress
    result = peers.run_duckdb([str(root / "AWSLogs")])
    assert result["selected"] == wanted(records_of(root)) > 0


@pytest.mark.bench
def test_jq_selects_those_records(stress: tuple[Path, corpus.Manifest]) -> None:
    root, _ = stress
    files = [str(p) for p in floor.log_files([str(root / "AWSLogs")])]
    text = b"".join(gzip.decompress(Path(f).read_bytes()) for f in files)
    ran = subprocess.run(
        ["jq", "-c", peers.jq_script(peers.event_names())], input=text, capture_output=True,
        check=True,
    )  # fmt: skip
    assert len(ran.stdout.splitlines()) == wanted(records_of(root)) > 0
