"""The telemetry port of the detection and delivery services: what they report as it happens.

The Lambda functions log, count and trace it (``iamwatch.aws.telemetry``); the CLI reports on
the terminal itself and passes ``NULL_TELEMETRY``, so a scan loads neither powertools nor
OpenTelemetry.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from iamwatch.engine import DetectorFailure
    from iamwatch.finding import Finding
    from iamwatch.slack.notifier import DeliveryResult
    from iamwatch.slack.suppress import SuppressionRule


class Telemetry(Protocol):
    def span(self, name: str, **attributes: Any) -> AbstractContextManager[object]: ...

    def finding_raised(self, finding: Finding, now: datetime) -> None: ...

    def finding_suppressed(self, finding: Finding, rule: SuppressionRule) -> None: ...

    def detector_failed(self, failure: DetectorFailure, location: str) -> None: ...

    def malformed(self, location: str, reason: str) -> None: ...

    def delivery_failed(self, finding: Finding, result: DeliveryResult) -> None: ...

    def dead_lettered(self, finding_id: str | None, reason: str) -> None: ...


class NullTelemetry:
    def span(self, name: str, **attributes: Any) -> AbstractContextManager[object]:
        return nullcontext()

    def finding_raised(self, finding: Finding, now: datetime) -> None:
        pass

    def finding_suppressed(self, finding: Finding, rule: SuppressionRule) -> None:
        pass

    def detector_failed(self, failure: DetectorFailure, location: str) -> None:
        pass

    def malformed(self, location: str, reason: str) -> None:
        pass

    def delivery_failed(self, finding: Finding, result: DeliveryResult) -> None:
        pass

    def dead_lettered(self, finding_id: str | None, reason: str) -> None:
        pass


NULL_TELEMETRY: Telemetry = NullTelemetry()
