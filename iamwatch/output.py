"""Printing findings: a rich table for people, JSON Lines for tools (the DESIGN contract)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

import orjson

from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.terminal import printable

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.registry import Registry
    from iamwatch.scan import ScanStats

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def finding_json(finding: Finding) -> bytes:
    return orjson.dumps(finding.model_dump(mode="json"))


def write_jsonl(finding: Finding, stream: IO[bytes]) -> None:
    stream.write(finding_json(finding) + b"\n")


def findings_table(findings: Iterable[Finding]) -> object:
    """Three wrapped columns, so the table stays readable in an 80-column terminal."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="iamwatch findings", box=box.SIMPLE_HEAD, show_lines=True, expand=True)
    table.add_column("Severity / when / where", no_wrap=True, min_width=24)
    table.add_column("Detector and what happened", ratio=3)
    table.add_column("Actor / target", ratio=1, min_width=16)
    ordered = sorted(findings, key=lambda f: (f.event_time, -f.severity.rank))
    for finding in ordered:
        when = Text(finding.severity.value.upper(), style=SEVERITY_STYLES[finding.severity])
        when.append(f"\n{finding.event_time:%Y-%m-%d %H:%M:%S}")
        when.append(f"\n{printable(finding.account) or '-'} {printable(finding.region) or ''}")
        what = Text(finding.detector, style="bold")
        what.append(f"\n{printable(finding.summary)}")
        who = Text(f"{printable(finding.actor_name)} ({finding.actor_kind.label})")
        who.append(f"\n-> {printable(finding.target) or '-'}", style="dim")
        table.add_row(when, what, who)
    return table


def print_summary(console: Console, stats: ScanStats, elapsed: float, registry: Registry) -> None:
    from rich.table import Table

    rate = stats.records / elapsed if elapsed > 0 else 0.0
    console.print(
        f"Scanned {stats.files:,} file(s), {stats.records:,} records "
        f"({stats.examined:,} examined by detectors) in {elapsed:.2f}s ({rate:,.0f} records/s).",
        markup=False,
        highlight=False,
    )
    console.print(
        f"Findings: {stats.total_findings:,}"
        + (
            f" ({stats.below_min_severity:,} below --min-severity)"
            if stats.below_min_severity
            else ""
        )
        + f". Malformed records or files: {stats.malformed:,}."
        + (f" Detector errors: {stats.detector_failures:,}." if stats.detector_failures else ""),
        markup=False,
        highlight=False,
    )
    if stats.findings:
        table = Table(show_header=True, box=None, pad_edge=False)
        table.add_column("detector")
        table.add_column("findings", justify="right")
        for detector_id in registry.ids:
            if stats.findings[detector_id]:
                table.add_row(detector_id, f"{stats.findings[detector_id]:,}")
        console.print(table)
