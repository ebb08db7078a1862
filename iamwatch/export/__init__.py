"""Export: the findings raised (or suppressed) in a time window, rebuilt from the audit trail,
with their latest delivery outcome, as JSON Lines, CSV, OCSF or ASFF (docs/export.md).

The window is on when a finding was raised (the audit record's time), ``[since, until)``.
Finding ids are stable (uuid5 of detector and event id), so exports can be diffed and
re-imported; rows are ordered by event time then finding id, so two exports of the same window
are byte-for-byte comparable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from iamwatch.audit import AuditKind, AuditLog
from iamwatch.finding import Finding

_END_OF_TIME = datetime.max.replace(tzinfo=UTC)
# A suppressed finding is audited once, whole, as suppressed: both its raise and its status.
_RAISE_KINDS = frozenset({AuditKind.FINDING_RAISED, AuditKind.FINDING_SUPPRESSED})
_DELIVERY_KINDS = frozenset(
    {AuditKind.DELIVERY_ATTEMPTED, AuditKind.DELIVERY_FAILED, AuditKind.FINDING_SUPPRESSED}
)
NOT_SENT = "not-sent"


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"
    ASFF = "asff"

    @property
    def extension(self) -> str:
        return {"jsonl": "jsonl", "csv": "csv", "ocsf": "ocsf.jsonl", "asff": "asff.jsonl"}[
            self.value
        ]

    @property
    def content_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class ExportedFinding:
    """A finding as raised, with what became of its delivery (as of the export)."""

    finding: Finding
    raised_at: datetime
    delivery_status: str = NOT_SENT
    delivery_channel: str | None = None
    delivery_reason: str | None = None
    delivery_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``scan --format jsonl`` fields plus the raise time and delivery outcome."""
        return {
            **self.finding.model_dump(mode="json"),
            "raised_at": self.raised_at.isoformat(),
            "delivery_status": self.delivery_status,
            "delivery_channel": self.delivery_channel,
            "delivery_reason": self.delivery_reason,
            "delivery_at": None if self.delivery_at is None else self.delivery_at.isoformat(),
        }


def as_utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC; aware ones are converted, as the store compares UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# How far a raise may precede its event in the audit trail: clocks of different machines.
CLOCK_SKEW = timedelta(hours=1)


def collect(
    log: AuditLog,
    since: datetime,
    until: datetime,
    *,
    deliveries_until: datetime | None = None,
    by_event_time: bool = False,
) -> list[ExportedFinding]:
    """The findings first raised in ``[since, until)`` (with ``by_event_time``: whose CloudTrail
    event happened then, whenever they were raised); the delivery outcome is the latest
    recorded for each (deliveries follow the raise) before ``deliveries_until``, by default
    whenever it was recorded. A fixed horizon makes re-exports of a past window identical;
    the day-partitioned DynamoDB store also needs one, as it reads one day at a time."""
    since, until = as_utc(since), as_utc(until)
    horizon = _END_OF_TIME if deliveries_until is None else as_utc(deliveries_until)
    if by_event_time:
        # An event is raised after it happens (a scan of last year's archive raises today):
        # read every raise from the window's start on, and select by event time.
        rows = collect(log, since - CLOCK_SKEW, horizon, deliveries_until=horizon)
        return [row for row in rows if since <= row.finding.event_time < until]
    raised: dict[str, tuple[datetime, Finding]] = {}
    latest: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for record in log.read(since, horizon):
        finding_id = record.finding_id
        if finding_id is None:
            continue
        if record.kind in _RAISE_KINDS:
            body = record.data.get("finding")
            if record.at < until and finding_id not in raised and isinstance(body, dict):
                raised[finding_id] = (record.at, Finding.model_validate(body))
        if record.kind in _DELIVERY_KINDS:
            latest[finding_id] = (record.at, record.data)  # read in time order
    exported = []
    for finding_id, (raised_at, finding) in raised.items():
        delivery = latest.get(finding_id)
        if delivery is None:
            exported.append(ExportedFinding(finding, raised_at))
            continue
        at, data = delivery
        exported.append(
            ExportedFinding(
                finding,
                raised_at,
                delivery_status=str(data.get("outcome") or NOT_SENT),
                delivery_channel=data.get("channel"),
                delivery_reason=data.get("reason"),
                delivery_at=at,
            )
        )
    exported.sort(key=lambda item: (item.finding.event_time, item.finding.finding_id))
    return exported


def render(rows: Iterable[ExportedFinding], export_format: ExportFormat, bom: bool = True) -> bytes:
    """The whole export as bytes; the OCSF and ASFF validators are imported only for theirs."""
    if export_format is ExportFormat.CSV:
        from iamwatch.export.csv import render_csv

        return render_csv(rows, bom=bom)
    if export_format is ExportFormat.OCSF:
        from iamwatch.export.ocsf import render_ocsf

        return render_ocsf(rows)
    if export_format is ExportFormat.ASFF:
        from iamwatch.export.asff import render_asff

        return render_asff(rows)
    from iamwatch.export.jsonl import render_jsonl

    return render_jsonl(rows)
