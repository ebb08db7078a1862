"""iam-user-backdoor-sequence: one new IAM user created, given a credential and given admin
within a window: a backdoor account, one critical finding linking the three events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from detectors import (
    access_key_created,
    admin_policy_attached,
    console_password_created,
    iam_user_created,
    user_added_to_group,
)
from detectors._common import (
    IAM,
    acting_user_name,
    looks_administrative,
    state_key,
    target_user,
    who,
)
from detectors._sequence import Step, completed, note_step, span, subject_key
from iamwatch.events import CloudTrailRecord
from iamwatch.policy import admin_managed_policy_name, grants_admin
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="iam-user-backdoor-sequence",
    title="IAM user created, given a credential and admin",
    severity=Severity.CRITICAL,
    description=(
        "on one IAM user, within `IAMWATCH_BACKDOOR_SEQUENCE_WINDOW_HOURS` (default 30): "
        "created, given a credential (access key or console password) and given admin "
        "(AdministratorAccess or IAMFullAccess attached, an inline `*` on `*`, or added to a "
        "group that holds admin or is named like one), the last two in either order; one "
        "finding linking the three events"
    ),
    severity_rules="Always critical.",
    next_step="Quarantine the user now, then find out who created it and what it has done.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1136.003", "T1098.001", "T1098.003"),
    events={
        IAM: frozenset(
            {
                "CreateUser",
                "CreateAccessKey",
                "CreateLoginProfile",
                "AttachUserPolicy",
                "PutUserPolicy",
                "AddUserToGroup",
                "AttachGroupPolicy",
                "PutGroupPolicy",
            }
        )
    },
    remediation_actions=(
        "quarantine-user",
        "deactivate-access-key",
        "delete-login-profile",
        "detach-policy",
        "remove-from-group",
    ),
    enrichment_permissions=("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListUserTags"),
    recommendation=(
        "New identities with standing admin power belong nowhere: people get admin through "
        "time-bound Identity Center permission sets, workloads through roles."
    ),
    stateful=True,
)

CREATED, CREDENTIAL, ADMIN = "created", "credential", "admin"


@dataclass(frozen=True, slots=True)
class _Seen:
    user: str
    role: str
    summary: str
    detector: str
    facts: dict[str, str] = field(default_factory=dict)


def _admin_group_key(account: str | None, group: str) -> str:
    return state_key(f"{META.id}:admin-group:{account or '-'}:{group}")


def _step(record: CloudTrailRecord, context: DetectionContext) -> _Seen | None:
    """What this event does to which user, if it is a step; remembers groups given admin."""
    request, name, by = record.request, record.event_name, who(record)
    if name == "CreateUser":
        user = request.get_str("userName") or record.response.get_str("user", "userName")
        return _Seen(user, CREATED, f"created by {by}", iam_user_created.META.id) if user else None
    if name == "CreateAccessKey":
        user = (
            request.get_str("userName")
            or record.response.get_str("accessKey", "userName")
            or acting_user_name(record)
        )
        key = record.response.get_str("accessKey", "accessKeyId")
        facts = {"accessKeyId": key} if key else {}
        summary = f"access key {key or '(id not logged)'} created by {by}"
        return _Seen(user, CREDENTIAL, summary, access_key_created.META.id, facts) if user else None
    if name == "CreateLoginProfile":
        user = target_user(record)
        summary = f"console password created by {by}"
        return _Seen(user, CREDENTIAL, summary, console_password_created.META.id) if user else None
    if name in ("AttachGroupPolicy", "PutGroupPolicy"):
        group = request.get_str("groupName")
        if group and _grants_admin(record):
            context.state.remember(_admin_group_key(record.account_id, group), record.event_id)
        return None
    if name == "AddUserToGroup":
        user, group = request.get_str("userName"), request.get_str("groupName")
        if not user or not group:
            return None
        known = context.state.recall(_admin_group_key(record.account_id, group)) is not None
        if not (known or looks_administrative(group)):
            return None
        summary = f"added to admin group {group} by {by}"
        return _Seen(user, ADMIN, summary, user_added_to_group.META.id, {"groupName": group})
    user = request.get_str("userName")
    if not user or not _grants_admin(record):
        return None
    if name == "AttachUserPolicy":
        arn = request.get_str("policyArn") or ""
        summary = f"{admin_managed_policy_name(arn)} attached by {by}"
        return _Seen(user, ADMIN, summary, admin_policy_attached.META.id, {"policyArn": arn})
    policy = request.get_str("policyName") or "(unnamed)"
    summary = f"inline policy {policy} allowing * on * put by {by}"
    return _Seen(user, ADMIN, summary, admin_policy_attached.META.id, {"policyName": policy})


def _grants_admin(record: CloudTrailRecord) -> bool:
    if record.event_name.startswith("Attach"):
        return admin_managed_policy_name(record.request.get_str("policyArn")) is not None
    return grants_admin(record.request.get_raw("policyDocument"))


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    seen = _step(record, context)
    if seen is None:
        return
    window = context.settings.backdoor_window
    account = record.account_id
    key = subject_key(META.id, account, seen.user)
    current = note_step(
        context, key, record, seen.role, seen.summary,
        detector=seen.detector, keep=window, facts=seen.facts,
    )  # fmt: skip
    # The other steps follow the creation (or share its second) within the window.
    for created, (credential, admin) in completed(
        context, key, current, window, CREATED, (CREDENTIAL, ADMIN)
    ):
        yield _hit(account, seen.user, created, credential, admin)


def _hit(account: str | None, user: str, created: Step, credential: Step, admin: Step) -> Hit:
    # The creation comes first even when CloudTrail stamps all three with the same second.
    ordered = (created, *sorted((credential, admin), key=lambda step: (step.at, step.event_id)))
    details = {"userName": user, **credential.facts, **admin.facts}
    details["window"] = f"{span(ordered[0].at, ordered[-1].at)} from creation to the last step"
    return Hit(
        summary=f"IAM user {user} was created, given a credential and given admin within "
        f"{span(ordered[0].at, ordered[-1].at)} in account {account or '(unknown)'}: "
        f"{created.summary}; {credential.summary}; {admin.summary}.",
        target=user,
        target_type="iam-user",
        dedup_key=f"{META.id}:{account or '-'}:{user}",
        details=details,
        identity=created.event_id,
        links=tuple(step.link() for step in ordered),
        event=ordered[-1].ref,
    )
