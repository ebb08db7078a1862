"""Approval rounds: the one consistent record of where a finding's remediation stands.

The audit trail keeps every click, but it is read through an index (DynamoDB's global
secondary indexes are eventually consistent): a second approver clicking right after the first
could miss the first approval, and the remediate function could miss the approval it was sent
to apply. So the decision lives in one item per finding, read consistently and changed only by
a conditional write on its version (a lost race is read again, never overwritten):

- ``pending``: approvals so far for one plan digest, each with its time (a round lasts an hour);
- ``queued``: enough approvers confirmed; the approval record that queued it is named;
- ``applying``: the remediate function took it (only the queued approval may);
- ``done`` or ``failed``: it ended. A failure ends the round at once, so the approvers can
  confirm again without waiting out the hour; a retryable error returns it to ``queued``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import orjson

from iamwatch.state import open_database

Status = Literal["pending", "queued", "applying", "done", "failed"]


@dataclass(frozen=True, slots=True)
class Approval:
    user: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Round:
    finding_id: str
    digest: str
    status: Status
    approvals: tuple[Approval, ...] = ()
    # The approval record that queued the round, and when.
    approval_id: str | None = None
    queued_at: datetime | None = None
    # Bumped by every write; a write names the version it read.
    version: int = 0

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(approval.user for approval in self.approvals)

    def moved(self, status: Status, **changes: object) -> Round:
        return replace(self, status=status, version=self.version + 1, **changes)  # type: ignore[arg-type]

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "finding_id": self.finding_id,
                "digest": self.digest,
                "status": self.status,
                "approvals": [[a.user, a.at.isoformat()] for a in self.approvals],
                "approval_id": self.approval_id,
                "queued_at": self.queued_at.isoformat() if self.queued_at else None,
                "version": self.version,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Round:
        raw = orjson.loads(data)
        queued_at = raw.get("queued_at")
        return cls(
            finding_id=raw["finding_id"],
            digest=raw["digest"],
            status=raw["status"],
            approvals=tuple(
                Approval(user, datetime.fromisoformat(at)) for user, at in raw["approvals"]
            ),
            approval_id=raw.get("approval_id"),
            queued_at=datetime.fromisoformat(queued_at) if queued_at else None,
            version=int(raw["version"]),
        )


class ApprovalRounds(Protocol):
    def get(self, finding_id: str) -> Round | None:
        """The finding's current round, read consistently."""
        ...

    def put(self, round_: Round, *, read_version: int | None) -> bool:
        """Write ``round_`` if the stored round is still the one read (``read_version``; None:
        there was none); False when someone else wrote in between."""
        ...


_SCHEMA = """
create table if not exists approval_rounds (
    finding_id text primary key, version integer not null, body blob not null
);
"""


class SQLiteApprovalRounds:
    """The rounds in SQLite: tests, and a local set-up of the interactions endpoint."""

    def __init__(self, path: Path | str | None = None) -> None:
        self._db = open_database(path, _SCHEMA)

    def get(self, finding_id: str) -> Round | None:
        row = self._db.execute(
            "select body from approval_rounds where finding_id = ?", (finding_id,)
        ).fetchone()
        return None if row is None else Round.from_json(row[0])

    def put(self, round_: Round, *, read_version: int | None) -> bool:
        if read_version is None:
            cursor = self._db.execute(
                "insert or ignore into approval_rounds (finding_id, version, body) "
                "values (?, ?, ?)",
                (round_.finding_id, round_.version, round_.to_json()),
            )
        else:
            cursor = self._db.execute(
                "update approval_rounds set version = ?, body = ? "
                "where finding_id = ? and version = ?",
                (round_.version, round_.to_json(), round_.finding_id, read_version),
            )
        return cursor.rowcount == 1
