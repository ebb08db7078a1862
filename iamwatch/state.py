"""State for stateful detectors, behind a small interface.

The embedded default is SQLite (in memory for a one-off scan, a file to carry state across
scans); the Lambda deployment uses DynamoDB behind the same interface. Every write is keyed by
eventID, so replaying the same records (a re-scan, an EventBridge retry) never double counts.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from iamwatch.text import bounded_key


@dataclass(frozen=True, slots=True)
class Note:
    """What a detector noted about one event under a key (a step of a sequence)."""

    event_id: str
    at: datetime
    value: str


class StateStore(Protocol):
    def count_in_window(self, key: str, event_id: str, at: datetime, window: timedelta) -> int:
        """Record the event under ``key`` and count the distinct events in ``(at - window, at]``."""
        ...

    def claim(self, key: str, event_id: str, at: datetime, window: timedelta) -> bool:
        """True unless another event claimed ``key`` within ``(at - window, at]``; re-claiming
        with the same event id succeeds again so replays give the same answer."""
        ...

    def remember(self, key: str, value: str) -> None: ...

    def recall(self, key: str) -> str | None: ...

    def note(self, key: str, event_id: str, at: datetime, value: str, keep: timedelta) -> None:
        """Keep ``value`` about the event at ``at`` under ``key``, for at least ``keep`` after
        ``at``. Noting the same event again replaces its value, so replays add nothing."""
        ...

    def notes(
        self,
        key: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Note]:
        """The events noted under ``key`` at times in ``[start, end]``, oldest first (ties by
        event id), whatever order they were noted in: sequence detectors look both ways. With
        ``limit``, only that many of the oldest (or, ``newest_first``, of the newest, newest
        first): an index read, however many there are."""
        ...


_SCHEMA = """
create table if not exists window_events (
    key text not null, event_id text not null, at real not null,
    primary key (key, event_id)
);
create index if not exists window_events_by_time on window_events (key, at);
create table if not exists claims (
    key text not null, event_id text not null, at real not null,
    primary key (key, event_id)
);
create table if not exists facts (key text primary key, value text not null);
create table if not exists notes (
    key text not null, event_id text not null, at real not null, value text not null,
    primary key (key, event_id)
);
create index if not exists notes_by_time on notes (key, at);
"""


_NOTES = "select event_id, at, value from notes where key = ? and at >= ? and at <= ? "
_NOTES_OLDEST_FIRST = _NOTES + "order by at, event_id limit ?"
_NOTES_NEWEST_FIRST = _NOTES + "order by at desc, event_id desc limit ?"


def open_database(path: Path | str | None, schema: str) -> sqlite3.Connection:
    """An autocommit SQLite connection with ``schema`` applied; in memory when ``path`` is
    None, else the file (and its folder) is created as needed."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    database = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
    database.executescript(schema)
    return database


class SQLiteStateStore:
    """The embedded store. ``path=None`` keeps state in memory for one process."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._db = open_database(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def count_in_window(self, key: str, event_id: str, at: datetime, window: timedelta) -> int:
        moment = at.timestamp()
        self._db.execute(
            "insert or ignore into window_events (key, event_id, at) values (?, ?, ?)",
            (key, event_id, moment),
        )
        (count,) = self._db.execute(
            "select count(*) from window_events where key = ? and at > ? and at <= ?",
            (key, moment - window.total_seconds(), moment),
        ).fetchone()
        return int(count)

    def claim(self, key: str, event_id: str, at: datetime, window: timedelta) -> bool:
        moment = at.timestamp()
        row = self._db.execute(
            "select 1 from claims where key = ? and event_id != ? and at > ? and at <= ? limit 1",
            (key, event_id, moment - window.total_seconds(), moment),
        ).fetchone()
        if row is not None:
            return False
        self._db.execute(
            "insert or ignore into claims (key, event_id, at) values (?, ?, ?)",
            (key, event_id, moment),
        )
        return True

    def remember(self, key: str, value: str) -> None:
        self._db.execute(
            "insert into facts (key, value) values (?, ?) "
            "on conflict (key) do update set value = excluded.value",
            (key, value),
        )

    def recall(self, key: str) -> str | None:
        row = self._db.execute("select value from facts where key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def note(self, key: str, event_id: str, at: datetime, value: str, keep: timedelta) -> None:
        # Kept until the file is deleted: a scan's state is as long-lived as the user wants.
        self._db.execute(
            "insert into notes (key, event_id, at, value) values (?, ?, ?, ?) "
            "on conflict (key, event_id) do update set value = excluded.value, at = excluded.at",
            (key, event_id, at.timestamp(), value),
        )

    def notes(
        self,
        key: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Note]:
        query = _NOTES_NEWEST_FIRST if newest_first else _NOTES_OLDEST_FIRST
        rows = self._db.execute(
            query, (key, start.timestamp(), end.timestamp(), -1 if limit is None else limit)
        ).fetchall()
        return [
            Note(
                event_id=str(event_id), at=datetime.fromtimestamp(moment, tz=UTC), value=str(value)
            )
            for event_id, moment, value in rows
        ]


class EventLedger(Protocol):
    """Which CloudTrail events a scan has processed, so a record read twice (CloudTrail does
    deliver duplicates; a scan may be given overlapping inputs) raises its findings once."""

    def seen(self, event_id: str) -> bool: ...

    def remember(self, event_id: str) -> None: ...


class MemoryEventLedger:
    """For one scan."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def seen(self, event_id: str) -> bool:
        return event_id in self._seen

    def remember(self, event_id: str) -> None:
        self._seen.add(event_id)

    def close(self) -> None:
        pass


_LEDGER_SCHEMA = (
    "create table if not exists processed_events (event_id text primary key, at real not null)"
)


class SQLiteEventLedger:
    """Across scans, in the ``--state`` file. Writes are batched (one transaction per
    ``batch_size`` events, and on ``close``): a scan interrupted before that scans those
    events again next time, which raises their findings again rather than losing them."""

    def __init__(self, path: Path | str, batch_size: int = 1000) -> None:
        self._db = open_database(path, _LEDGER_SCHEMA)
        self._pending: dict[str, float] = {}
        self._batch_size = batch_size

    def seen(self, event_id: str) -> bool:
        key = bounded_key(event_id)
        if key in self._pending:
            return True
        row = self._db.execute(
            "select 1 from processed_events where event_id = ?", (key,)
        ).fetchone()
        return row is not None

    def remember(self, event_id: str) -> None:
        self._pending[bounded_key(event_id)] = time.time()
        if len(self._pending) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        self._db.execute("begin immediate")
        self._db.executemany(
            "insert or ignore into processed_events (event_id, at) values (?, ?)",
            pending.items(),
        )
        self._db.execute("commit")

    def close(self) -> None:
        self.flush()
        self._db.close()
