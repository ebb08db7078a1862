"""The hand-over from the interactions endpoint to the remediate function: one queued request.

The internet-facing endpoint holds no IAM permissions; it queues what the approvers confirmed,
and the remediate function (the only one allowed to change IAM) re-plans and checks the digest
and the approvals in the audit trail before it applies anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iamwatch.settings import SLACK_USER_ID
from iamwatch.slack.interactions.payload import CHANNEL_ID, DIGEST, MESSAGE_TS, finding_id


class RemediationRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    finding_id: str
    plan_digest: str
    approvers: tuple[str, ...] = Field(min_length=1, max_length=5)
    approval_id: str  # the audit record that queued it
    requested_at: datetime
    channel: str | None = None
    alert_ts: str | None = None
    # An undo: the applied step (its audit record id) to reverse, instead of the plan.
    undo: str | None = None

    @field_validator("finding_id", "approval_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return finding_id(value)

    @field_validator("undo")
    @classmethod
    def _undo(cls, value: str | None) -> str | None:
        return None if value is None else finding_id(value)

    @field_validator("plan_digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not DIGEST.match(value):
            raise ValueError("is not a plan digest")
        return value

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not SLACK_USER_ID.match(user) for user in value):
            raise ValueError("holds something other than Slack user ids")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not CHANNEL_ID.match(value):
            raise ValueError("is not a channel id")
        return value

    @field_validator("alert_ts")
    @classmethod
    def _ts(cls, value: str | None) -> str | None:
        if value is not None and not MESSAGE_TS.match(value):
            raise ValueError("is not a message ts")
        return value


class RemediationQueue(Protocol):
    def submit(self, request: RemediationRequest) -> None: ...
