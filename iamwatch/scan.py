"""Scanning: sources in, findings and problems out, with the counts a summary needs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from iamwatch.engine import DetectorFailure, Engine, MalformedRecordError, parse_record
from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.sources import (
    ByteCounter,
    Location,
    Problem,
    RawRecord,
    Skipped,
    Source,
    read_source,
)


@dataclass(frozen=True, slots=True)
class FailedDetection:
    """A detector raised on a record: a finding may be missing, so it is never silent."""

    location: Location
    failure: DetectorFailure


@dataclass(slots=True)
class ScanStats:
    files: int = 0
    records: int = 0
    examined: int = 0
    malformed: int = 0
    detector_failures: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    below_min_severity: int = 0
    bytes_read: ByteCounter = field(default_factory=ByteCounter)

    @property
    def total_findings(self) -> int:
        return sum(self.findings.values())


ScanItem = Finding | Problem | FailedDetection


class Scanner:
    def __init__(self, engine: Engine, min_severity: Severity = Severity.INFO) -> None:
        self.engine = engine
        self.min_severity = min_severity
        self.stats = ScanStats()

    def scan(self, sources: Iterable[Source]) -> Iterator[ScanItem]:
        stats = self.stats
        prefilter = self.engine.prefilter
        for source in sources:
            stats.files += 1
            for item in read_source(source, stats.bytes_read, prefilter=prefilter):
                if isinstance(item, RawRecord):
                    yield from self._scan_record(item)
                elif isinstance(item, Skipped):
                    # Rejected by the same prefilter ``Engine.wants`` applies, before being built.
                    stats.records += item.count
                else:
                    stats.malformed += 1
                    yield item

    def _scan_record(self, item: RawRecord) -> Iterator[ScanItem]:
        stats = self.stats
        stats.records += 1
        try:
            if not self.engine.wants(item.data):
                return
            record = parse_record(item.data)
        except MalformedRecordError as error:
            stats.malformed += 1
            yield Problem(item.location, str(error))
            return
        stats.examined += 1
        evaluation = self.engine.evaluate(record)
        for failure in evaluation.failures:
            stats.detector_failures += 1
            yield FailedDetection(item.location, failure)
        for finding in evaluation.findings:
            if finding.severity < self.min_severity:
                stats.below_min_severity += 1
                continue
            stats.findings[finding.detector] += 1
            yield finding
