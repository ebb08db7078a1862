"""console-password-created: an IAM user was given a console password."""

from collections.abc import Iterator

from detectors._common import IAM, target_user, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="console-password-created",
    title="Console password created for an IAM user",
    severity=Severity.MEDIUM,
    description="iam CreateLoginProfile",
    severity_rules="Always medium.",
    next_step="Move the person to IAM Identity Center, or make sure the user has MFA.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1098.001",),
    events={IAM: frozenset({"CreateLoginProfile"})},
    remediation_actions=("delete-login-profile", "quarantine-user"),
    enrichment_permissions=("iam:ListMFADevices", "iam:ListUserTags"),
    recommendation=(
        "People should sign in through IAM Identity Center (SSO with MFA at the identity "
        "provider) rather than with IAM user passwords."
    ),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    user = target_user(record)
    reset = record.request.get_bool("passwordResetRequired")
    yield Hit(
        summary=f"{who(record)} created a console password for IAM user {user or '(unknown)'} "
        f"{where(record)}" + (" (password reset required at first sign-in)." if reset else "."),
        target=user,
        target_type="iam-user",
    )
