"""Daily exports: which UTC day a run covers, that day's window and delivery horizon, and the
Hive-style object keys (``.../year=YYYY/month=MM/day=DD/...``) Athena partitions on
(docs/export.md). Pure: the S3 and DynamoDB side is ``iamwatch.aws.export``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from iamwatch.audit import AuditKind, AuditLog
from iamwatch.export import ExportedFinding, ExportFormat, as_utc, render

PREFIX = "iamwatch"
FORMATS = (ExportFormat.JSONL, ExportFormat.OCSF, ExportFormat.CSV)
# Deliveries recorded up to this long after midnight still count towards the day that ended:
# the schedule fires after it (serverless.yml; tests/integration/test_template.py checks), and every
# re-run of the day reads up to the same moment, so it writes the same bytes.
DELIVERY_HORIZON = timedelta(minutes=15)


class DayNotOver(ValueError):
    """The day (with its delivery horizon) has not ended: exporting it now would write a
    partial object that a later run silently replaces."""


class ExportRequest(BaseModel):
    """What the export function is invoked with: the EventBridge scheduled event (only its
    ``time`` matters), or ``{"day": "YYYY-MM-DD"}`` to re-run or backfill one day."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    day: date | None = None
    time: datetime | None = None

    def day_to_export(self, now: datetime) -> date:
        """The explicit day, else the UTC day before the schedule fired. The event's own time
        rather than the clock, so an asynchronous retry hours later exports the same day."""
        if self.day is not None:
            return self.day
        return (as_utc(self.time or now) - timedelta(days=1)).date()


def window(day: date) -> tuple[datetime, datetime]:
    """``[midnight, next midnight)`` UTC: the findings raised that day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def deliveries_until(day: date) -> datetime:
    return window(day)[1] + DELIVERY_HORIZON


def check_over(day: date, now: datetime) -> None:
    ready = deliveries_until(day)
    if as_utc(now) < ready:
        raise DayNotOver(f"{day.isoformat()} can be exported from {ready.isoformat()}")


def object_key(export_format: ExportFormat, day: date, prefix: str = PREFIX) -> str:
    """``<prefix>/<format>/year=YYYY/month=MM/day=DD/findings-YYYY-MM-DD.<ext>``: one folder
    per format (one Athena table each), one object per day, so a re-run overwrites it."""
    return (
        f"{prefix}/{export_format.value}/year={day:%Y}/month={day:%m}/day={day:%d}/"
        f"findings-{day.isoformat()}.{export_format.extension}"
    )


def inventory_key(day: date, prefix: str = PREFIX) -> str:
    """The day's inventory snapshot, beside the findings: ``<prefix>/inventory/year=.../``."""
    return (
        f"{prefix}/inventory/year={day:%Y}/month={day:%m}/day={day:%d}/"
        f"inventory-{day.isoformat()}.jsonl"
    )


def inventory_rows(log: AuditLog, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The rows of the last inventory taken in ``[since, until)`` (a re-run that day replaces
    the earlier one), in the order ``iamwatch inventory --format jsonl`` prints them."""
    snapshots: dict[str, list[dict[str, Any]]] = {}
    for record in log.read(since, until):
        if record.kind is AuditKind.INVENTORY_ROW and isinstance(record.data.get("row"), dict):
            snapshots.setdefault(str(record.data.get("as_of")), []).append(record.data["row"])
    if not snapshots:
        return []
    return snapshots[max(snapshots)]


def render_inventory(rows: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


@dataclass(frozen=True, slots=True)
class DailyObject:
    export_format: ExportFormat
    key: str
    body: bytes
    findings: int


def render_day(
    rows: Iterable[ExportedFinding],
    day: date,
    formats: Sequence[ExportFormat] = FORMATS,
    prefix: str = PREFIX,
) -> list[DailyObject]:
    """One object per format; an empty day gives empty objects (CSV: the header row), so a
    missing object always means a missed run, never a quiet day. CSV has no byte order mark:
    these files are for machines (Athena would read it into the first column name)."""
    rows = list(rows)
    return [
        DailyObject(
            export_format=chosen,
            key=object_key(chosen, day, prefix),
            body=render(rows, chosen, bom=False),
            findings=len(rows),
        )
        for chosen in formats
    ]
