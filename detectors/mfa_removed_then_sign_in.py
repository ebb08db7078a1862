"""mfa-removed-then-sign-in: an IAM user's MFA device was removed, then the user signed in to
the console without MFA."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from detectors import console_login_without_mfa, mfa_device_removed
from detectors._common import IAM, SIGNIN, target_user, where, who
from detectors._sequence import SIGN_IN, PairStep, Step, span, then_sign_in
from iamwatch.events import CloudTrailRecord
from iamwatch.principal import PrincipalKind
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

WINDOW = timedelta(hours=24)

META = DetectorMeta(
    id="mfa-removed-then-sign-in",
    title="MFA removed, then a sign-in without MFA",
    severity=Severity.CRITICAL,
    description=(
        "an MFA device deactivated for an IAM user (DeactivateMFADevice), then that user's "
        "console sign-in without MFA within 24 hours, whatever order the events arrive in; one "
        "finding linking the two"
    ),
    severity_rules="Always critical.",
    next_step="Reach the user out of band: if they did not remove the device, delete the "
    "password, quarantine the user and review the session.",
    asff_type="TTPs/Defense Evasion",
    attack_techniques=("T1556.006", "T1078.004"),
    events={
        IAM: frozenset({"DeactivateMFADevice"}),
        SIGNIN: frozenset({"ConsoleLogin"}),
    },
    remediation_actions=("delete-login-profile", "quarantine-user"),
    enrichment_permissions=("iam:ListMFADevices", "iam:GetLoginProfile"),
    recommendation=(
        "Require MFA with an IAM policy that denies everything without aws:MultiFactorAuthPresent, "
        "and move people to IAM Identity Center, where MFA cannot be removed by the user alone."
    ),
    stateful=True,
)

REMOVED = "mfa-removed"


def _step(record: CloudTrailRecord) -> PairStep | None:
    """(user, role, summary, detector) when the event is a step of the sequence."""
    if record.event_source == SIGNIN:
        principal = record.principal
        mfa = (record.extra.get_str("MFAUsed") or "").strip().lower()
        if (
            record.console_login_result != "Success"
            or principal.kind is not PrincipalKind.IAM_USER
            or principal.name is None
            or mfa != "no"
        ):
            return None
        summary = f"console sign-in without MFA {where(record)}"
        return principal.name, SIGN_IN, summary, console_login_without_mfa.META.id
    # DeactivateMFADevice names the user (or is the caller's own); deleting a virtual device
    # does not say whose it was, and a device must be deactivated before it can be deleted.
    user = target_user(record)
    if user is None:
        return None
    serial = record.request.get_str("serialNumber") or "(unknown)"
    summary = f"MFA device {serial} deactivated by {who(record)}"
    return user, REMOVED, summary, mfa_device_removed.META.id


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    yield from then_sign_in(META.id, record, context, _step(record), REMOVED, WINDOW, _summary)


def _summary(user: str, account: str | None, removed: Step, sign_in: Step) -> str:
    return (
        f"An MFA device of IAM user {user} was removed, then the user signed in to the console "
        f"without MFA {span(removed.at, sign_in.at)} later in account "
        f"{account or '(unknown)'}: {removed.summary}; {sign_in.summary}."
    )
