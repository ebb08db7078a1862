"""Is this request from Slack? slack-sdk's signature verifier, with the reason when it is not.

Slack signs ``v0:{timestamp}:{body}`` with the app's signing secret (HMAC-SHA256) and sends the
result in ``X-Slack-Signature``. A request is accepted only with a valid signature over the exact
body and a timestamp within five minutes of now, either way; a refusal says which check failed
(for the audit trail), never anything computed from the secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from enum import StrEnum

from slack_sdk.signature import Clock as SdkClock
from slack_sdk.signature import SignatureVerifier

from iamwatch.slack.secrets import SecretSource

WINDOW_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"^\d{1,12}$")

Clock = Callable[[], float]


class Refusal(StrEnum):
    UNSIGNED = "unsigned"
    MALFORMED_TIMESTAMP = "malformed-timestamp"
    STALE = "stale"
    FUTURE_DATED = "future-dated"
    BAD_SIGNATURE = "bad-signature"
    REPLAYED = "replayed"


class _InjectedClock(SdkClock):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock()


class RequestVerifier:
    def __init__(self, secret: SecretSource, clock: Clock = time.time) -> None:
        self._secret = secret
        self._clock = clock

    def refusal(self, body: bytes, timestamp: str | None, signature: str | None) -> Refusal | None:
        """None when Slack signed this body within the window, else why not."""
        if not timestamp or not signature:
            return Refusal.UNSIGNED
        # slack-sdk would raise on a timestamp that is not an integer: check it first.
        if not _TIMESTAMP.match(timestamp):
            return Refusal.MALFORMED_TIMESTAMP
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Refusal.BAD_SIGNATURE  # Slack only sends UTF-8; nobody signed this
        verifier = SignatureVerifier(
            self._secret().get_secret_value(), clock=_InjectedClock(self._clock)
        )
        if verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            return None
        age = self._clock() - int(timestamp)
        if age > WINDOW_SECONDS:
            return Refusal.STALE
        if age < -WINDOW_SECONDS:
            return Refusal.FUTURE_DATED
        return Refusal.BAD_SIGNATURE
