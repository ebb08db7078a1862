"""The one detection path: record -> detect -> suppress -> enrich -> sink -> audit.

``iamwatch scan``, the backfill function and the detect function all run records through
``DetectionService``; they differ only in the adapters handed to it (the sink: the in-process
Slack notifier, nothing, or the SQS alert queue; the audit trail: SQLite or DynamoDB; the
enricher; the telemetry). What a finding means (raised, suppressed, below the threshold) and
what is audited about it is decided here, once.

Suppression comes before enrichment, which only live findings get: a rule matches on actor,
account, detector and target, none of which enrichment changes, and a suppressed noisy
principal (a CI user creating keys all day) must not cost IAM look-ups for every event.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from iamwatch import audit
from iamwatch.audit import AuditLog
from iamwatch.engine import DetectorFailure, Engine, MalformedRecordError, parse_record
from iamwatch.events import CloudTrailRecord
from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.slack.suppress import SuppressionRule, check
from iamwatch.sources import ByteCounter, Location, Problem, RawRecord, Skipped, Source
from iamwatch.state import EventLedger
from iamwatch.telemetry import NULL_TELEMETRY, Telemetry

logger = logging.getLogger("iamwatch.detection")


class AlertSink(Protocol):
    """Where live findings go to be alerted: the SQS alert queue, or Slack in-process."""

    def publish(self, findings: Sequence[Finding]) -> None: ...


class Enricher(Protocol):
    """Adds read-only context (IAM look-ups) to a live finding; never fails a finding."""

    def enrich(self, finding: Finding) -> Finding: ...


class RecordObserver(Protocol):
    """Learns from every record detection sees (the inventory, kept current by events)."""

    def observe(self, record: CloudTrailRecord) -> None: ...


class UnreadableSource(OSError):
    """A source could not be read for now (an I/O or S3 error); reading it again may work."""


@dataclass(frozen=True, slots=True)
class Suppressed:
    finding: Finding
    rule: SuppressionRule


@dataclass(slots=True)
class RecordOutcome:
    """What became of one record's findings."""

    event_id: str
    # The event was processed before (by this scan, or an earlier one with the same ledger).
    repeat: bool = False
    raised: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    failures: list[DetectorFailure] = field(default_factory=list)
    # Rules that matched but have expired, so no longer suppress: somebody should renew them.
    expired_rules: list[SuppressionRule] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "queued": [finding.finding_id for finding in self.raised],
            "suppressed": [item.finding.finding_id for item in self.suppressed],
        }


@dataclass(frozen=True, slots=True)
class LocatedRecord:
    record: CloudTrailRecord
    location: Location


@dataclass(slots=True)
class DetectionStats:
    files: int = 0
    records: int = 0
    examined: int = 0
    malformed: int = 0
    detector_failures: int = 0
    # Sources that are not JSON at all, and sources that could not be read (I/O errors).
    skipped_files: int = 0
    unreadable: int = 0
    # Records shaped like CloudTrail (whether or not a detector wanted them).
    cloudtrail_records: int = 0
    # Records seen before in this scan (or, with a ledger that persists, an earlier one).
    repeats: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    below_min_severity: int = 0
    bytes_read: ByteCounter = field(default_factory=ByteCounter)

    @property
    def total_findings(self) -> int:
        return sum(self.findings.values())

    @property
    def total_suppressed(self) -> int:
        return sum(self.suppressed.values())


class DetectionService:
    def __init__(
        self,
        engine: Engine,
        audit_log: AuditLog,
        *,
        sink: AlertSink | None = None,
        enricher: Enricher | None = None,
        suppressions: Iterable[SuppressionRule] = (),
        min_severity: Severity = Severity.INFO,
        telemetry: Telemetry = NULL_TELEMETRY,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ledger: EventLedger | None = None,
        observer: RecordObserver | None = None,
    ) -> None:
        self.engine = engine
        self.observer = observer
        self.audit = audit_log
        self.sink = sink
        self.enricher = enricher
        self.suppressions = tuple(suppressions)
        self.min_severity = min_severity
        self.telemetry = telemetry
        self.clock = clock
        # Events already processed are not processed again (the CLI's; the Lambda functions
        # have their own idempotency across invocations).
        self.ledger = ledger
        self.stats = DetectionStats()

    def records(
        self, sources: Iterable[Source], *, retry_unreadable: bool = False, jobs: int = 1
    ) -> Iterator[LocatedRecord | Problem]:
        """The records of ``sources`` that some detector wants, parsed and located; what
        cannot be read is audited as malformed and yielded as a ``Problem`` (the caller
        reports it and goes on). With ``retry_unreadable``, a source that could not be read
        at all raises ``UnreadableSource`` instead, so the caller's retry reads it again.
        With ``jobs`` over 1, the sources are read by that many processes (iamwatch.parallel)
        and come out exactly as read here, in the same order."""
        stats = self.stats
        for _source, items in self._read(sources, jobs):
            stats.files += 1
            for item in items:
                if isinstance(item, Skipped):
                    # Rejected by the same prefilter ``Engine.wants`` applies, before being built.
                    stats.records += item.count
                    stats.cloudtrail_records += item.count
                    continue
                if isinstance(item, RawRecord):
                    stats.records += 1
                    located = self._located(item)
                    if located is None:
                        stats.cloudtrail_records += 1
                        continue
                    if isinstance(located, LocatedRecord):
                        stats.cloudtrail_records += 1
                        stats.examined += 1
                        yield located
                        continue
                    item = located
                if item.transient and retry_unreadable:
                    raise UnreadableSource(f"{item.location}: {item.reason}")
                if item.not_json:
                    # Not CloudTrail at all (a README beside the logs, a binary): skipped,
                    # counted apart from malformed records, and audited like them.
                    stats.skipped_files += 1
                    self._audit_problem(str(item.location), item.reason)
                elif item.transient:
                    stats.unreadable += 1
                    self._audit_problem(str(item.location), item.reason)
                else:
                    self.malformed(str(item.location), item.reason)
                yield item

    def _read(
        self, sources: Iterable[Source], jobs: int
    ) -> Iterator[tuple[Source, Iterator[RawRecord | Problem | Skipped]]]:
        prefilter = self.engine.prefilter
        if jobs > 1:
            from iamwatch.parallel import read_sources

            yield from read_sources(sources, prefilter, jobs, self.stats.bytes_read)
            return
        from iamwatch.sources import read_source

        for source in sources:
            yield source, read_source(source, self.stats.bytes_read, prefilter=prefilter)

    def _located(self, item: RawRecord) -> LocatedRecord | Problem | None:
        try:
            if not self.engine.wants(item.data):
                return None
            return LocatedRecord(parse_record(item.data), item.location)
        except MalformedRecordError as error:
            return Problem(item.location, str(error))

    def malformed(self, location: str, reason: str) -> None:
        """A record or file that cannot be read: counted, reported and audited, never retried
        (reading it again would not change it)."""
        self.stats.malformed += 1
        self._audit_problem(location, reason)

    def _audit_problem(self, location: str, reason: str) -> None:
        self.telemetry.malformed(location, reason)
        self.audit.append(audit.malformed_event(location, reason))

    def process(self, record: CloudTrailRecord, location: str = "") -> RecordOutcome:
        """Detect, suppress, enrich, publish and audit one record's findings. A detector that
        raised is audited and returned in ``failures``; the others' findings still go out."""
        if self.ledger is not None and self.ledger.seen(record.event_id):
            self.stats.repeats += 1
            return RecordOutcome(event_id=record.event_id, repeat=True)
        now = self.clock()
        outcome = RecordOutcome(event_id=record.event_id)
        with self.telemetry.span("detect", event_id=record.event_id, event_name=record.event_name):
            evaluation = self.engine.evaluate(record)
        for failure in evaluation.failures:
            self.stats.detector_failures += 1
            self.telemetry.detector_failed(failure, location)
            self.audit.append(
                audit.detector_failed(failure.detector, failure.event_id, location, failure.error)
            )
        outcome.failures = evaluation.failures
        self.raise_findings(evaluation.findings, outcome, now)
        self._observe(record)
        if self.ledger is not None and not outcome.failures:
            # A record whose detectors failed is tried again by the next scan.
            self.ledger.remember(record.event_id)
        return outcome

    def raise_findings(
        self,
        findings: Sequence[Finding],
        outcome: RecordOutcome | None = None,
        now: datetime | None = None,
    ) -> RecordOutcome:
        """Suppress, enrich, publish and audit findings: those of a record, or findings made
        elsewhere (the inventory's posture findings), so they mean the same everywhere."""
        now = now or self.clock()
        today = now.date()
        outcome = outcome or RecordOutcome(event_id=findings[0].event_id if findings else "")
        live: list[Finding] = []
        for finding in findings:
            if finding.severity < self.min_severity:
                self.stats.below_min_severity += 1
                continue
            decision = check(self.suppressions, finding, today)
            for rule in decision.expired:
                logger.warning(
                    "suppression rule expired, delivering",
                    extra={"finding_id": finding.finding_id, "rule": rule.describe()},
                )
                outcome.expired_rules.append(rule)
            if decision.rule is not None:
                self.stats.suppressed[finding.detector] += 1
                self.telemetry.finding_suppressed(finding, decision.rule)
                self.audit.append(audit.finding_suppressed(finding, decision.rule))
                outcome.suppressed.append(Suppressed(finding, decision.rule))
                continue
            live.append(self._enrich(finding))
        if live and self.sink is not None:
            with self.telemetry.span("queue", findings=len(live)):
                self.sink.publish(live)
        for finding in live:
            self.stats.findings[finding.detector] += 1
            self.telemetry.finding_raised(finding, now)
            # The whole finding: Slack actions and exports rebuild it from the audit trail.
            self.audit.append(audit.finding_raised(finding))
        outcome.raised = live
        return outcome

    def _observe(self, record: CloudTrailRecord) -> None:
        """Keep the inventory current; a failure there never costs a finding or a retry."""
        if self.observer is None:
            return
        try:
            self.observer.observe(record)
        except Exception as error:
            logger.warning(
                "inventory update failed",
                extra={"event_id": record.event_id, "error": f"{type(error).__name__}: {error}"},
            )

    def _enrich(self, finding: Finding) -> Finding:
        if self.enricher is None:
            return finding
        with self.telemetry.span(
            "enrich", finding_id=finding.finding_id, detector=finding.detector
        ):
            return self.enricher.enrich(finding)


class DetectorErrors(RuntimeError):
    """Detectors raised; raised after the other findings went out, so that a retry (Lambda,
    SQS) runs the record again rather than losing what the failed detector would have found."""

    def __init__(self, failures: Sequence[DetectorFailure]) -> None:
        names = ", ".join(sorted({f.detector for f in failures}))
        super().__init__(f"detectors failed: {names}")
        self.failures = list(failures)
