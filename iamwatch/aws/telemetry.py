"""What the Lambda functions report about detection and delivery: structured logs, EMF metrics
and OpenTelemetry spans (``iamwatch.observability``), keyed by finding and event id."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from iamwatch import observability as obs

if TYPE_CHECKING:
    from iamwatch.engine import DetectorFailure
    from iamwatch.finding import Finding
    from iamwatch.slack.notifier import DeliveryResult
    from iamwatch.slack.suppress import SuppressionRule


class LambdaTelemetry:
    def span(self, name: str, **attributes: Any) -> AbstractContextManager[object]:
        return obs.span(name, **attributes)

    def finding_raised(self, finding: Finding, now: datetime) -> None:
        obs.count("Findings", detector=finding.detector, severity=finding.severity.value)
        lag = (now - finding.event_time).total_seconds() * 1000
        obs.milliseconds("DetectionLag", max(lag, 0.0))
        obs.logger.info(
            "finding raised",
            extra={
                "finding_id": finding.finding_id,
                "detector": finding.detector,
                "severity": finding.severity.value,
            },
        )

    def finding_suppressed(self, finding: Finding, rule: SuppressionRule) -> None:
        obs.count("FindingsSuppressed", detector=finding.detector)
        obs.logger.info(
            "finding suppressed",
            extra={"finding_id": finding.finding_id, "rule": rule.describe()},
        )

    def detector_failed(self, failure: DetectorFailure, location: str) -> None:
        obs.logger.error(
            "detector failed",
            extra={"detector": failure.detector, "error": failure.error, "location": location},
        )
        obs.count("DetectorErrors", detector=failure.detector)

    def malformed(self, location: str, reason: str) -> None:
        obs.logger.warning(
            "malformed event skipped", extra={"location": location, "reason": reason}
        )
        obs.count("MalformedEvents")

    def delivery_failed(self, finding: Finding, result: DeliveryResult) -> None:
        reason = result.reason or "unknown"
        obs.count("SlackDeliveryFailures", reason=reason.split(" ", 1)[0])

    def dead_lettered(self, finding_id: str | None, reason: str) -> None:
        obs.logger.error("alert dead-lettered", extra={"reason": reason, "finding_id": finding_id})
