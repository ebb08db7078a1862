"""console-takeover-sequence: someone else set an IAM user's console password, then somebody
signed in to the console as that user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from detectors import console_login_without_mfa, console_password_created, console_password_reset
from detectors._common import IAM, SIGNIN, target_user, where, who
from detectors._sequence import SIGN_IN, PairStep, Step, span, then_sign_in
from iamwatch.events import CloudTrailRecord
from iamwatch.principal import PrincipalKind
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

WINDOW = timedelta(hours=24)

META = DetectorMeta(
    id="console-takeover-sequence",
    title="Console password set by someone else, then used",
    severity=Severity.CRITICAL,
    description=(
        "a console password created or reset for an IAM user by someone else (CreateLoginProfile, "
        "UpdateLoginProfile), then a successful console sign-in as that user within 24 hours, "
        "whatever order the events arrive in; one finding linking the two"
    ),
    severity_rules="Always critical.",
    next_step="Reach the user out of band: if they did not sign in, delete the password and "
    "quarantine the user, then review the session.",
    asff_type="TTPs/Initial Access",
    attack_techniques=("T1098", "T1078.004"),
    events={
        IAM: frozenset({"CreateLoginProfile", "UpdateLoginProfile"}),
        SIGNIN: frozenset({"ConsoleLogin"}),
    },
    remediation_actions=("delete-login-profile", "quarantine-user"),
    enrichment_permissions=("iam:ListMFADevices", "iam:GetLoginProfile"),
    recommendation=(
        "People should sign in through IAM Identity Center, where a password reset goes through "
        "the person's verified recovery and MFA, not through an administrator."
    ),
    stateful=True,
)

LOGIN_PROFILE_SET = "password"


def _step(record: CloudTrailRecord) -> PairStep | None:
    """(user, role, summary, detector) when the event is a step of a takeover."""
    if record.event_source == SIGNIN:
        principal = record.principal
        if (
            record.console_login_result != "Success"
            or principal.kind is not PrincipalKind.IAM_USER
            or principal.name is None
        ):
            return None
        without = (record.extra.get_str("MFAUsed") or "").strip().lower() == "no"
        summary = f"console sign-in {'without' if without else 'with'} MFA {where(record)}"
        # Only a sign-in without MFA is a finding of its own.
        member = console_login_without_mfa.META.id if without else None
        return principal.name, SIGN_IN, summary, member
    user = target_user(record)
    if user is None or not console_password_reset.is_someone_else(record, user):
        return None
    if record.event_name == "CreateLoginProfile":
        summary = f"console password created by {who(record)}"
        return user, LOGIN_PROFILE_SET, summary, console_password_created.META.id
    summary = f"console password reset by {who(record)}"
    return user, LOGIN_PROFILE_SET, summary, console_password_reset.META.id


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    yield from then_sign_in(
        META.id, record, context, _step(record), LOGIN_PROFILE_SET, WINDOW, _summary
    )


def _summary(user: str, account: str | None, password: Step, sign_in: Step) -> str:
    return (
        f"The console password of IAM user {user} was set by someone else, then used to sign "
        f"in {span(password.at, sign_in.at)} later in account {account or '(unknown)'}: "
        f"{password.summary}; {sign_in.summary}."
    )
