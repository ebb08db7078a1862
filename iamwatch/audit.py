"""The audit trail: an append-only record of what iamwatch saw and did.

Records are never updated in place; a correction is a new record. One interface, two stores:
SQLite embedded for the CLI, DynamoDB in AWS (``iamwatch.aws.audit``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field

from iamwatch.finding import Finding
from iamwatch.state import open_database


class AuditKind(StrEnum):
    FINDING_RAISED = "finding-raised"
    FINDING_SUPPRESSED = "finding-suppressed"
    DELIVERY_ATTEMPTED = "delivery-attempted"
    DELIVERY_FAILED = "delivery-failed"
    DETECTOR_FAILED = "detector-failed"
    MALFORMED_EVENT = "malformed-event"


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    record_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    kind: AuditKind
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finding_id: str | None = None
    detector: str | None = None
    event_id: str | None = None
    account: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def about(cls, kind: AuditKind, finding: Finding, **data: Any) -> AuditRecord:
        """A record about one finding, carrying who did what to what."""
        return cls(
            kind=kind,
            finding_id=finding.finding_id,
            detector=finding.detector,
            event_id=finding.event_id,
            account=finding.account,
            data={
                "severity": finding.severity.value,
                "actor": finding.actor,
                "target": finding.target,
                **data,
            },
        )


class AuditLog(Protocol):
    def append(self, record: AuditRecord) -> None: ...

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]: ...


_SCHEMA = """
create table if not exists audit (record_id text primary key, at text not null, body blob not null);
create index if not exists audit_by_time on audit (at);
"""


class SQLiteAuditLog:
    def __init__(self, path: Path | str | None = None) -> None:
        self._db = open_database(path, _SCHEMA)

    def append(self, record: AuditRecord) -> None:
        # "insert or ignore": appending the same record twice (a retry) keeps the first.
        self._db.execute(
            "insert or ignore into audit (record_id, at, body) values (?, ?, ?)",
            (record.record_id, record.at.isoformat(), record.model_dump_json().encode()),
        )

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        rows = self._db.execute(
            "select body from audit where at >= ? and at < ? order by at, record_id",
            (since.isoformat(), until.isoformat()),
        )
        for (body,) in rows:
            yield AuditRecord.model_validate(orjson.loads(body))
