"""Sequences: events on one subject (an IAM user) that are worse together than each alone.

A sequence opens with one step (a user created, a password set by someone else) and is
complete when a step of each other role follows within the window. Every event that can be a
step is noted in the state store under its subject and role, and every step looks both ways
in time: Lambda receives events in any order and a scan reads files in path order (one region
after another), so the last step to arrive completes the sequence whichever step it is.

Each look is a few indexed reads: the openings the step may follow (the latest
``OPENINGS_LOOKED_AT`` of them within the window), then the first step of each role after
each. A busy subject (a user who signs in all day) costs no more per event than a quiet one,
so nobody can slow the monitor down by repeating an event. The price: a subject opened more
than ``OPENINGS_LOOKED_AT`` times within one window (a user created and deleted again and
again) may go without a sequence for its older openings, each still a finding of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import orjson
from pydantic import ValidationError

from detectors._common import state_key
from iamwatch.events import CloudTrailRecord
from iamwatch.finding import EventRef, LinkedEvent, finding_id_for
from iamwatch.registry import DetectionContext, Hit
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


# How many of a subject's openings within the window each later step looks at, newest first.
OPENINGS_LOOKED_AT = 16


def subject_key(detector_id: str, account: str | None, user: str) -> str:
    return state_key(f"{detector_id}:{account or '-'}:{user}")


def _role_key(key: str, role: str) -> str:
    return f"{key}:{role}"


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
    context.state.note(_role_key(key, role), step.event_id, step.at, step.encode(), keep)
    return step


def _steps(
    context: DetectionContext,
    key: str,
    role: str,
    low: datetime,
    high: datetime,
    limit: int,
    newest_first: bool = False,
) -> list[Step]:
    """Up to ``limit`` of the ``role`` steps noted under ``key`` in ``[low, high]``, oldest (or
    newest) first. Reads ``limit`` notes, more only past notes this version cannot read."""
    wanted, read = limit, limit
    while True:
        notes = context.state.notes(_role_key(key, role), low, high, read, newest_first)
        steps = [s for s in map(Step.decode, notes) if s is not None and s.role == role]
        if len(steps) >= wanted or len(notes) < read:
            return steps[:wanted]
        read *= 4


def completed(
    context: DetectionContext,
    key: str,
    current: Step,
    window: timedelta,
    opening: str,
    follows: Sequence[str],
) -> Iterator[tuple[Step, tuple[Step, ...]]]:
    """The sequences ``current`` completes and may raise (claimed): each an opening step
    followed within ``window`` (or in its second) by a step of every role in ``follows``,
    with the first step of each role after the opening (the earliest, so the finding depends
    on the events known, not on the order they arrived in)."""
    if current.role == opening:
        openings = [current]
    else:
        # A step belongs to the sequences opened at most ``window`` before it: the latest
        # ``OPENINGS_LOOKED_AT`` of them, so repeating an opening cannot slow every later step.
        latest = _steps(
            context, key, opening, current.at - window, current.at, OPENINGS_LOOKED_AT, True
        )
        openings = latest[::-1]  # raised oldest first
    for start in openings:
        firsts = []
        for role in follows:
            found = _steps(context, key, role, start.at, start.at + window, 1)
            if not found:
                break
            firsts.append(found[0])
        else:
            if claim(context, key, start, current, window):
                yield start, tuple(firsts)


# A step of a two-step sequence: (user, role, summary, the detector reporting it on its own).
PairStep = tuple[str, str, str, str | None]
# The summary of a two-step sequence: (user, account, opening step, sign-in step) -> text.
PairSummary = Callable[[str, str | None, Step, Step], str]
SIGN_IN = "sign-in"


def then_sign_in(
    detector_id: str,
    record: CloudTrailRecord,
    context: DetectionContext,
    found: PairStep | None,
    opening: str,
    window: timedelta,
    summary: PairSummary,
) -> Iterator[Hit]:
    """A sequence of an ``opening`` step on an IAM user, then a console sign-in as that user
    within ``window``: the step ``found`` in ``record`` is noted, and the sequence it completes
    is raised on the sign-in, linking both."""
    if found is None:
        return
    user, role, step_summary, member = found
    account = record.account_id
    key = subject_key(detector_id, account, user)
    current = note_step(context, key, record, role, step_summary, detector=member, keep=window)
    for start, (sign_in,) in completed(context, key, current, window, opening, (SIGN_IN,)):
        yield Hit(
            summary=summary(user, account, start, sign_in),
            target=user,
            target_type="iam-user",
            dedup_key=f"{detector_id}:{account or '-'}:{user}",
            details={"userName": user},
            identity=start.event_id,
            links=(start.link(), sign_in.link()),
            event=sign_in.ref,
        )


def claim(
    context: DetectionContext, key: str, opening: Step, current: Step, window: timedelta
) -> bool:
    """Whether ``current`` may raise the sequence that ``opening`` starts."""
    return context.state.claim(
        state_key(f"{key}:{opening.event_id}"), current.event_id, opening.at, window
    )


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
