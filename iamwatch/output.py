"""Printing findings: a rich table for people, JSON Lines for tools (the DESIGN contract).

A suppressed finding is shown as suppressed, never as a live one: in JSON Lines it carries
``"suppressed": true`` and the rule that muted it, in the table it is marked and dimmed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

import orjson

from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.terminal import printable

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.detection import DetectionStats
    from iamwatch.registry import Registry
    from iamwatch.slack.suppress import SuppressionRule

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def finding_json(finding: Finding, suppressed_by: SuppressionRule | None = None) -> bytes:
    document = finding.model_dump(mode="json")
    if suppressed_by is not None:
        document["suppressed"] = True
        document["suppressed_by"] = suppressed_by.describe()
    return orjson.dumps(document)


def write_jsonl(
    finding: Finding, stream: IO[bytes], suppressed_by: SuppressionRule | None = None
) -> None:
    stream.write(finding_json(finding, suppressed_by) + b"\n")


def findings_table(
    findings: Iterable[Finding],
    suppressed: Iterable[tuple[Finding, SuppressionRule]] = (),
) -> object:
    """Three wrapped columns, so the table stays readable in an 80-column terminal."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="iamwatch findings", box=box.SIMPLE_HEAD, show_lines=True, expand=True)
    table.add_column("Severity / when / where", no_wrap=True, min_width=24)
    table.add_column("Detector and what happened", ratio=3)
    table.add_column("Actor / target", ratio=1, min_width=16)
    rows: list[tuple[Finding, SuppressionRule | None]] = [(finding, None) for finding in findings]
    rows += suppressed
    rows.sort(key=lambda row: (row[0].event_time, -row[0].severity.rank))
    for finding, rule in rows:
        if rule is None:
            when = Text(finding.severity.value.upper(), style=SEVERITY_STYLES[finding.severity])
        else:
            when = Text(f"{finding.severity.value} (suppressed)", style="dim")
        when.append(f"\n{finding.event_time:%Y-%m-%d %H:%M:%S}")
        when.append(f"\n{printable(finding.account) or '-'} {printable(finding.region) or ''}")
        what = Text(finding.detector, style="bold" if rule is None else "dim")
        what.append(f"\n{printable(finding.summary)}")
        if rule is not None:
            what.append(f"\nsuppressed by {printable(rule.describe())}", style="dim")
        who = Text(f"{printable(finding.actor_name)} ({finding.actor_kind.label})")
        who.append(f"\n-> {printable(finding.target) or '-'}", style="dim")
        table.add_row(when, what, who)
    return table


def print_summary(
    console: Console, stats: DetectionStats, elapsed: float, registry: Registry
) -> None:
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
        + (f" ({stats.total_suppressed:,} more suppressed)" if stats.total_suppressed else "")
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
    if stats.findings or stats.suppressed:
        table = Table(show_header=True, box=None, pad_edge=False)
        table.add_column("detector")
        table.add_column("findings", justify="right")
        if stats.suppressed:
            table.add_column("suppressed", justify="right")
        for detector_id in registry.ids:
            found, muted = stats.findings[detector_id], stats.suppressed[detector_id]
            if found or muted:
                cells = [detector_id, f"{found:,}"]
                if stats.suppressed:
                    cells.append(f"{muted:,}")
                table.add_row(*cells)
        console.print(table)


def print_suppression_summary(
    console: Console,
    suppressed: Counter[SuppressionRule],
    detectors: dict[SuppressionRule, set[str]],
    expired: Iterable[SuppressionRule],
) -> None:
    """What each rule muted, and each expired rule that matched (it suppresses no more)."""
    for rule in expired:
        console.print(
            f"warning: suppression rule {printable(rule.describe())} has expired and no longer "
            "suppresses; its findings were reported. Renew or remove it.",
            markup=False,
            highlight=False,
        )
    for rule, count in suppressed.items():
        console.print(
            f"  suppressed: {', '.join(sorted(detectors[rule]))} ({count:,}) by "
            f"{printable(rule.describe())}",
            markup=False,
            highlight=False,
        )
