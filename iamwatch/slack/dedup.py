"""Dedup state for alerts behind a small interface: SQLite here, DynamoDB for Lambda later.

Two facts are kept: per dedup key, the alert that was posted (where, when, how often it has
been seen since); and per finding id, that the finding was handled, so a finding delivered
twice (an SQS redelivery, a re-scan) never posts twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from iamwatch.state import open_database


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The alert posted for a dedup key. ``ts`` is ``None`` for webhooks (no message id)."""

    dedup_key: str
    channel: str
    ts: str | None
    first_seen: datetime
    last_seen: datetime
    count: int
    # The first finding, as JSON, so an updated count can re-render the original message.
    finding_json: str


class DedupStore(Protocol):
    def get(self, dedup_key: str) -> AlertRecord | None: ...

    def put(self, record: AlertRecord) -> None: ...

    def seen(self, finding_id: str) -> bool:
        """True when this finding was already handled (posted or counted as a repeat)."""
        ...

    def mark_seen(self, finding_id: str, dedup_key: str) -> None: ...


_SCHEMA = """
create table if not exists slack_alerts (
    dedup_key text primary key, channel text not null, ts text,
    first_seen real not null, last_seen real not null, count integer not null,
    finding_json text not null
);
create table if not exists slack_findings (
    finding_id text primary key, dedup_key text not null
);
"""


def _moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


class SQLiteDedupStore:
    """The embedded store. ``path=None`` keeps state in memory for one process."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._db = open_database(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, dedup_key: str) -> AlertRecord | None:
        row = self._db.execute(
            "select dedup_key, channel, ts, first_seen, last_seen, count, finding_json "
            "from slack_alerts where dedup_key = ?",
            (dedup_key,),
        ).fetchone()
        if row is None:
            return None
        key, channel, ts, first_seen, last_seen, count, finding_json = row
        return AlertRecord(
            dedup_key=str(key),
            channel=str(channel),
            ts=None if ts is None else str(ts),
            first_seen=_moment(float(first_seen)),
            last_seen=_moment(float(last_seen)),
            count=int(count),
            finding_json=str(finding_json),
        )

    def put(self, record: AlertRecord) -> None:
        self._db.execute(
            "insert into slack_alerts "
            "(dedup_key, channel, ts, first_seen, last_seen, count, finding_json) "
            "values (?, ?, ?, ?, ?, ?, ?) on conflict (dedup_key) do update set "
            "channel = excluded.channel, ts = excluded.ts, first_seen = excluded.first_seen, "
            "last_seen = excluded.last_seen, count = excluded.count, "
            "finding_json = excluded.finding_json",
            (
                record.dedup_key,
                record.channel,
                record.ts,
                record.first_seen.timestamp(),
                record.last_seen.timestamp(),
                record.count,
                record.finding_json,
            ),
        )

    def seen(self, finding_id: str) -> bool:
        row = self._db.execute(
            "select 1 from slack_findings where finding_id = ?", (finding_id,)
        ).fetchone()
        return row is not None

    def mark_seen(self, finding_id: str, dedup_key: str) -> None:
        self._db.execute(
            "insert or ignore into slack_findings (finding_id, dedup_key) values (?, ?)",
            (finding_id, dedup_key),
        )
