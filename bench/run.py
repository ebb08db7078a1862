"""The iamwatch benchmarks: every figure beside a baseline measured in the same run.

    python -m bench.run            # the full run (make bench): 1M records, 3 repetitions
    python -m bench.run --quick    # CI smoke (make bench-quick): small corpus, 1 repetition

Writes ``bench/results.json`` (``--out``) and prints a summary. Scans run as real
subprocesses, timed from outside, with CPU time and peak RSS from ``wait4``; the floor is
``bench/floor.py`` (gzip decompression plus orjson parsing of every record, nothing else) over
the same files, interleaved with the scans so that load on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib.util
import os
import pkgutil
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from bench import corpus

if TYPE_CHECKING:
    from iamwatch.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
CORPUS_ROOT = ROOT / "bench" / ".corpus"
RESULTS = ROOT / "bench" / "results.json"
NOT_AVAILABLE = "not available yet"

# Targets from issue #6; reported, never asserted by tests.
TARGET_SCAN_RATIO = 0.70
TARGET_RSS_MB = 200.0
TARGET_COLD_IMPORT_MS = 300.0
TARGET_WARM_US = 200.0
# Targets from issue #16, as ratios measured in one run: the scan's speed against reading and
# inflating alone (ISA-L, one core), against gunzip+orjson on both mixes, against DuckDB.
TARGET_INFLATE_RATIO = 0.5
TARGET_FLOOR_RATIO = 1.2
TARGET_DUCKDB_RATIO = 3.0
# jq reads this share of the headline corpus (at least JQ_MIN_RECORDS): it is slow, and its
# rate is what is compared.
JQ_SHARE = 0.05
JQ_MIN_RECORDS = 20_000
# `iamwatch scan --jobs N` for every scan the benchmark times (`--jobs` on the command line);
# None: the scan's own default, a worker per core.
DEFAULT_JOBS: int | None = None

Json = dict[str, Any]


@dataclass(frozen=True)
class Mode:
    name: str
    sizes: tuple[int, ...]  # the last one is the headline size
    repeat: int
    import_runs: int
    ablations: bool
    slack_records: int
    latency_events: int


FULL = Mode("full", (100_000, 1_000_000), 3, 9, True, 100_000, 100)
QUICK = Mode("quick", (5_000, 20_000), 1, 5, False, 20_000, 20)


# --- measuring processes -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRun:
    wall_s: float
    cpu_s: float  # user + system
    sys_s: float
    max_rss_mb: float
    returncode: int
    stdout_lines: int
    stdout_tail: str
    stderr_tail: str

    @property
    def inner_s(self) -> float | None:
        """The seconds the program itself reports, after its start-up and imports."""
        match = _SCANNED.search(self.stderr_tail)
        if match:
            return float(match.group(3))
        try:
            return float(orjson.loads(self.stdout_tail.strip().splitlines()[-1])["seconds"])
        except (ValueError, KeyError, IndexError, TypeError):
            return None


@functools.cache
def _scratch_state() -> str:
    return tempfile.mkdtemp(prefix="iamwatch-bench-state-")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without any IAMWATCH_ setting, so a developer's config cannot leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAMWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    # `iamwatch scan` keeps its audit trail under XDG_STATE_HOME by default: measure it as
    # users run it, but in a scratch folder rather than the developer's own.
    env["XDG_STATE_HOME"] = _scratch_state()
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.update(extra or {})
    return env


def run_process(
    argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> ProcessRun:
    """Run to completion; wall time from outside, CPU and peak RSS of this child via wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd, env=dict(env or {}))
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = sum(1 for line in out if line.strip())
        out.seek(max(0, out.tell() - 2000))
        stdout_tail = out.read().decode(errors="replace")
        err.seek(0)
        tail = err.read()[-4000:].decode(errors="replace")
    return ProcessRun(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        sys_s=usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        returncode=process.returncode,
        stdout_lines=lines,
        stdout_tail=stdout_tail,
        stderr_tail=tail,
    )


def median_run(runs: Sequence[ProcessRun]) -> ProcessRun:
    return sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]


def warm_page_cache(directory: Path) -> None:
    """Read every file once, so no contender pays for the disk."""
    for path in directory.rglob("*"):
        if path.is_file():
            path.read_bytes()


# --- the machine ---------------------------------------------------------------------------------


def machine() -> Json:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    versions = {}
    for package in ("orjson", "msgspec", "isal", "pydantic", "pydantic_core"):
        versions[package] = _version(package)
    return {
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo.group(1)) / 1024**2, 1) if meminfo else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return None


# --- scan throughput -----------------------------------------------------------------------------


_JOBS: list[str] = []  # set by main() from --jobs, once `iamwatch scan` has the option


def scan_jobs_available() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "iamwatch", "scan", "--help"],
        capture_output=True,
        env=clean_env({"COLUMNS": "200"}),
        cwd=ROOT,
        check=False,
    ).stdout.decode()
    return "--jobs" in help_text


def iamwatch_argv(directory: Path, *extra: str, variant: str | None = None) -> list[str]:
    head = (
        [sys.executable, "-m", "bench.variants", variant]
        if variant
        else [
            sys.executable,
            "-m",
            "iamwatch",
        ]
    )
    return [*head, "scan", str(directory), "--format", "jsonl", "--no-progress", *_JOBS, *extra]


def floor_argv(directory: Path) -> list[str]:
    return [sys.executable, "-m", "bench.floor", str(directory)]


def inflate_argv(directory: Path) -> list[str]:
    """The limit: read and inflate every file (ISA-L, one core), nothing else."""
    return [sys.executable, "-m", "bench.floor", "--inflate-only", str(directory)]


def duckdb_argv(directory: Path) -> list[str]:
    return [sys.executable, "-m", "bench.peers", "duckdb", str(directory)]


def duckdb_available() -> str | None:
    if importlib.util.find_spec("duckdb") is None:
        return "duckdb is not installed (make bench installs the bench extra)"
    return None


_SCANNED = re.compile(r"Scanned ([\d,]+) file\(s\), ([\d,]+) records.* in ([\d.]+)s")


def scanned_records(run: ProcessRun) -> int | None:
    match = _SCANNED.search(run.stderr_tail)
    return int(match.group(2).replace(",", "")) if match else None


def figures(run: ProcessRun, manifest: corpus.Manifest) -> Json:
    return {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 3),
        "sys_s": round(run.sys_s, 3),
        "records_per_s": round(manifest.records / run.wall_s),
        "records_per_cpu_s": round(manifest.records / run.cpu_s),
        "compressed_mb_per_s": round(manifest.compressed_bytes / 1e6 / run.wall_s, 1),
        "uncompressed_mb_per_s": round(manifest.uncompressed_bytes / 1e6 / run.wall_s, 1),
        "peak_rss_mb": round(run.max_rss_mb, 1),
        "returncode": run.returncode,
        "inner_s": None if run.inner_s is None else round(run.inner_s, 3),
        "inner_records_per_s": round(manifest.records / run.inner_s) if run.inner_s else None,
    }


def check_scan(run: ProcessRun, manifest: corpus.Manifest, what: str) -> str | None:
    """Why a run does not count (a crash, or records missing), or None."""
    if run.returncode not in (0, 1):
        return f"{what} exited {run.returncode}: {run.stderr_tail[-600:]}"
    scanned = scanned_records(run)
    if scanned is not None and scanned != manifest.records:
        return f"{what} scanned {scanned} records, the corpus has {manifest.records}"
    return None


def scan_benchmark(
    size: int,
    mode: Mode,
    log: Callable[[str], None],
    *,
    mix: str = "default",
    peers: bool = False,
) -> Json:
    """The scan against the floor, interleaved; with ``peers``, in the same rounds also the
    decompression-only limit and DuckDB (the contenders of issue #16)."""
    directory, manifest = corpus.ensure(size, CORPUS_ROOT, mix=mix)
    logs = directory / "AWSLogs"
    warm_page_cache(logs)
    env = clean_env()
    contenders: dict[str, Callable[[Path], list[str]]] = {
        "floor": floor_argv,
        "iamwatch": iamwatch_argv,
    }
    unavailable: dict[str, str] = {}
    if peers:
        contenders["inflate"] = inflate_argv
        reason = duckdb_available()
        if reason is None:
            contenders["duckdb"] = duckdb_argv
        else:
            unavailable["duckdb"] = reason
    runs: dict[str, list[ProcessRun]] = {name: [] for name in contenders}
    problems: list[str] = []
    for attempt in range(mode.repeat):
        for name, argv in contenders.items():
            runs[name].append(run_process(argv(logs), env))
        log(
            f"  {size:>9,} records ({mix}), run {attempt + 1}/{mode.repeat}: "
            + ", ".join(f"{name} {done[-1].wall_s:.2f}s" for name, done in runs.items())
        )
    for name, done in runs.items():
        for run in done:
            if name != "iamwatch" and run.returncode != 0:
                problems.append(f"{name} exited {run.returncode}: {run.stderr_tail[-600:]}")
    scans, floors = runs["iamwatch"], runs["floor"]
    problems += [p for run in scans if (p := check_scan(run, manifest, "iamwatch scan"))]
    scan, floor = median_run(scans), median_run(floors)
    cpu_scan = statistics.median(r.cpu_s for r in scans)
    cpu_floor = statistics.median(r.cpu_s for r in floors)
    others: Json = {}
    for name in contenders:
        if name in ("iamwatch", "floor"):
            continue
        chosen = median_run(runs[name])
        others[name] = figures(chosen, manifest) | {
            # Their time over the scan's: above 1, the scan is faster.
            "ratio": round(chosen.wall_s / scan.wall_s, 3),
            "cpu_ratio": round(statistics.median(r.cpu_s for r in runs[name]) / cpu_scan, 3),
            "steady_ratio": (
                round(chosen.inner_s / scan.inner_s, 3) if chosen.inner_s and scan.inner_s else None
            ),
            "all_wall_s": [round(r.wall_s, 3) for r in runs[name]],
        }
        if name == "duckdb":
            others[name]["selected"] = _selected(chosen)
    others |= {name: {"status": NOT_AVAILABLE, "reason": why} for name, why in unavailable.items()}
    return {
        "mix": mix,
        "peers": others,
        "records": manifest.records,
        "files": manifest.files,
        "compressed_mb": round(manifest.compressed_bytes / 1e6, 1),
        "uncompressed_mb": round(manifest.uncompressed_bytes / 1e6, 1),
        "interesting_records": manifest.interesting,
        "runs": mode.repeat,
        "iamwatch": figures(scan, manifest) | {"findings": scan.stdout_lines},
        "floor": figures(floor, manifest),
        "ratio": round(floor.wall_s / scan.wall_s, 3),
        "cpu_ratio": round(cpu_floor / cpu_scan, 3),
        # Best run against best run: load on a shared machine only ever slows a run down.
        "best_ratio": round(min(r.wall_s for r in floors) / min(r.wall_s for r in scans), 3),
        # Without interpreter start-up and imports (the CLI's own timer against the floor's).
        "steady_ratio": (
            round(floor.inner_s / scan.inner_s, 3) if floor.inner_s and scan.inner_s else None
        ),
        "all_wall_s": {
            "iamwatch": [round(r.wall_s, 3) for r in scans],
            "floor": [round(r.wall_s, 3) for r in floors],
        },
        "problems": problems,
    }


def _selected(run: ProcessRun) -> int | None:
    try:
        return int(orjson.loads(run.stdout_tail.strip().splitlines()[-1])["selected"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def jq_benchmark(size: int, headline: Json, log: Callable[[str], None]) -> Json:
    """jq over the first files of the headline corpus (JQ_SHARE of its records), as
    ``gzip -dc FILES | jq -c SELECT``; compared by rate with the headline scan."""
    import shutil

    if shutil.which("jq") is None or shutil.which("gzip") is None:
        return {"status": NOT_AVAILABLE, "reason": "jq is not installed (make bench installs it)"}
    from bench.floor import gunzip, log_files
    from bench.peers import event_names, jq_script

    directory, manifest = corpus.ensure(size, CORPUS_ROOT)
    wanted = max(JQ_MIN_RECORDS, int(manifest.records * JQ_SHARE))
    files: list[str] = []
    records = compressed = 0
    for path in log_files([str(directory / "AWSLogs")]):
        data = path.read_bytes()
        records += len(orjson.loads(gunzip(data))["Records"])
        compressed += len(data)
        files.append(str(path))
        if records >= wanted:
            break
    script = jq_script(event_names())
    with tempfile.NamedTemporaryFile("w", suffix=".lst") as listing:
        listing.write("\n".join(files))
        listing.flush()
        shell = f'xargs -a {listing.name} gzip -dc | jq -c "$SELECT"'
        run = run_process(["bash", "-o", "pipefail", "-c", shell], clean_env({"SELECT": script}))
    if run.returncode != 0:
        return {"status": "error", "reason": run.stderr_tail[-600:]}
    rate = records / run.wall_s
    scan_rate = headline["iamwatch"]["records_per_s"]
    log(f"  jq: {records:,} records in {run.wall_s:.2f}s ({rate:,.0f} rec/s)")
    return {
        "status": "measured",
        "files": len(files),
        "records": records,
        "compressed_mb": round(compressed / 1e6, 1),
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 3),
        "records_per_s": round(rate),
        "selected": run.stdout_lines,
        # The headline scan's rate (all files) over jq's (its share of them).
        "ratio": round(scan_rate / rate, 3),
    }


def ablation_benchmark(size: int, rounds: int, log: Callable[[str], None]) -> Json:
    """What each optimisation buys: the scan with it switched off, same files, same run.
    Compared on the time each program reports for itself, so start-up does not blur it."""
    directory, manifest = corpus.ensure(size, CORPUS_ROOT)
    logs = directory / "AWSLogs"
    env = clean_env()
    variants = {
        "floor": floor_argv(logs),
        "floor with ISA-L gunzip": [*floor_argv(logs), "--isal"],
        "ordinary path (orjson for every record, stdlib zlib)": iamwatch_argv(
            logs, variant="ordinary"
        ),
        "fast decoder, stdlib zlib": iamwatch_argv(logs, variant="stdlib-zlib"),
        "fast decoder, ISA-L gunzip (as shipped)": iamwatch_argv(logs),
    }
    runs: dict[str, list[ProcessRun]] = {name: [] for name in variants}
    for _ in range(rounds):  # interleaved rounds; the best of each, as load only slows down
        for name, argv in variants.items():
            runs[name].append(run_process(argv, env))
    results: Json = {"rounds": rounds, "records": manifest.records}
    for name, done in runs.items():
        best = min(done, key=lambda run: run.inner_s or run.wall_s)
        problem = check_scan(best, manifest, name) if "floor" not in name else None
        log(f"  {name}: {best.inner_s or 0:.2f}s" + (f" ({problem})" if problem else ""))
        results[name] = figures(best, manifest) | {
            "min_cpu_s": round(min(run.cpu_s for run in done), 3),
            "problem": problem,
        }
    return results


def before_benchmark(size: int, revision: str, log: Callable[[str], None]) -> Json:
    """``iamwatch scan`` as it was at an earlier git revision, on the same files."""
    directory, manifest = corpus.ensure(size, CORPUS_ROOT)
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            return {"status": NOT_AVAILABLE, "reason": archive.stderr.decode()[-300:]}
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        env = clean_env({"PYTHONPATH": tree})
        argv = [sys.executable, "-m", "iamwatch", "scan", str(directory / "AWSLogs")]
        # Run from the old tree, so ``-m iamwatch`` imports the old code, not this checkout's.
        run = run_process([*argv, "--format", "jsonl", "--no-progress"], env, cwd=Path(tree))
    problem = check_scan(run, manifest, f"iamwatch at {revision}")
    log(f"  before ({revision}): {run.wall_s:.2f}s")
    return {"revision": revision, **figures(run, manifest), "problem": problem}


# --- scan with --slack ---------------------------------------------------------------------------


def slack_available() -> str | None:
    """Why the --slack benchmark cannot run yet, or None."""
    if not (ROOT / "tests" / "slack_server.py").is_file():
        return "tests/slack_server.py does not exist"
    help_text = subprocess.run(
        [sys.executable, "-m", "iamwatch", "scan", "--help"],
        capture_output=True,
        env=clean_env({"COLUMNS": "200"}),
        cwd=ROOT,
        check=False,
    ).stdout.decode()
    if "--slack" not in help_text:
        return "iamwatch scan --help does not show --slack"
    return None


def slack_benchmark(size: int, mode: Mode, log: Callable[[str], None]) -> Json:
    reason = slack_available()
    if reason is not None:
        return {"status": NOT_AVAILABLE, "reason": reason}
    from tests.slack_server import SlackServer

    directory, manifest = corpus.ensure(size, CORPUS_ROOT)
    logs = directory / "AWSLogs"
    plain_runs: list[ProcessRun] = []
    slack_runs: list[ProcessRun] = []
    messages: list[int] = []
    for _ in range(mode.repeat):
        plain_runs.append(run_process(iamwatch_argv(logs), clean_env()))
        with SlackServer() as slack:
            env = clean_env(
                {
                    "IAMWATCH_SLACK_API_URL": slack.api_url,
                    "IAMWATCH_SLACK_TOKEN": SlackServer.TOKEN,
                    "IAMWATCH_SLACK_CHANNEL": "#iamwatch-bench",
                }
            )
            slack_runs.append(run_process(iamwatch_argv(logs, "--slack"), env))
            messages.append(len(slack.requests))
        log(
            f"  --slack: plain {plain_runs[-1].wall_s:.2f}s, with Slack "
            f"{slack_runs[-1].wall_s:.2f}s, {messages[-1]} Slack requests"
        )
    plain, with_slack = median_run(plain_runs), median_run(slack_runs)
    problems = [p for run in slack_runs if (p := check_scan(run, manifest, "scan --slack"))]
    return {
        "status": "measured",
        "records": manifest.records,
        "runs": mode.repeat,
        "iamwatch": figures(plain, manifest) | {"findings": plain.stdout_lines},
        "iamwatch_slack": figures(with_slack, manifest) | {"slack_requests": max(messages)},
        "ratio": round(plain.wall_s / with_slack.wall_s, 3),
        "problems": problems,
    }


# --- cold start ----------------------------------------------------------------------------------


def handler_modules() -> list[str]:
    handlers = ROOT / "handlers"
    return sorted(
        f"handlers.{info.name}"
        for info in pkgutil.iter_modules([str(handlers)])
        if not info.name.startswith("_")
    )


_IMPORT_TIMER = (
    "import time; started = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - started)"
)


def import_benchmark(statement_modules: str, runs: int) -> Json:
    """Median wall time of ``import X`` in a fresh interpreter, and of the whole process."""
    env = clean_env()
    in_process: list[float] = []
    whole: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _IMPORT_TIMER.format(module=statement_modules)],
            capture_output=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
        whole.append(time.perf_counter() - started)
        if result.returncode != 0:
            return {"status": "error", "reason": result.stderr.decode()[-600:]}
        in_process.append(float(result.stdout.decode().strip().splitlines()[-1]))
    profile = importtime_profile(statement_modules, env)
    return {
        "import_ms": round(statistics.median(in_process) * 1000, 1),
        "process_ms": round(statistics.median(whole) * 1000, 1),
        "runs": runs,
        "importtime_top": profile,
    }


def importtime_profile(statement_modules: str, env: Mapping[str, str], top: int = 10) -> Json:
    """Where ``python -X importtime`` says the time goes: the largest self times, and the
    cumulative cost of each top-level package and of each first-party module."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {statement_modules}"],
        capture_output=True,
        env=dict(env),
        cwd=ROOT,
        check=False,
    )
    rows: list[Json] = []
    for line in result.stderr.decode().splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
        if match:
            self_us, cumulative_us, name = match.groups()
            rows.append(
                {
                    "module": name,
                    "self_ms": int(self_us) / 1000,
                    "cumulative_ms": int(cumulative_us) / 1000,
                }
            )
    first_party = ("iamwatch", "detectors", "handlers")

    def largest(selected: list[Json], key: str) -> list[Json]:
        return sorted(selected, key=lambda row: row[key], reverse=True)[:top]

    return {
        "self": largest(rows, "self_ms"),
        "packages": largest([r for r in rows if "." not in r["module"]], "cumulative_ms"),
        "first_party": largest(
            [r for r in rows if r["module"].split(".")[0] in first_party], "cumulative_ms"
        ),
    }


def cold_start_benchmark(mode: Mode, log: Callable[[str], None]) -> Json:
    baseline_start = import_benchmark("sys", mode.import_runs)
    baseline_pydantic = import_benchmark("pydantic", mode.import_runs)
    core = import_benchmark("iamwatch.engine, detectors", mode.import_runs)
    modules = {m: import_benchmark(m, mode.import_runs) for m in handler_modules()}
    log(
        f"  core import {core.get('import_ms')} ms; handlers: "
        + ", ".join(f"{m} {r.get('import_ms')} ms" for m, r in modules.items())
        or "none"
    )
    return {
        "baseline_interpreter": baseline_start,
        "baseline_pydantic": baseline_pydantic,
        "core": core,
        "handlers": modules or {"status": NOT_AVAILABLE, "reason": "handlers/ has no modules"},
    }


# --- warm detection ------------------------------------------------------------------------------


def sample_record(kind: str) -> Json:
    """A corpus record of one kind, rendered from the same templates as the corpus."""
    pool = corpus.TemplatePool.build(corpus.DEFAULT_SEED)
    template = next(t for t in pool.templates if t.kind == kind)
    plan = corpus.FilePlan(0, corpus.ACCOUNTS[0], corpus.REGIONS[0], corpus.START, 1, "x" * 16)
    data, _ = corpus.render_file(corpus.TemplatePool((template,), (1.0,)), plan, 1)
    record: Json = orjson.loads(data)["Records"][0]
    return record


def per_call_us(function: Callable[[], object], number: int = 2000, repeat: int = 7) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def _parse_and_evaluate(engine: Engine, raw: bytes) -> object:
    return engine.evaluate_raw(orjson.loads(raw))


def warm_benchmark() -> Json:
    from detectors import REGISTRY
    from iamwatch.engine import Engine
    from iamwatch.registry import DetectionContext
    from iamwatch.state import SQLiteStateStore

    engine = Engine(REGISTRY, DetectionContext(state=SQLiteStateStore()))
    results: Json = {}
    for label, kind in (("matching", "iam:CreateUser"), ("non_matching", "s3:GetObject")):
        record = sample_record(kind)
        raw = orjson.dumps(record)
        evaluation = engine.evaluate_raw(record)
        findings = len(evaluation.findings) if evaluation is not None else 0
        results[label] = {
            "event": kind,
            "record_bytes": len(raw),
            "findings": findings,
            "evaluate_raw_us": round(per_call_us(partial(engine.evaluate_raw, record)), 2),
            "parse_and_evaluate_us": round(
                per_call_us(partial(_parse_and_evaluate, engine, raw)), 2
            ),
            "baseline_orjson_loads_us": round(per_call_us(partial(orjson.loads, raw)), 2),
        }
    return results


# --- end-to-end latency --------------------------------------------------------------------------


def notifier_module() -> str | None:
    return next((m for m in handler_modules() if "notif" in m.rsplit(".", 1)[-1]), None)


def latency_available() -> str | None:
    modules = handler_modules()
    if not modules:
        return "handlers/ has no modules (the Lambda issue adds them)"
    if "handlers.events" not in modules:
        return "no handlers/events.py (the EventBridge handler)"
    if notifier_module() is None:
        return "no notifier handler in handlers/ (SQS alert queue to Slack)"
    for helper in ("tests/slack_server.py", "tests/aws.py"):
        if not (ROOT / helper).is_file():
            return f"{helper} does not exist"
    if importlib.util.find_spec("moto") is None:
        return "moto is not installed"
    return None


def latency_benchmark(events: int, log: Callable[[str], None]) -> Json:
    """EventBridge event into handlers.events, through the SQS alert queue (moto on loopback)
    and the notifier handler, to the request arriving at the loopback Slack server."""
    reason = latency_available()
    if reason is not None:
        return {"status": NOT_AVAILABLE, "reason": reason}
    with tempfile.TemporaryFile() as noise, _redirected_output(noise):
        try:
            stages = _measure_latency(events)
            error = None
        except Exception as failure:  # the handlers are young: report, do not break the run
            error = f"{type(failure).__name__}: {failure}"
        noise.seek(0, os.SEEK_END)
        noise.seek(max(0, noise.tell() - 1500))
        output_tail = noise.read().decode(errors="replace")
    if error is not None:
        return {"status": "error", "reason": error[:800], "output_tail": output_tail}
    first = stages[0]
    warm = [stage for stage in stages[1:] if "total" in stage]
    quiet = [stage["handler_non_matching"] for stage in stages if "handler_non_matching" in stage]
    totals = sorted(stage["total"] for stage in warm)
    log(f"  end to end: p50 {_percentile(totals, 50):.1f} ms over {len(totals)} warm events")
    return {
        "status": "measured",
        "events": len(totals),
        "p50_ms": round(_percentile(totals, 50), 2),
        "p99_ms": round(_percentile(totals, 99), 2),
        "max_ms": round(totals[-1], 2),
        "first_event_ms": round(first["total"], 2),
        "median_stage_ms": {
            name: round(statistics.median(stage[name] for stage in warm), 2)
            for name in ("detect_and_queue", "queue_receive", "notify_to_slack")
        },
        # handlers.events warm, against moto: a matching event is detect_and_queue above.
        "handler_non_matching_median_ms": round(statistics.median(quiet), 2) if quiet else None,
    }


@contextlib.contextmanager
def _redirected_output(target: IO[bytes]) -> Iterator[None]:
    """Send file descriptors 1 and 2 (handler logs, server access logs) to ``target``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _percentile(sorted_values: Sequence[float], percent: float) -> float:
    index = min(len(sorted_values) - 1, round(percent / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def _measure_latency(events: int) -> list[dict[str, float]]:
    """Milliseconds per event: in total, and per stage of the path."""
    import importlib

    import pytest
    from moto.server import ThreadedMotoServer

    from tests.aws import LambdaContext, deploy, eventbridge_event
    from tests.slack_server import SlackServer

    module = notifier_module()
    assert module is not None
    handle_event = importlib.import_module("handlers.events").handler
    notify = importlib.import_module(module).handler
    record = sample_record("iam:CreateUser")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stages: list[dict[str, float]] = []
    try:
        host, port = server.get_host_and_port()
        with SlackServer() as slack, pytest.MonkeyPatch.context() as patch:
            deployed = deploy(f"http://{host}:{port}", patch)
            patch.setenv("IAMWATCH_SLACK_API_URL", slack.api_url)
            patch.setenv("IAMWATCH_SLACK_TOKEN", SlackServer.TOKEN)
            patch.setenv("IAMWATCH_SLACK_CHANNEL", "#iamwatch-bench")
            sqs = deployed.client("sqs")
            for index in range(events + 1):  # the first one is the cold start
                # A new event id and user each time: idempotency and Slack dedup stay out of it.
                varied = record | {
                    "eventID": f"00000000-0000-4000-8000-{index:012d}",
                    "requestParameters": {"userName": f"bench-user-{index}"},
                }
                before = len(slack.requests)
                started = time.perf_counter()
                handle_event(eventbridge_event(varied), LambdaContext())
                queued = time.perf_counter()
                batch = sqs.receive_message(
                    QueueUrl=deployed.alert_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                received = time.perf_counter()
                notify(_sqs_event(batch, deployed.alert_queue_url), LambdaContext())
                while len(slack.requests) == before:
                    if time.perf_counter() - started > 10:
                        raise TimeoutError(f"event {index} never reached Slack")
                    time.sleep(0.0005)
                arrived = time.perf_counter()
                stages.append(
                    {
                        "total": (arrived - started) * 1000,
                        "detect_and_queue": (queued - started) * 1000,
                        "queue_receive": (received - queued) * 1000,
                        "notify_to_slack": (arrived - received) * 1000,
                    }
                )
            # The handler alone on an event the rules route but no detector fires on.
            quiet = sample_record("iam:AttachRolePolicy(read-only)")
            for index in range(min(events, 30)):
                varied = quiet | {"eventID": f"00000000-0000-4000-9000-{index:012d}"}
                started = time.perf_counter()
                handle_event(eventbridge_event(varied), LambdaContext())
                stages.append({"handler_non_matching": (time.perf_counter() - started) * 1000})
    finally:
        server.stop()
    return stages


def _sqs_event(messages: Sequence[Json], queue_url: str) -> Json:
    arn = "arn:aws:sqs:us-east-1:123456789012:" + queue_url.rsplit("/", 1)[-1]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


# --- targets and the run -------------------------------------------------------------------------


def targets(results: Json) -> list[Json]:
    headline = results["scan"][-1]
    # A quick run's corpus is too small for wall time: start-up would dominate the ratio.
    key = "ratio" if results["mode"] == FULL.name else "steady_ratio"
    ratio = headline[key] or 0.0
    rows = [
        {
            "name": "scan throughput / decompress+parse floor"
            + ("" if key == "ratio" else " (after start-up: quick corpus)"),
            "value": ratio,
            "target": f">= {TARGET_SCAN_RATIO}",
            "met": ratio >= TARGET_SCAN_RATIO,
        },
        {
            "name": "peak RSS of iamwatch scan (MB), every size",
            "value": max(s["iamwatch"]["peak_rss_mb"] for s in results["scan"]),
            "target": f"< {TARGET_RSS_MB:.0f}",
            "met": all(s["iamwatch"]["peak_rss_mb"] < TARGET_RSS_MB for s in results["scan"]),
        },
        {
            "name": "cold import of iamwatch.engine + detectors (ms)",
            "value": results["cold_start"]["core"].get("import_ms"),
            "target": f"< {TARGET_COLD_IMPORT_MS:.0f}",
            "met": (results["cold_start"]["core"].get("import_ms") or 1e9) < TARGET_COLD_IMPORT_MS,
        },
    ]
    rows += issue16_targets(results, key)
    handlers = results["cold_start"]["handlers"]
    if "status" not in handlers:
        for module, figures_ in handlers.items():
            value = figures_.get("import_ms")
            rows.append(
                {
                    "name": f"cold import of {module} (ms)",
                    "value": value,
                    "target": f"< {TARGET_COLD_IMPORT_MS:.0f}",
                    "met": value is not None and value < TARGET_COLD_IMPORT_MS,
                }
            )
    for label in ("matching", "non_matching"):
        value = results["warm_detection"][label]["evaluate_raw_us"]
        rows.append(
            {
                "name": f"warm detection, {label.replace('_', '-')} event (us)",
                "value": value,
                "target": f"< {TARGET_WARM_US:.0f}",
                "met": value < TARGET_WARM_US,
            }
        )
    return rows


def issue16_targets(results: Json, key: str) -> list[Json]:
    """The ratios of issue #16, each beside its target (wall time of median runs in a full
    run; the quick corpus is too small for that, so after start-up there)."""
    headline, stress = results["scan"][-1], results["stress"]
    suffix = "" if key == "ratio" else " (after start-up: quick corpus)"
    rows: list[Json] = []
    inflate = headline["peers"].get("inflate", {})
    if inflate.get(key):
        # Its time over the scan's: the scan's speed as a share of the inflate-only speed.
        value = inflate[key]
        rows.append(
            {
                "name": "scan speed / decompression-only speed (ISA-L, one core)" + suffix,
                "value": value,
                "target": f">= {TARGET_INFLATE_RATIO}",
                "met": value >= TARGET_INFLATE_RATIO,
            }
        )
    for label, section in (("default mix", headline), ("stress mix", stress)):
        value = section[key] or 0.0
        rows.append(
            {
                "name": f"scan speed / gunzip+orjson floor, {label}" + suffix,
                "value": value,
                "target": f">= {TARGET_FLOOR_RATIO}",
                "met": value >= TARGET_FLOOR_RATIO,
            }
        )
    duckdb = headline["peers"].get("duckdb", {})
    if duckdb.get(key):
        value = duckdb[key]
        rows.append(
            {
                "name": "scan speed / DuckDB read_json_auto speed (DuckDB on all cores)" + suffix,
                "value": value,
                "target": f">= {TARGET_DUCKDB_RATIO}",
                "met": value >= TARGET_DUCKDB_RATIO,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the iamwatch benchmarks.")
    parser.add_argument("--quick", action="store_true", help="small corpus, one repetition")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeat", type=int, default=None, help="runs per scan figure")
    parser.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        help="pass --jobs N to every iamwatch scan (once the scan has that option)",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        default=None,
        help="also time iamwatch scan as of this git revision on the headline corpus",
    )
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.jobs is not None:
        if not scan_jobs_available():
            parser.error("iamwatch scan has no --jobs option yet")
        _JOBS[:] = ["--jobs", str(args.jobs)]
    if args.repeat:
        mode = Mode(**{**asdict(mode), "repeat": args.repeat})

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results: Json = {
        "schema": 1,
        "mode": mode.name,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "scan_jobs": args.jobs,
    }
    log(f"iamwatch benchmarks ({mode.name}) on {results['machine']['cpu']}")
    log("corpus:")
    for size, mix in [(n, "default") for n in sorted({*mode.sizes, mode.slack_records})] + [
        (mode.sizes[-1], "stress")
    ]:
        directory, manifest = corpus.ensure(size, CORPUS_ROOT, mix=mix)
        log(
            f"  {size:>9,} records ({mix}): {manifest.files} files, "
            f"{manifest.compressed_bytes / 1e6:.0f} MB gzip, {manifest.interesting:,} "
            f"interesting ({directory.name})"
        )
    headline = mode.sizes[-1]
    log("scan throughput (the headline corpus with the decompression limit and DuckDB):")
    results["scan"] = [
        scan_benchmark(size, mode, log, peers=size == headline) for size in mode.sizes
    ]
    log("stress mix (10% of records the prefilter cannot drop):")
    results["stress"] = scan_benchmark(headline, mode, log, mix="stress", peers=True)
    log("jq:")
    results["jq"] = jq_benchmark(headline, results["scan"][-1], log)
    if mode.ablations:
        log("ablations:")
        # On the smaller corpus, timed by each program itself (after start-up), best of 3.
        results["ablations"] = ablation_benchmark(mode.sizes[0], 3, log)
    if args.before:
        results["before"] = before_benchmark(headline, args.before, log)
    log("scan with --slack:")
    results["slack"] = slack_benchmark(mode.slack_records, mode, log)
    log("cold start:")
    results["cold_start"] = cold_start_benchmark(mode, log)
    log("warm detection:")
    results["warm_detection"] = warm_benchmark()
    log("end-to-end latency:")
    results["end_to_end"] = latency_benchmark(mode.latency_events, log)
    results["targets"] = targets(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print_summary(results, log)
    log(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    problems = [p for s in [*results["scan"], results["stress"]] for p in s["problems"]]
    for problem in problems:
        log(f"problem: {problem}")
    return 1 if problems else 0


def print_summary(results: Json, log: Callable[[str], None]) -> None:
    log("")
    for scan in results["scan"]:
        ours, floor = scan["iamwatch"], scan["floor"]
        log(
            f"scan {scan['records']:>9,} records: {ours['records_per_s']:>9,} rec/s "
            f"{ours['compressed_mb_per_s']:6.1f} MB/s gz, RSS {ours['peak_rss_mb']:.0f} MB | "
            f"floor {floor['records_per_s']:>9,} rec/s, RSS {floor['peak_rss_mb']:.0f} MB | "
            f"ratio {scan['ratio']:.2f} (CPU {scan['cpu_ratio']:.2f})"
        )
    for row in results["targets"]:
        log(
            f"{'met    ' if row['met'] else 'MISSED '} {row['name']}: {row['value']} "
            f"(target {row['target']})"
        )
    for key in ("slack", "end_to_end"):
        section = results[key]
        if section.get("status") != "measured":
            log(f"{key}: {section.get('status')} ({section.get('reason')})")


if __name__ == "__main__":
    raise SystemExit(main())
