"""The real-time detection path for one CloudTrail record, shared by the Lambda handlers:
detect, enrich, suppress, queue for Slack, audit.

Adapters arrive through small interfaces so tests run it against real local servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from iamwatch import observability as obs
from iamwatch.audit import AuditKind, AuditLog, AuditRecord, finding_raised
from iamwatch.engine import DetectorFailure, Engine
from iamwatch.events import CloudTrailRecord
from iamwatch.finding import Finding


class AlertSink(Protocol):
    def publish(self, findings: Sequence[Finding]) -> None: ...


class Enricher(Protocol):
    def enrich(self, finding: Finding) -> Finding: ...


class Suppressor(Protocol):
    def suppression_reason(self, finding: Finding, now: datetime) -> str | None:
        """Why this finding is suppressed, or ``None`` to deliver it."""
        ...


class DetectorErrors(RuntimeError):
    """Detectors raised; raised after the other findings were queued, so retries see it."""

    def __init__(self, failures: Sequence[DetectorFailure]) -> None:
        names = ", ".join(sorted({f.detector for f in failures}))
        super().__init__(f"detectors failed: {names}")
        self.failures = list(failures)


@dataclass(slots=True)
class Outcome:
    event_id: str
    queued: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"event_id": self.event_id, "queued": self.queued, "suppressed": self.suppressed}


class DetectionPipeline:
    def __init__(
        self,
        engine: Engine,
        sink: AlertSink,
        audit: AuditLog,
        enricher: Enricher | None = None,
        suppressor: Suppressor | None = None,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.audit = audit
        self.enricher = enricher
        self.suppressor = suppressor

    def process(self, record: CloudTrailRecord) -> Outcome:
        now = datetime.now(UTC)
        outcome = Outcome(event_id=record.event_id)
        with obs.span("detect", event_id=record.event_id, event_name=record.event_name):
            evaluation = self.engine.evaluate(record)
        for failure in evaluation.failures:
            obs.logger.error(
                "detector failed", extra={"detector": failure.detector, "error": failure.error}
            )
            obs.count("DetectorErrors", detector=failure.detector)
            self.audit.append(
                AuditRecord(
                    kind=AuditKind.DETECTOR_FAILED,
                    detector=failure.detector,
                    event_id=record.event_id,
                    data={"error": failure.error},
                )
            )
        to_queue: list[Finding] = []
        for finding in evaluation.findings:
            enriched = self._enrich(finding)
            reason = self.suppressor.suppression_reason(enriched, now) if self.suppressor else None
            if reason is not None:
                outcome.suppressed.append(enriched.finding_id)
                obs.count("FindingsSuppressed", detector=enriched.detector)
                self.audit.append(
                    AuditRecord.about(AuditKind.FINDING_SUPPRESSED, enriched, reason=reason)
                )
                continue
            to_queue.append(enriched)
        if to_queue:
            with obs.span("queue", findings=len(to_queue)):
                self.sink.publish(to_queue)
        for finding in to_queue:
            outcome.queued.append(finding.finding_id)
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
            # The whole finding: Slack actions and exports rebuild it from the audit trail.
            self.audit.append(finding_raised(finding))
        if evaluation.failures:
            raise DetectorErrors(evaluation.failures)
        return outcome

    def _enrich(self, finding: Finding) -> Finding:
        if self.enricher is None:
            return finding
        with obs.span("enrich", finding_id=finding.finding_id, detector=finding.detector):
            return self.enricher.enrich(finding)
