"""Sequences: events on one subject (an IAM user) that are worse together than each alone.

Every event that can be a step of a sequence is noted in the state store under its subject's
key, and every step looks both ways in time within the window: Lambda receives events in any
order and a scan reads files in path order (one region after another), so the last step to
arrive completes the sequence whichever step it is.

A sequence is raised once. Its finding id comes from its first step (``Hit.identity``) and it
is reported on its last step in time (``Hit.event``), so the finding reads the same whatever
order its events arrived in. The first event to complete it claims it, the claim made at the
first step's time so that every later claimant of the same sequence meets it; re-processing
the claiming event (a retry, a re-scan with ``--state``) raises the same finding again, any
other event of it does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import orjson
from pydantic import ValidationError

from detectors._common import state_key
from iamwatch.events import CloudTrailRecord
from iamwatch.finding import EventRef, LinkedEvent, finding_id_for
from iamwatch.registry import DetectionContext
from iamwatch.state import Note
from iamwatch.text import encodable_tree


@dataclass(frozen=True, slots=True)
class Step:
    """One event's part in a sequence, as noted in the state store."""

    role: str
    event_id: str
    at: datetime
    event_name: str
    summary: str
    # The single-event detector that reports this event on its own, if one does.
    detector: str | None = None
    # Facts remediation can use (an access key id, a policy, a group).
    facts: Mapping[str, str] = field(default_factory=dict)
    # The event as a finding reports it (who, from where), for when it is the sequence's last.
    ref: EventRef | None = None

    def encode(self) -> str:
        note = {
            "role": self.role,
            "event_name": self.event_name,
            "summary": self.summary,
            "detector": self.detector,
            "facts": dict(self.facts),
            "event": self.ref.model_dump(mode="json") if self.ref else None,
        }
        # Names from the event may hold lone surrogates, which no store can encode.
        return orjson.dumps(encodable_tree(note)).decode()

    @classmethod
    def decode(cls, note: Note) -> Step | None:
        """The step a note holds; ``None`` for one this version cannot read. Decoded once per
        note: each step of a busy subject reads the same notes again."""
        return _decoded(note)

    @classmethod
    def _decode(cls, note: Note) -> Step | None:
        try:
            data = orjson.loads(note.value)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("role"), str):
            return None
        facts = data.get("facts")
        try:
            ref = EventRef.model_validate(data.get("event"))
        except ValidationError:
            return None
        return cls(
            role=data["role"],
            event_id=note.event_id,
            at=note.at,
            event_name=str(data.get("event_name") or "?"),
            summary=str(data.get("summary") or ""),
            detector=data["detector"] if isinstance(data.get("detector"), str) else None,
            facts={str(k): str(v) for k, v in facts.items()} if isinstance(facts, dict) else {},
            ref=ref,
        )

    def link(self) -> LinkedEvent:
        return LinkedEvent(
            role=self.role,
            event_id=self.event_id,
            event_name=self.event_name,
            event_time=self.at,
            summary=self.summary,
            detector=self.detector,
            finding_id=finding_id_for(self.detector, self.event_id) if self.detector else None,
        )


@lru_cache(maxsize=4096)
def _decoded(note: Note) -> Step | None:
    return Step._decode(note)


def subject_key(detector_id: str, account: str | None, user: str) -> str:
    return state_key(f"{detector_id}:{account or '-'}:{user}")


def note_step(
    context: DetectionContext,
    key: str,
    record: CloudTrailRecord,
    role: str,
    summary: str,
    *,
    detector: str | None,
    keep: timedelta,
    facts: Mapping[str, str] | None = None,
) -> Step:
    step = Step(
        role=role,
        event_id=state_key(record.event_id),
        at=record.event_time,
        event_name=record.event_name,
        summary=summary,
        detector=detector,
        facts=dict(facts or {}),
        ref=EventRef.of(record),
    )
    context.state.note(key, step.event_id, step.at, step.encode(), keep)
    return step


def steps_around(
    context: DetectionContext, key: str, moment: datetime, window: timedelta
) -> list[Step]:
    """The steps noted under ``key`` within ``window`` before or after ``moment``."""
    found = (
        Step.decode(note) for note in context.state.notes(key, moment - window, moment + window)
    )
    return [step for step in found if step is not None]


def claim(
    context: DetectionContext, key: str, opening: Step, current: Step, window: timedelta
) -> bool:
    """Whether ``current`` may raise the sequence that ``opening`` starts."""
    return context.state.claim(
        state_key(f"{key}:{opening.event_id}"), current.event_id, opening.at, window
    )


def first(candidates: Sequence[Step]) -> Step:
    """The step of a role to link when several qualify (two keys, say): the earliest, so the
    finding depends on the events known, not on the order they arrived in."""
    return min(candidates, key=lambda step: (step.at, step.event_id))


def span(start: datetime, end: datetime) -> str:
    """A duration in words, for summaries: "the same second", "14 minutes", "3 hours"."""
    seconds = int((end - start).total_seconds())
    if seconds <= 0:
        return "the same second"
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} hours"
