"""The delivery summary ``iamwatch scan --slack`` prints on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iamwatch.slack.notifier import DeliverySummary, Outcome
from iamwatch.terminal import printable

if TYPE_CHECKING:
    from rich.console import Console


def print_delivery_summary(console: Console, summary: DeliverySummary) -> None:
    counts = summary.counts
    deduplicated = counts[Outcome.DEDUPLICATED] + counts[Outcome.ALREADY_DELIVERED]
    line = (
        f"Slack: {counts[Outcome.POSTED]:,} posted, {deduplicated:,} deduplicated, "
        f"{counts[Outcome.SUPPRESSED]:,} suppressed, {counts[Outcome.FAILED]:,} failed."
    )
    console.print(line, markup=False, highlight=False)
    for rule in summary.expired_rules:
        console.print(
            f"warning: suppression rule {printable(rule.describe())} has expired and no longer "
            "suppresses; its findings were delivered. Renew or remove it.",
            markup=False,
            highlight=False,
        )
    for result in summary.suppressed:
        by = result.suppressed_by
        console.print(
            f"  suppressed: {result.detector} {result.finding_id}"
            + (f" by {printable(by.describe())}" if by is not None else ""),
            markup=False,
            highlight=False,
        )
    for result in summary.failures:
        where = f" to {printable(result.channel)}" if result.channel else ""
        later = " (a retry may succeed)" if result.retryable else ""
        console.print(
            f"  failed: {result.detector} {result.finding_id}{where}: "
            f"{printable(result.reason)}{later}",
            markup=False,
            highlight=False,
        )
