"""Render ``bench/results.json`` as the Markdown tables quoted in BENCHMARKS.md.

python -m bench.report [bench/results.json]
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.run import RESULTS

Json = dict[str, Any]


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Iterator[str]:
    yield "| " + " | ".join(header) + " |"
    yield "|" + "|".join("---" for _ in header) + "|"
    for row in rows:
        yield "| " + " | ".join(row) + " |"


def machine(results: Json) -> Iterator[str]:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    yield (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['implementation']} "
        f"{m['python']}, {m['platform']}; load average at start "
        f"{', '.join(str(x) for x in m['load_average_at_start'])}. {packages}. "
        f"Run of {results['generated_at']} ({results['mode']}, {results['seconds']:.0f} s)."
    )


def scan(results: Json) -> Iterator[str]:
    rows = []
    for s in results["scan"]:
        ours, floor = s["iamwatch"], s["floor"]
        rows.append(
            [
                f"{s['records']:,} ({s['files']} files, {s['compressed_mb']:.0f} MB gz)",
                f"{_n(ours['records_per_s'])} rec/s, {ours['compressed_mb_per_s']} MB/s",
                f"{_n(floor['records_per_s'])} rec/s, {floor['compressed_mb_per_s']} MB/s",
                f"**{s['ratio']:.2f}**",
                f"{s['cpu_ratio']:.2f}",
                f"{s['best_ratio']:.2f}" if s.get("best_ratio") else "-",
                f"{s['steady_ratio']:.2f}" if s.get("steady_ratio") else "-",
                f"{ours['peak_rss_mb']:.0f} MB",
                f"{floor['peak_rss_mb']:.0f} MB",
                str(ours["findings"]),
            ]
        )
    yield from _table(
        [
            "records",
            "iamwatch scan",
            "floor (gunzip + orjson)",
            "ratio (wall)",
            "ratio (CPU)",
            "ratio (best runs)",
            "ratio (after start-up)",
            "peak RSS",
            "floor RSS",
            "findings",
        ],
        rows,
    )


def _peer_row(name: str, figures: Json, scan: Json, walls: list[float] | None) -> list[str]:
    ratio = figures["wall_s"] / scan["wall_s"]
    scan_walls = scan.get("all_wall_s")
    best = f"{min(walls) / min(scan_walls):.2f}" if walls and scan_walls else "-"
    return [
        name,
        f"{_n(figures['records_per_s'])} rec/s, {figures['compressed_mb_per_s']} MB/s gz",
        f"{figures['wall_s']:.2f} s",
        f"{figures['cpu_s']:.2f} s",
        f"{figures['peak_rss_mb']:.0f} MB",
        f"{ratio:.2f}",
        best,
    ]


def contenders(results: Json, section: Json, title: str) -> Iterator[str]:
    """The scan beside the decompression limit, the floor and the peers, same files, same run
    (median of the interleaved runs, and the best runs)."""
    ours, floor = section["iamwatch"], section["floor"]
    peers = section.get("peers", {})
    walls = section.get("all_wall_s", {})
    scan_figures = ours | {"all_wall_s": walls.get("iamwatch")}
    yield (
        f"{title}: {section['records']:,} records ({section['files']} files, "
        f"{section['compressed_mb']:.0f} MB gz, {section['uncompressed_mb']:.0f} MB of JSON), "
        f'median of {section["runs"]} interleaved runs; "vs scan" is the contender\'s time over '
        "the scan's (above 1: the scan is faster), of the median runs and of the best ones."
    )
    yield ""
    rows = [_peer_row("iamwatch scan", ours, scan_figures, walls.get("iamwatch"))]
    if "inflate" in peers:
        inflate = peers["inflate"]
        rows.append(
            _peer_row(
                "read + inflate only (ISA-L, one core)",
                inflate,
                scan_figures,
                inflate.get("all_wall_s"),
            )
        )
    rows.append(_peer_row("floor: gunzip + orjson", floor, scan_figures, walls.get("floor")))
    duckdb = peers.get("duckdb", {})
    if "wall_s" in duckdb:
        rows.append(
            _peer_row(
                f"DuckDB read_json_auto, event names ({duckdb.get('selected', '?')} selected)",
                duckdb,
                scan_figures,
                duckdb.get("all_wall_s"),
            )
        )
    elif duckdb:
        rows.append(["DuckDB", duckdb.get("status", "-"), duckdb.get("reason", ""), "", "", "", ""])
    jq = results.get("jq", {}) if section is results["scan"][-1] else {}
    if jq.get("status") == "measured":
        rows.append(
            [
                f"jq on {jq['records']:,} of the records ({jq['files']} files), by rate",
                f"{_n(jq['records_per_s'])} rec/s",
                f"{jq['wall_s']:.2f} s",
                f"{jq['cpu_s']:.2f} s",
                "-",
                f"{jq['ratio']:.2f}",
                "-",
            ]
        )
    elif jq:
        rows.append(["jq", jq.get("status", "-"), jq.get("reason", ""), "", "", "", ""])
    yield from _table(
        ["contender", "speed", "wall", "CPU", "peak RSS", "vs scan (median)", "(best)"], rows
    )


def targets(results: Json) -> Iterator[str]:
    rows = [
        [row["name"], str(row["value"]), row["target"], "met" if row["met"] else "**missed**"]
        for row in results["targets"]
    ]
    yield from _table(["figure", "measured", "target", ""], rows)


def ablations(results: Json) -> Iterator[str]:
    section = results.get("ablations")
    if not section:
        return
    rows = []
    for name, figures in section.items():
        if not isinstance(figures, dict):
            continue
        rows.append(
            [
                name,
                _n(figures["inner_records_per_s"]),
                f"{figures['inner_s']:.2f} s",
                f"{figures['wall_s']:.2f} s",
                f"{figures['min_cpu_s']:.2f} s",
                f"{figures['peak_rss_mb']:.0f} MB",
            ]
        )
    yield (
        f"{section['records']:,} records, best of {section['rounds']} interleaved rounds, "
        "timed by each program after its start-up (wall and CPU include start-up)."
    )
    yield ""
    yield from _table(
        ["variant", "records/s", "time", "wall", "CPU", "peak RSS"],
        rows,
    )


def others(results: Json) -> Iterator[str]:
    slack = results["slack"]
    rows = []
    if slack.get("status") == "measured":
        plain, posted = slack["iamwatch"], slack["iamwatch_slack"]
        rows.append(
            [
                f"scan --slack, {slack['records']:,} records",
                f"{_n(posted['records_per_s'])} rec/s ({posted['slack_requests']} Slack requests)",
                f"plain scan {_n(plain['records_per_s'])} rec/s",
                "close to plain",
                f"{slack['ratio']:.2f} of plain",
            ]
        )
    else:
        rows.append(["scan --slack", slack.get("status", "-"), slack.get("reason", ""), "", ""])
    cold = results["cold_start"]
    baseline = (
        f"interpreter {cold['baseline_interpreter']['process_ms']:.0f} ms; "
        f"import pydantic {cold['baseline_pydantic']['import_ms']:.0f} ms"
    )
    rows.append(
        [
            "cold import of iamwatch.engine + detectors",
            f"{cold['core']['import_ms']:.0f} ms (process {cold['core']['process_ms']:.0f} ms)",
            baseline,
            "< 300 ms",
            "met" if cold["core"]["import_ms"] < 300 else "**missed**",
        ]
    )
    handlers = cold["handlers"]
    if "status" in handlers:
        rows.append(["cold import of handlers", handlers["status"], handlers["reason"], "", ""])
    else:
        for module, figures in handlers.items():
            rows.append(
                [
                    f"cold import of {module}",
                    f"{figures['import_ms']:.0f} ms (process {figures['process_ms']:.0f} ms)",
                    baseline,
                    "< 300 ms",
                    "met" if figures["import_ms"] < 300 else "**missed**",
                ]
            )
    for label, figures in results["warm_detection"].items():
        rows.append(
            [
                f"warm Engine.evaluate_raw, {label.replace('_', '-')} ({figures['event']})",
                f"{figures['evaluate_raw_us']:.1f} us",
                f"orjson.loads of it {figures['baseline_orjson_loads_us']:.1f} us",
                "< 200 us",
                "met" if figures["evaluate_raw_us"] < 200 else "**missed**",
            ]
        )
    latency = results["end_to_end"]
    if latency.get("status") == "measured":
        stages = ", ".join(f"{k} {v:.0f}" for k, v in latency["median_stage_ms"].items())
        rows.append(
            [
                f"end to end on loopback, {latency['events']} events",
                f"p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms",
                f"median stages (ms): {stages}; first event {latency['first_event_ms']:.0f} ms",
                "-",
                "reported",
            ]
        )
        rows.append(
            [
                "warm handlers.events, non-matching event (moto)",
                f"{latency['handler_non_matching_median_ms']:.1f} ms",
                f"matching: detect_and_queue {latency['median_stage_ms']['detect_and_queue']:.0f}"
                " ms",
                "-",
                "reported",
            ]
        )
    else:
        rows.append(["end to end", latency.get("status", "-"), latency.get("reason", ""), "", ""])
    yield from _table(["figure", "iamwatch", "baseline (same run)", "target", ""], rows)


def before(results: Json) -> Iterator[str]:
    old = results.get("before")
    if not old or "wall_s" not in old:
        return
    now = results["scan"][-1]["iamwatch"]
    rows = [
        [
            f"iamwatch at {old['revision']}",
            _n(old["records_per_s"]),
            f"{old['wall_s']:.2f} s",
            f"{old['cpu_s']:.2f} s",
            f"{old['peak_rss_mb']:.0f} MB",
        ],
        [
            "iamwatch now (median of the scan runs)",
            _n(now["records_per_s"]),
            f"{now['wall_s']:.2f} s",
            f"{now['cpu_s']:.2f} s",
            f"{now['peak_rss_mb']:.0f} MB",
        ],
    ]
    yield from _table(["", "records/s", "wall", "CPU", "peak RSS"], rows)


def render(results: Json) -> Iterator[str]:
    yield from machine(results)
    yield ""
    yield from scan(results)
    yield ""
    if "peers" in results["scan"][-1]:
        yield from contenders(results, results["scan"][-1], "Default mix")
        yield ""
    if "stress" in results:
        yield from contenders(results, results["stress"], "Stress mix")
        yield ""
    yield from targets(results)
    yield ""
    yield from others(results)
    yield ""
    yield from before(results)
    yield ""
    yield from ablations(results)


def main(argv: Sequence[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS
    results = orjson.loads(path.read_bytes())
    sys.stdout.write("\n".join(render(results)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
