"""The audit trail: an append-only record of what iamwatch saw and did.

Records are never updated in place; a correction is a new record. One interface, two stores:
SQLite embedded for the CLI, DynamoDB in AWS (``iamwatch.aws.audit``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from iamwatch.finding import Finding
from iamwatch.state import open_database
from iamwatch.text import encodable_tree

if TYPE_CHECKING:
    from iamwatch.slack.notifier import DeliveryResult
    from iamwatch.slack.suppress import SuppressionRule

# The delivery status of a suppressed finding, as audited and exported.
SUPPRESSED = "suppressed"


class AuditKind(StrEnum):
    FINDING_RAISED = "finding-raised"
    FINDING_SUPPRESSED = "finding-suppressed"
    DELIVERY_ATTEMPTED = "delivery-attempted"
    DELIVERY_FAILED = "delivery-failed"
    DETECTOR_FAILED = "detector-failed"
    MALFORMED_EVENT = "malformed-event"
    # What people did about a finding, from the CLI or from Slack.
    FINDING_ACKNOWLEDGED = "finding-acknowledged"
    REMEDIATION_REQUESTED = "remediation-requested"
    REMEDIATION_APPROVED = "remediation-approved"
    REMEDIATION_APPLIED = "remediation-applied"
    REMEDIATION_FAILED = "remediation-failed"
    REMEDIATION_UNDONE = "remediation-undone"
    # A Slack interaction that was not acted on: bad signature, stale, replayed, not allowed.
    INTERACTION_REFUSED = "interaction-refused"
    # Written by the scheduled export.
    EXPORT_WRITTEN = "export-written"
    # Written by the scheduled inventory: one record per identity, one for the run, and the
    # outcome of its Slack digest.
    INVENTORY_ROW = "inventory-row"
    INVENTORY_TAKEN = "inventory-taken"
    INVENTORY_DIGEST = "inventory-digest"


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

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, data: Any) -> Any:
        # Locations (file names) and reasons may hold what no store can encode.
        return encodable_tree(data) if isinstance(data, dict) else data

    @classmethod
    def about(cls, kind: AuditKind, finding: Finding, /, **data: Any) -> AuditRecord:
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


# The audit records iamwatch writes about detection and delivery, built here and only here, so
# the CLI, the backfill and the Lambda functions write the same shapes.


def finding_raised(finding: Finding) -> AuditRecord:
    """The full finding is kept, so an export can rebuild it from the audit trail alone."""
    return AuditRecord.about(
        AuditKind.FINDING_RAISED, finding, finding=finding.model_dump(mode="json")
    )


def finding_suppressed(finding: Finding, rule: SuppressionRule) -> AuditRecord:
    """A finding a suppression rule muted: kept whole, like a raised one, with the rule, so an
    export shows it as suppressed and by what."""
    return AuditRecord.about(
        AuditKind.FINDING_SUPPRESSED,
        finding,
        outcome=SUPPRESSED,
        rule=rule.model_dump(mode="json"),
        reason=rule.describe(),
        finding=finding.model_dump(mode="json"),
    )


def malformed_event(location: str, reason: str) -> AuditRecord:
    return AuditRecord(
        kind=AuditKind.MALFORMED_EVENT, data={"location": location, "reason": reason}
    )


def detector_failed(detector: str, event_id: str, location: str, error: str) -> AuditRecord:
    return AuditRecord(
        kind=AuditKind.DETECTOR_FAILED,
        detector=detector,
        event_id=event_id,
        data={"location": location, "error": error},
    )


def delivery_outcome(
    finding: Finding,
    result: DeliveryResult,
    *,
    attempt: int = 1,
    will_retry: bool = False,
    dead_lettered: bool = False,
) -> AuditRecord:
    """One record per delivery attempt: failed (with Slack's reason, whether it will be tried
    again, whether it was dead-lettered) or attempted with its outcome (posted, deduplicated,
    already-delivered). The export reports the latest ``outcome`` of each finding."""
    outcome = result.outcome.value
    common: dict[str, Any] = {"outcome": outcome, "channel": result.channel, "attempt": attempt}
    if outcome == "failed":
        return AuditRecord.about(
            AuditKind.DELIVERY_FAILED,
            finding,
            **common,
            reason=result.reason,
            retryable=result.retryable,
            will_retry=will_retry,
            dead_lettered=dead_lettered,
        )
    return AuditRecord.about(
        AuditKind.DELIVERY_ATTEMPTED,
        finding,
        **common,
        ts=result.ts,
        reason=result.reason,
        repeat_count=result.repeat_count,
    )


def unreadable_alert(reason: str, message_id: str | None) -> AuditRecord:
    """A queued alert message that is not a finding (nothing to deliver; dead-lettered)."""
    return AuditRecord(
        kind=AuditKind.DELIVERY_FAILED,
        data={"outcome": "failed", "reason": reason, "message_id": message_id},
    )


def inventory_row(row: dict[str, Any], as_of: datetime) -> AuditRecord:
    """One identity of a snapshot, as in ``iamwatch inventory --format jsonl``; one record each,
    so a snapshot of thousands of users never outgrows a DynamoDB item."""
    return AuditRecord(
        kind=AuditKind.INVENTORY_ROW,
        account=row.get("account"),
        data={"as_of": as_of.isoformat(), "row": row},
    )


def inventory_taken(summary: dict[str, Any]) -> AuditRecord:
    return AuditRecord(kind=AuditKind.INVENTORY_TAKEN, account=summary.get("account"), data=summary)


def inventory_digest(outcome: str, channel: str | None, reason: str | None) -> AuditRecord:
    return AuditRecord(
        kind=AuditKind.INVENTORY_DIGEST,
        data={"outcome": outcome, "channel": channel, "reason": reason},
    )


class AuditLog(Protocol):
    def append(self, record: AuditRecord) -> None: ...

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]: ...

    def get(self, record_id: str) -> AuditRecord | None:
        """One record by id (a remediation's action id is its record id)."""
        ...

    def for_finding(self, finding_id: str) -> Iterator[AuditRecord]:
        """Every record about one finding, oldest first."""
        ...


class FindingIdError(LookupError):
    """A finding id (or the head of one) that names no finding, or more than one."""


# Finding ids are uuids; their head (the table's short id) is accepted from 4 characters on.
_ID_HEAD = re.compile(r"^[0-9a-f-]{4,36}$")


def resolve_finding_id(log: AuditLog, text: str) -> str:
    """The full id of the one finding whose id starts with ``text`` (scan's table shows the
    first 8 characters); a trail that cannot look ids up by their start (DynamoDB) takes
    whole ids only."""
    wanted = text.strip().lower()
    if not _ID_HEAD.match(wanted):
        raise FindingIdError(f"{text!r} is not a finding id (or the start of one)")
    if not isinstance(log, SQLiteAuditLog | BufferedAuditLog):
        if len(wanted) != 36:
            raise FindingIdError(f"{text!r}: give the whole finding id with this audit trail")
        return wanted
    found = log.finding_ids(wanted, limit=2)
    if not found:
        raise FindingIdError(f"no finding {text!r} in the audit trail")
    if len(found) > 1:
        raise FindingIdError(f"{text!r} names more than one finding; give more of its id")
    return found[0]


def raised_finding(log: AuditLog, finding_id: str) -> Finding | None:
    """The finding as it was raised, rebuilt from its ``finding-raised`` record."""
    for record in log.for_finding(finding_id):
        if record.kind is AuditKind.FINDING_RAISED and "finding" in record.data:
            return Finding.model_validate(record.data["finding"])
    return None


_SCHEMA = """
create table if not exists audit (record_id text primary key, at text not null, body blob not null);
create index if not exists audit_by_time on audit (at);
"""
# Added after the first release: files written before it get the column, filled from the body.
_FINDING_COLUMN = """
alter table audit add column finding_id text;
update audit set finding_id = json_extract(cast(body as text), '$.finding_id');
"""
_FINDING_INDEX = "create index if not exists audit_by_finding on audit (finding_id, at)"


def default_audit_path() -> Path:
    """The per-user audit file: ``$XDG_STATE_HOME/iamwatch/audit.db``, by default
    ``~/.local/state/iamwatch/audit.db``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "iamwatch" / "audit.db"


_INSERT = "insert or ignore into audit (record_id, at, body, finding_id) values (?, ?, ?, ?)"


def _row(record: AuditRecord) -> tuple[str, str, bytes, str | None]:
    return (
        record.record_id,
        record.at.isoformat(),
        record.model_dump_json().encode(),
        record.finding_id,
    )


def _parse(body: bytes) -> AuditRecord:
    return AuditRecord.model_validate(orjson.loads(body))


class SQLiteAuditLog:
    def __init__(self, path: Path | str | None = None) -> None:
        self._db = open_database(path, _SCHEMA)
        columns = {row[1] for row in self._db.execute("pragma table_info(audit)")}
        if "finding_id" not in columns:
            self._db.executescript(f"begin immediate; {_FINDING_COLUMN} commit;")
        self._db.execute(_FINDING_INDEX)

    def close(self) -> None:
        self._db.close()

    def append(self, record: AuditRecord) -> None:
        # "insert or ignore": appending the same record twice (a retry) keeps the first.
        self._db.execute(_INSERT, _row(record))

    def append_many(self, records: Iterable[AuditRecord]) -> None:
        """Append several records in one transaction: one fsync, not one per record."""
        rows = [_row(record) for record in records]
        if not rows:
            return
        self._db.execute("begin immediate")
        try:
            self._db.executemany(_INSERT, rows)
        except BaseException:
            self._db.execute("rollback")
            raise
        self._db.execute("commit")

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        rows = self._db.execute(
            "select body from audit where at >= ? and at < ? order by at, record_id",
            (since.isoformat(), until.isoformat()),
        )
        for (body,) in rows:
            yield _parse(body)

    def get(self, record_id: str) -> AuditRecord | None:
        row = self._db.execute(
            "select body from audit where record_id = ?", (record_id,)
        ).fetchone()
        return None if row is None else _parse(row[0])

    def for_finding(self, finding_id: str) -> Iterator[AuditRecord]:
        rows = self._db.execute(
            "select body from audit where finding_id = ? order by at, record_id", (finding_id,)
        )
        for (body,) in rows.fetchall():
            yield _parse(body)

    def finding_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` distinct finding ids starting with ``prefix`` (a range on the
        index, not a scan)."""
        rows = self._db.execute(
            "select distinct finding_id from audit where finding_id >= ? and finding_id < ? "
            "order by finding_id limit ?",
            (prefix, prefix + "\uffff", limit),
        )
        return [str(finding_id) for (finding_id,) in rows]


class BufferedAuditLog:
    """Batches appends to an ``SQLiteAuditLog``: written every ``batch_size`` records and on
    ``flush``/``close``, each batch in one transaction, so auditing does not slow a scan."""

    def __init__(self, log: SQLiteAuditLog, batch_size: int = 500) -> None:
        self.log = log
        self.batch_size = batch_size
        self.appended = 0
        self._pending: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> None:
        self._pending.append(record)
        self.appended += 1
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self.log.append_many(pending)

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        self.flush()
        return self.log.read(since, until)

    def get(self, record_id: str) -> AuditRecord | None:
        self.flush()
        return self.log.get(record_id)

    def for_finding(self, finding_id: str) -> Iterator[AuditRecord]:
        self.flush()
        return self.log.for_finding(finding_id)

    def finding_ids(self, prefix: str, limit: int) -> list[str]:
        self.flush()
        return self.log.finding_ids(prefix, limit)

    def close(self) -> None:
        self.flush()
        self.log.close()
