"""console-password-reset: someone changed another IAM user's console password."""

from collections.abc import Iterator

from detectors._common import IAM, acting_user_name, target_user, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="console-password-reset",
    title="Console password of another IAM user reset",
    severity=Severity.HIGH,
    description="iam UpdateLoginProfile on another user (self-service password changes are not "
    "findings)",
    severity_rules="Always high.",
    next_step="Ask the user whether they asked for the reset; if not, treat the user as taken "
    "over: delete the password and review its sign-ins.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1098",),
    events={IAM: frozenset({"UpdateLoginProfile"})},
    remediation_actions=("delete-login-profile", "quarantine-user"),
    enrichment_permissions=("iam:ListMFADevices", "iam:ListUserTags"),
    recommendation=(
        "People should sign in through IAM Identity Center, where resets go through the "
        "identity provider's verified recovery, not through IAM user passwords."
    ),
)


def is_someone_else(record: CloudTrailRecord, user: str | None) -> bool:
    """Whether the caller is not the user whose password it set (an IAM user changing its own
    password is self-service; anyone else, root included, is resetting it)."""
    own = acting_user_name(record)
    return user is not None and (own is None or own != user)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    user = target_user(record)
    if not is_someone_else(record, user):
        return
    reset = record.request.get_bool("passwordResetRequired")
    yield Hit(
        summary=f"{who(record)} reset the console password of IAM user {user} {where(record)}"
        + (" (a new password is required at next sign-in)." if reset else "."),
        target=user,
        target_type="iam-user",
        details={"passwordResetRequired": str(bool(reset)).lower()},
    )
