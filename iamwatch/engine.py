"""The detection engine: from raw record to findings, the same in Lambda and in the CLI.

Cheapest checks first: a raw record is only modelled when some detector is registered for its
event or its identity type. One detector raising never stops the others; the error is
returned so the caller can report it and fail the invocation afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from iamwatch.events import CloudTrailRecord
from iamwatch.finding import DEFAULT_RUNBOOK_BASE_URL, Finding
from iamwatch.registry import DetectionContext, Registry


class MalformedRecordError(ValueError):
    """A record that cannot be read; the message says why, without echoing its content."""


@dataclass(frozen=True, slots=True)
class DetectorFailure:
    detector: str
    event_id: str
    error: str


@dataclass(slots=True)
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    failures: list[DetectorFailure] = field(default_factory=list)


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(part) for part in item["loc"]) or "record"
        parts.append(f"{location}: {item['msg']}")
    more = error.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse_record(raw: object) -> CloudTrailRecord:
    if not isinstance(raw, Mapping):
        raise MalformedRecordError(f"expected a JSON object, got {type(raw).__name__}")
    try:
        return CloudTrailRecord.model_validate(raw)
    except ValidationError as error:
        raise MalformedRecordError(describe_validation_error(error)) from None


class Engine:
    def __init__(
        self,
        registry: Registry,
        context: DetectionContext,
        runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    ) -> None:
        self.registry = registry
        self.context = context
        self.runbook_base_url = runbook_base_url

    def wants(self, raw: Mapping[str, Any]) -> bool:
        """Prefilter on the raw dict. Raises ``MalformedRecordError`` when the record lacks
        what every CloudTrail record has, so junk is reported rather than silently skipped."""
        source = raw.get("eventSource")
        name = raw.get("eventName")
        if not isinstance(source, str) or not isinstance(name, str):
            raise MalformedRecordError("missing eventSource or eventName")
        identity = raw.get("userIdentity")
        identity_type = identity.get("type") if isinstance(identity, Mapping) else None
        return self.registry.wants(
            source, name, identity_type if isinstance(identity_type, str) else None
        )

    @property
    def prefilter(self) -> Callable[[str, str, str | None], bool]:
        """The test ``wants`` applies, on (eventSource, eventName, userIdentity.type), for
        readers that extract those fields without building the record."""
        return self.registry.wants

    def evaluate(self, record: CloudTrailRecord) -> Evaluation:
        evaluation = Evaluation()
        detectors = self.registry.dispatch(
            record.event_source, record.event_name, record.identity_type
        )
        for item in detectors:
            try:
                hits = list(item(record, self.context))
            except Exception as error:
                evaluation.failures.append(
                    DetectorFailure(
                        detector=item.meta.id,
                        event_id=record.event_id,
                        error=f"{type(error).__name__}: {error}",
                    )
                )
                continue
            for hit in hits:
                evaluation.findings.append(
                    Finding.from_hit(item.meta, record, hit, self.runbook_base_url)
                )
        return evaluation

    def evaluate_raw(self, raw: object) -> Evaluation | None:
        """Prefilter, parse and evaluate one raw record; ``None`` when no detector cares."""
        if not isinstance(raw, Mapping):
            raise MalformedRecordError(f"expected a JSON object, got {type(raw).__name__}")
        if not self.wants(raw):
            return None
        return self.evaluate(parse_record(raw))
