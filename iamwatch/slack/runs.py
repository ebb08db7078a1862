"""One Slack summary per backfill run: the counts behind it, and which notifier posts it.

A backfill run can raise thousands of findings from history; posted one by one they would bury
the channel. Findings carrying a ``backfill_run`` (below critical) are counted into their run's
summary instead, and one message per run shows the counts, updated as more arrive; critical
ones are still posted on their own. The counts are added atomically, so notifiers running side
by side neither lose nor double them; one notifier claims the right to post the message, the
others only update it once it exists. ``rendered`` is the total the message last showed, so a
summary whose Slack update failed is refreshed by the next delivery touching the run.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from iamwatch.finding import Finding
from iamwatch.severity import Severity

# A claim whose holder never posted (it crashed) lets another notifier post after this long.
CLAIM_TIMEOUT = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    total: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    by_detector: dict[str, int] = field(default_factory=dict)
    channel: str | None = None
    ts: str | None = None
    rendered: int = 0

    @property
    def stale(self) -> bool:
        """The message (if any) shows fewer findings than were counted."""
        return self.ts is None or self.rendered < self.total


class RunSummaries(Protocol):
    def add(self, run_id: str, findings: Sequence[Finding]) -> RunSummary:
        """Count ``findings`` into the run (atomically); the run as it is after."""
        ...

    def get(self, run_id: str) -> RunSummary: ...

    def claim(self, run_id: str) -> bool:
        """True for the one caller that is to post the run's message now."""
        ...

    def release(self, run_id: str) -> None:
        """The claimer could not post: the next delivery touching the run may claim again."""
        ...

    def posted(self, run_id: str, channel: str, ts: str, rendered: int) -> RunSummary:
        """The message was posted there, showing ``rendered`` findings; the run after."""
        ...

    def shown(self, run_id: str, rendered: int) -> None:
        """The message was updated to show ``rendered`` findings (never goes backwards)."""
        ...


def counts(findings: Sequence[Finding]) -> tuple[Counter[str], Counter[str]]:
    return (
        Counter(finding.severity.value for finding in findings),
        Counter(finding.detector for finding in findings),
    )


def summarized(finding: Finding) -> bool:
    """Whether a finding goes into its run's summary rather than a message of its own."""
    return finding.backfill_run is not None and finding.severity < Severity.CRITICAL


class MemoryRunSummaries:
    """In one process (the CLI, tests): a dict behind a lock."""

    def __init__(self, clock: type[datetime] = datetime) -> None:
        self._runs: dict[str, RunSummary] = {}
        self._claims: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def add(self, run_id: str, findings: Sequence[Finding]) -> RunSummary:
        severities, detectors = counts(findings)
        with self._lock:
            run = self._runs.get(run_id, RunSummary(run_id))
            run = replace(
                run,
                total=run.total + len(findings),
                by_severity=dict(Counter(run.by_severity) + severities),
                by_detector=dict(Counter(run.by_detector) + detectors),
            )
            self._runs[run_id] = run
            return run

    def get(self, run_id: str) -> RunSummary:
        with self._lock:
            return self._runs.get(run_id, RunSummary(run_id))

    def claim(self, run_id: str) -> bool:
        now = self._clock.now(UTC)
        with self._lock:
            if self._runs.get(run_id, RunSummary(run_id)).ts is not None:
                return False
            claimed = self._claims.get(run_id)
            if claimed is not None and now - claimed < CLAIM_TIMEOUT:
                return False
            self._claims[run_id] = now
            return True

    def release(self, run_id: str) -> None:
        with self._lock:
            self._claims.pop(run_id, None)

    def posted(self, run_id: str, channel: str, ts: str, rendered: int) -> RunSummary:
        with self._lock:
            run = replace(
                self._runs.get(run_id, RunSummary(run_id)),
                channel=channel,
                ts=ts,
                rendered=rendered,
            )
            self._runs[run_id] = run
            return run

    def shown(self, run_id: str, rendered: int) -> None:
        with self._lock:
            run = self._runs.get(run_id, RunSummary(run_id))
            self._runs[run_id] = replace(run, rendered=max(run.rendered, rendered))
