"""What ``iamwatch scan`` says on stderr while it runs and when it ends.

A problem is one line with its place; a source with many (a text file full of garbage lines)
shows the first few and then how many more, so a bad input costs a few lines, not thousands. An
input that could not be read at all is an error line naming the source and the cause. A Slack
delivery that fails is reported when it fails, with the finding id and Slack's reason.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from iamwatch.telemetry import NullTelemetry
from iamwatch.terminal import printable

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.detection import DetectionStats
    from iamwatch.engine import DetectorFailure
    from iamwatch.finding import Finding
    from iamwatch.registry import Registry
    from iamwatch.slack.notifier import DeliveryResult
    from iamwatch.slack.suppress import SuppressionRule
    from iamwatch.sources import Location, Problem

# Problem lines shown per source, and files not JSON named in the summary.
SHOWN_PER_SOURCE = 5
NAMED_SKIPPED_FILES = 3


class ScanReport(NullTelemetry):
    """The scan's stderr; also the delivery service's telemetry, to report each Slack failure
    as it happens."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.problems_by_source: Counter[str] = Counter()
        self.skipped_files: list[str] = []
        self.unreadable: list[str] = []
        self.suppressed_by: Counter[SuppressionRule] = Counter()
        self.suppressed_detectors: dict[SuppressionRule, set[str]] = {}
        self.expired: dict[SuppressionRule, None] = {}

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def problem(self, problem: Problem) -> None:
        source = problem.location.source
        place = printable(str(problem.location))
        if problem.transient:
            self.unreadable.append(source)
            self._line(f"error: {place}: {printable(problem.reason)}")
            return
        if problem.not_json:
            self.skipped_files.append(source)
            return
        self.problems_by_source[source] += 1
        seen = self.problems_by_source[source]
        if seen <= SHOWN_PER_SOURCE:
            self._line(f"warning: {place}: {printable(problem.reason)}; skipped")
        elif seen == SHOWN_PER_SOURCE + 1:
            self._line(
                f"warning: {printable(source)}: more malformed records; only the first "
                f"{SHOWN_PER_SOURCE} are shown (all are in the audit trail)"
            )

    def detector_failure(self, location: Location, failure: DetectorFailure) -> None:
        self._line(
            f"error: detector {failure.detector} failed on {printable(str(location))} "
            f"(event {printable(failure.event_id)}): {printable(failure.error)}"
        )

    def suppressed(self, finding: Finding, rule: SuppressionRule) -> None:
        self.suppressed_by[rule] += 1
        self.suppressed_detectors.setdefault(rule, set()).add(finding.detector)

    def rule_expired(self, rule: SuppressionRule) -> None:
        self.expired.setdefault(rule, None)

    # The delivery service's telemetry port.
    def delivery_failed(self, finding: Finding, result: DeliveryResult) -> None:
        where = f" to {printable(result.channel)}" if result.channel else ""
        later = " (a retry may succeed)" if result.retryable else ""
        self._line(
            f"error: slack: failed: {finding.detector} {finding.finding_id}{where}: "
            f"{printable(result.reason)}{later}"
        )

    def summary(self, stats: DetectionStats, elapsed: float, registry: Registry) -> None:
        """The summary (left out by -q), then what needs attention (always)."""
        if not self.quiet:
            self._counts(stats, elapsed, registry)
            for rule, count in self.suppressed_by.items():
                detectors = ", ".join(sorted(self.suppressed_detectors[rule]))
                self._line(f"  suppressed: {detectors} ({count:,}) by {printable(rule.describe())}")
        for rule in self.expired:
            self._line(
                f"warning: suppression rule {printable(rule.describe())} has expired and no "
                "longer suppresses; its findings were reported. Renew or remove it."
            )
        if self.skipped_files:
            named = ", ".join(printable(name) for name in self.skipped_files[:NAMED_SKIPPED_FILES])
            more = len(self.skipped_files) - NAMED_SKIPPED_FILES
            self._line(
                f"warning: skipped {len(self.skipped_files):,} file(s) holding no CloudTrail "
                f"records: {named}" + (f" and {more:,} more" if more > 0 else "")
            )
        if stats.cloudtrail_records == 0:
            self._line(
                "warning: no CloudTrail records were found in the input (--strict makes "
                "this exit 5)"
            )

    def _counts(self, stats: DetectionStats, elapsed: float, registry: Registry) -> None:
        from rich.table import Table

        rate = stats.records / elapsed if elapsed > 0 else 0.0
        self._line(
            f"Scanned {stats.files:,} file(s), {stats.records:,} records "
            f"({stats.examined:,} examined by detectors) in {elapsed:.2f}s "
            f"({rate:,.0f} records/s)."
        )
        parts = [f"Findings: {stats.total_findings:,}"]
        if stats.total_suppressed:
            parts[0] += f" ({stats.total_suppressed:,} more suppressed)"
        if stats.below_min_severity:
            parts[0] += f" ({stats.below_min_severity:,} below --min-severity)"
        parts.append(f"Malformed records or files: {stats.malformed:,}")
        if stats.repeats:
            parts.append(f"Records already scanned, skipped: {stats.repeats:,}")
        if stats.unreadable:
            parts.append(f"Inputs that could not be read: {stats.unreadable:,}")
        if stats.detector_failures:
            parts.append(f"Detector errors: {stats.detector_failures:,}")
        self._line(". ".join(parts) + ".")
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
            self.console.print(table)
