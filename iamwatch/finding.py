"""Findings: what iamwatch reports, in the one shape alerts, exports and jsonl output share."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from iamwatch.principal import PrincipalKind
from iamwatch.severity import Severity
from iamwatch.text import MAX_SUMMARY, bounded_key, clip

if TYPE_CHECKING:
    from iamwatch.events import CloudTrailRecord
    from iamwatch.registry import DetectorMeta, Hit

# Finding ids are uuid5 in this namespace, so the same detector on the same event always
# yields the same id: re-scans, retries and exports can be deduplicated and diffed.
FINDING_NAMESPACE = uuid.UUID("6f1f0c1e-4d2b-5b7a-9a51-1a7e5c0d9e11")

DEFAULT_RUNBOOK_BASE_URL = "https://github.com/iamwatch/iamwatch/blob/main/runbooks"


_BOUNDS = {
    "summary": lambda text: clip(text, MAX_SUMMARY),
    # Keys of stores (the Slack dedup state, DynamoDB) and of idempotency.
    "dedup_key": bounded_key,
    "event_id": bounded_key,
}


def finding_id_for(detector_id: str, event_id: str) -> str:
    return str(uuid.uuid5(FINDING_NAMESPACE, f"{detector_id}:{event_id}"))


def runbook_url_for(base_url: str, detector_id: str) -> str:
    return f"{base_url.rstrip('/')}/{detector_id}.md"


def _bounded_fields(data: Any, bounds: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        return data
    return {
        name: bounds.get(name, clip)(value) if isinstance(value, str) else value
        for name, value in data.items()
    }


class EventRef(BaseModel):
    """The event a finding is about, when that is not the record being evaluated: a sequence
    is completed by whichever of its events arrives last, but is reported on its last event in
    time, so the finding reads the same whatever order its events came in."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_time: datetime
    event_name: str
    event_source: str
    account: str | None = None
    region: str | None = None
    actor: str
    actor_kind: PrincipalKind
    actor_name: str
    source_ip: str | None = None
    user_agent: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        return _bounded_fields(data, _BOUNDS)

    @classmethod
    def of(cls, record: CloudTrailRecord) -> EventRef:
        principal = record.principal
        return cls(
            event_id=record.event_id,
            event_time=record.event_time,
            event_name=record.event_name,
            event_source=record.event_source,
            account=record.account_id,
            region=record.aws_region,
            actor=principal.arn or principal.display,
            actor_kind=principal.kind,
            actor_name=principal.display,
            source_ip=record.source_ip_address,
            user_agent=record.user_agent,
        )


class LinkedEvent(BaseModel):
    """One event a sequence finding links: what happened, and the finding (if any) a
    single-event detector raised about it, so the alert and the exports can point to it."""

    model_config = ConfigDict(frozen=True)

    # The event's part in the sequence ("created", "credential", "admin", "sign-in", ...).
    role: str
    event_id: str
    event_name: str
    event_time: datetime
    summary: str
    # The single-event detector that reports this event, and its finding's id; ``None`` when no
    # detector reports such an event on its own (a console sign-in with MFA).
    detector: str | None = None
    finding_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        return _bounded_fields(data, {**_BOUNDS, "summary": lambda text: clip(text, 1024)})


class Finding(BaseModel):
    """One detection, self-contained: everything an on-call engineer needs to start."""

    model_config = ConfigDict(frozen=True)

    finding_id: str
    detector: str
    severity: Severity
    title: str
    summary: str
    actor: str = Field(description="ARN of the acting principal, or its best identifier")
    actor_kind: PrincipalKind
    actor_name: str
    target: str | None = None
    target_type: str | None = None
    account: str | None = None
    region: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    event_time: datetime
    event_name: str
    event_source: str
    event_id: str
    dedup_key: str
    runbook_url: str
    recommendation: str | None = None
    next_step: str
    details: dict[str, str] = Field(default_factory=dict)
    # Filled at alert time from read-only IAM look-ups, when enrichment is enabled.
    enrichment: dict[str, str] = Field(default_factory=dict)
    observations: tuple[str, ...] = ()
    # A sequence's events, in the order they happened (empty for single-event findings).
    links: tuple[LinkedEvent, ...] = ()
    # The backfill run that raised it (Step Functions backfill); None on every other path,
    # and then left out of every serialized form (JSON Lines, exports, queue messages).
    backfill_run: str | None = None

    @model_serializer(mode="wrap")
    def _without_absent_run(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        document: dict[str, Any] = handler(self)
        if document.get("backfill_run", 0) is None:
            del document["backfill_run"]
        return document

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        """Event-derived text is made encodable and bounded here, once, so that every store
        and channel downstream (SQS, DynamoDB, SQLite, Slack, exports) takes any finding."""
        if not isinstance(data, dict):
            return data
        bounded = dict(data)
        for name, value in data.items():
            if isinstance(value, str):
                bounded[name] = _BOUNDS.get(name, clip)(value)
            elif isinstance(value, dict):
                bounded[name] = {
                    clip(str(key), 256): clip(item) if isinstance(item, str) else item
                    for key, item in value.items()
                }
            elif isinstance(value, list | tuple):
                bounded[name] = [clip(item) if isinstance(item, str) else item for item in value]
        return bounded

    @classmethod
    def from_hit(
        cls,
        meta: DetectorMeta,
        record: CloudTrailRecord,
        hit: Hit,
        runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
    ) -> Finding:
        event = hit.event or EventRef.of(record)
        account = event.account
        dedup_key = hit.dedup_key or ":".join(
            (meta.id, account or "-", event.actor, hit.target or "-")
        )
        return cls(
            finding_id=finding_id_for(meta.id, hit.identity or record.event_id),
            detector=meta.id,
            severity=hit.severity or meta.severity,
            title=meta.title,
            summary=hit.summary,
            actor=event.actor,
            actor_kind=event.actor_kind,
            actor_name=event.actor_name,
            target=hit.target,
            target_type=hit.target_type,
            account=account,
            region=event.region,
            source_ip=event.source_ip,
            user_agent=event.user_agent,
            event_time=event.event_time,
            event_name=event.event_name,
            event_source=event.event_source,
            event_id=event.event_id,
            dedup_key=dedup_key,
            runbook_url=meta.runbook_url or runbook_url_for(runbook_base_url, meta.id),
            recommendation=hit.recommendation
            or meta.recommendation
            or event.actor_kind.recommendation,
            next_step=meta.next_step,
            details=dict(hit.details),
            links=hit.links,
        )
