"""Printing findings: a rich table for people, JSON Lines for tools (the DESIGN contract).

A suppressed finding is shown as suppressed, never as a live one: in JSON Lines it carries
``"suppressed": true`` and the rule that muted it, in the table it is marked and dimmed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

import orjson

from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.terminal import printable

if TYPE_CHECKING:
    from iamwatch.slack.suppress import SuppressionRule

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def finding_document(
    finding: Finding, suppressed_by: SuppressionRule | None = None
) -> dict[str, Any]:
    document = finding.model_dump(mode="json")
    if suppressed_by is not None:
        document["suppressed"] = True
        document["suppressed_by"] = suppressed_by.describe()
    return document


def finding_json(finding: Finding, suppressed_by: SuppressionRule | None = None) -> bytes:
    return orjson.dumps(finding_document(finding, suppressed_by))


def write_jsonl(
    finding: Finding, stream: IO[bytes], suppressed_by: SuppressionRule | None = None
) -> None:
    stream.write(finding_json(finding, suppressed_by) + b"\n")


SHORT_ID = 8


def short_id(finding_id: str) -> str:
    """The head of a finding id, which ``remediate`` and ``export --finding`` accept as long
    as it names one finding."""
    return finding_id[:SHORT_ID]


def findings_table(
    findings: Iterable[Finding],
    suppressed: Iterable[tuple[Finding, SuppressionRule]] = (),
) -> object:
    """Wrapped columns, so the table stays readable in an 80-column terminal; ARNs and names
    are folded, never cut, so what is shown can be copied."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="iamwatch findings", box=box.SIMPLE_HEAD, show_lines=True, expand=True)
    table.add_column("Severity / when / where / id", no_wrap=True, min_width=24)
    table.add_column("Detector and what happened", ratio=3, overflow="fold")
    table.add_column("Actor / target", ratio=2, min_width=16, overflow="fold")
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
        when.append(f"\n{short_id(finding.finding_id)}", style="dim")
        what = Text(finding.detector, style="bold" if rule is None else "dim")
        what.append(f"\n{printable(finding.summary)}")
        if rule is not None:
            what.append(f"\nsuppressed by {printable(rule.describe())}", style="dim")
        who = Text(f"{printable(finding.actor)} ({finding.actor_kind.label})")
        who.append(f"\n-> {printable(finding.target) or '-'}", style="dim")
        table.add_row(when, what, who)
    return table
