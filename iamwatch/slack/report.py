"""The delivery summary ``iamwatch scan --slack`` prints on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iamwatch.slack.notifier import DeliverySummary, Outcome

if TYPE_CHECKING:
    from rich.console import Console


def print_delivery_summary(console: Console, summary: DeliverySummary, suppressed: int) -> None:
    """The Slack line (``suppressed``: findings the detection service muted, never sent); each
    failure was reported as it happened."""
    counts = summary.counts
    deduplicated = counts[Outcome.DEDUPLICATED] + counts[Outcome.ALREADY_DELIVERED]
    line = (
        f"Slack: {counts[Outcome.POSTED]:,} posted, {deduplicated:,} deduplicated, "
        f"{suppressed:,} suppressed, {counts[Outcome.FAILED]:,} failed."
    )
    console.print(line, markup=False, highlight=False)
