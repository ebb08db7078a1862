"""A per-source budget for requests Slack did not sign: what anyone on the internet can send.

The endpoint is public and an HTTP API cannot throttle per client without WAF (which HTTP APIs
do not support). Slack's own requests are signed and handled in full; an unsigned, forged,
stale or replayed one costs no write at all, and each source address gets a few log lines a
minute for them, then ``429`` without a line. The count lives in the container (each warm
Lambda keeps its own): it bounds the work and the logs, not the stage's throttle.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

WINDOW_SECONDS = 60.0
PER_SOURCE = 10  # unsigned requests a source may make per window before 429
_TRACKED = 10_000  # sources remembered per container; the oldest are forgotten


@dataclass(slots=True)
class _Window:
    start: float
    count: int = 0
    told: bool = False


class SourceBudget:
    def __init__(self, per_source: int = PER_SOURCE, window: float = WINDOW_SECONDS) -> None:
        self._per_source = per_source
        self._window = window
        self._sources: OrderedDict[str, _Window] = OrderedDict()

    def spend(self, source: str | None, now: float) -> bool:
        """Count one unsigned request from ``source``; False once it is over its budget."""
        key = source or "unknown"
        window = self._sources.get(key)
        if window is None or now - window.start >= self._window:
            window = self._sources[key] = _Window(now)
        self._sources.move_to_end(key)
        while len(self._sources) > _TRACKED:
            self._sources.popitem(last=False)
        window.count += 1
        return window.count <= self._per_source

    def first_refusal(self, source: str | None) -> bool:
        """True once per window for a source over its budget: the one line logged about it."""
        window = self._sources.get(source or "unknown")
        if window is None or window.told:
            return False
        window.told = True
        return True
