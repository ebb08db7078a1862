"""console-takeover-sequence: someone else set an IAM user's console password, then somebody
signed in to the console as that user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from detectors import console_login_without_mfa, console_password_created, console_password_reset
from detectors._common import IAM, SIGNIN, target_user, where, who
from detectors._sequence import Step, completed, note_step, span, subject_key
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

PASSWORD, SIGN_IN = "password", "sign-in"


def _step(record: CloudTrailRecord) -> tuple[str, str, str, str | None] | None:
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
        return user, PASSWORD, summary, console_password_created.META.id
    summary = f"console password reset by {who(record)}"
    return user, PASSWORD, summary, console_password_reset.META.id


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    found = _step(record)
    if found is None:
        return
    user, role, summary, member = found
    account = record.account_id
    key = subject_key(META.id, account, user)
    current = note_step(context, key, record, role, summary, detector=member, keep=WINDOW)
    for password, (sign_in,) in completed(context, key, current, WINDOW, PASSWORD, (SIGN_IN,)):
        yield _hit(account, user, password, sign_in)


def _hit(account: str | None, user: str, password: Step, sign_in: Step) -> Hit:
    return Hit(
        summary=f"The console password of IAM user {user} was set by someone else, then used "
        f"to sign in {span(password.at, sign_in.at)} later in account {account or '(unknown)'}: "
        f"{password.summary}; {sign_in.summary}.",
        target=user,
        target_type="iam-user",
        dedup_key=f"{META.id}:{account or '-'}:{user}",
        details={"userName": user},
        identity=password.event_id,
        links=(password.link(), sign_in.link()),
        event=sign_in.ref,
    )
