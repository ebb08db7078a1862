"""Each signed request is acted on once: a replay of a captured request inside the five-minute
window is refused.

A signature covers the timestamp and the body, so signature + timestamp names one request. The
first to arrive claims it in the state store (one conditional write in DynamoDB); any later
arrival, from anyone, finds the claim taken. The claim outlives every moment at which the
verifier could still accept the request: up to five minutes either side of its timestamp.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from iamwatch.slack.interactions.verify import WINDOW_SECONDS
from iamwatch.state import StateStore

CLAIM_WINDOW = timedelta(seconds=2 * WINDOW_SECONDS + 60)


class ReplayGuard:
    def __init__(self, state: StateStore) -> None:
        self._state = state

    def first_time(self, timestamp: str, signature: str, now: datetime) -> bool:
        key = hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()
        # A fresh claimant id per arrival: StateStore.claim lets the same id claim again.
        arrival = str(uuid.uuid4())
        return self._state.claim(f"slack-request#{key}", arrival, now, CLAIM_WINDOW)
