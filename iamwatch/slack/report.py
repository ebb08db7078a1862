"""The delivery summary ``iamwatch scan --slack`` prints on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iamwatch.slack.notifier import DeliverySummary, Outcome
from iamwatch.terminal import printable

if TYPE_CHECKING:
    from rich.console import Console


def print_delivery_summary(console: Console, summary: DeliverySummary, suppressed: int) -> None:
    """The Slack line (``suppressed``: findings the detection service muted, never sent) and
    each failure with Slack's reason."""
    counts = summary.counts
    deduplicated = counts[Outcome.DEDUPLICATED] + counts[Outcome.ALREADY_DELIVERED]
    line = (
        f"Slack: {counts[Outcome.POSTED]:,} posted, {deduplicated:,} deduplicated, "
        f"{suppressed:,} suppressed, {counts[Outcome.FAILED]:,} failed."
    )
    console.print(line, markup=False, highlight=False)
    for result in summary.failures:
        where = f" to {printable(result.channel)}" if result.channel else ""
        later = " (a retry may succeed)" if result.retryable else ""
        console.print(
            f"  failed: {result.detector} {result.finding_id}{where}: "
            f"{printable(result.reason)}{later}",
            markup=False,
            highlight=False,
        )
