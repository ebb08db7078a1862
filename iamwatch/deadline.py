"""How long the current Lambda invocation has left, for code that waits (Slack retries).

Lambda stops a function at its timeout without a word: whatever it was waiting for is lost,
and a batch it was working on returns to the queue with no reason and no audit record. The
handler starts the deadline from ``context.get_remaining_time_in_millis()``; code that sleeps
or starts a request asks ``remaining()`` first. Outside Lambda (the CLI) there is no deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Deadline:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end: float | None = None

    def start(self, remaining_seconds: float) -> None:
        """The invocation has ``remaining_seconds`` from now."""
        self._end = self._clock() + remaining_seconds

    def stop(self) -> None:
        self._end = None

    def remaining(self) -> float:
        """Seconds left (``inf`` with no invocation running)."""
        if self._end is None:
            return math.inf
        return max(0.0, self._end - self._clock())


NO_DEADLINE = Deadline()
