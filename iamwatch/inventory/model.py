"""The inventory's data: an identity as the sources describe it, and a row of the report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ROOT_USER = "<root_account>"  # the credential report's name for the root user


class Kind(StrEnum):
    HUMAN = "human"
    WORKLOAD = "workload"
    MIXED = "mixed"
    DORMANT = "dormant"
    ROOT = "root"


class Recommendation(StrEnum):
    IDENTITY_CENTER = "identity-center"
    ROLE = "role"
    SPLIT = "split"
    REMOVE = "remove"
    KEEP = "keep"
    SECURE_ROOT = "secure-root"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AccessKey(_Frozen):
    slot: int  # 1 or 2: the credential report's access_key_1 / access_key_2
    active: bool
    key_id: str | None = None
    created: datetime | None = None  # the report's last_rotated: when the key was created
    last_used: datetime | None = None
    last_used_region: str | None = None
    last_used_service: str | None = None


class InlinePolicy(_Frozen):
    name: str
    # Characters IAM counts towards the 2,048 limit: the document without whitespace.
    size: int
    admin: bool = False


class ServiceUse(_Frozen):
    """Service last-accessed data (GenerateServiceLastAccessedDetails)."""

    service: str
    last_accessed: datetime | None = None


class Activity(_Frozen):
    """What CloudTrail showed the identity doing (``--cloudtrail``)."""

    console_sign_ins: int = 0
    api_calls: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    user_agents: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    # Calls made from outside AWS (not by a service, not from a Lambda/ECS/EC2 SDK agent).
    outside_aws_calls: int = 0


class Identity(_Frozen):
    """One IAM user, or root, as the sources say; ``None`` where they said nothing."""

    user: str
    arn: str
    account: str | None = None
    created: datetime | None = None
    password_enabled: bool = False
    password_last_used: datetime | None = None
    password_last_changed: datetime | None = None
    mfa_active: bool = False
    access_keys: tuple[AccessKey, ...] = ()
    groups: tuple[str, ...] = ()
    attached_policies: tuple[str, ...] = ()  # managed policy ARNs attached to the user
    group_policies: tuple[str, ...] = ()  # managed policy ARNs attached to its groups
    inline_policies: tuple[InlinePolicy, ...] = ()
    admin: bool = False
    admin_via: tuple[str, ...] = ()
    boundary: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    services_used: tuple[ServiceUse, ...] | None = None
    activity: Activity | None = None
    identity_center_user: str | None = None
    # Facts from the event stream since the snapshot (iamwatch.inventory.tracker).
    changed_by_events: tuple[str, ...] = ()

    @property
    def is_root(self) -> bool:
        return self.user == ROOT_USER

    @property
    def active_keys(self) -> tuple[AccessKey, ...]:
        return tuple(key for key in self.access_keys if key.active)


class CheckResult(_Frozen):
    id: str
    severity: str
    detail: str


class Row(_Frozen):
    """One line of the report: the jsonl contract (user, arn, kind, recommendation, reason,
    checks, evidence) plus the account, the failed checks' details and the next steps."""

    user: str
    arn: str
    account: str | None
    kind: Kind
    recommendation: Recommendation
    reason: str
    checks: tuple[str, ...]
    evidence: dict[str, Any]
    check_details: tuple[CheckResult, ...] = ()
    next_steps: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "arn": self.arn,
            "account": self.account,
            "kind": self.kind.value,
            "recommendation": self.recommendation.value,
            "reason": self.reason,
            "checks": list(self.checks),
            "evidence": self.evidence,
            "check_details": [item.model_dump() for item in self.check_details],
            "next_steps": list(self.next_steps),
        }


class Inventory(_Frozen):
    """The whole report: rows, when it was taken, and account-level findings."""

    account: str | None
    as_of: datetime
    # How the reference time was chosen, and how old the credential report is, for people.
    as_of_source: str
    report_age_seconds: float | None = None
    rows: tuple[Row, ...]
    account_checks: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()
