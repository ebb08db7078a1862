"""console-login-without-mfa: an IAM user or root signed in to the console with a password only."""

from collections.abc import Iterator

from detectors._common import SIGNIN, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.principal import PrincipalKind
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="console-login-without-mfa",
    title="Console sign-in without MFA",
    severity=Severity.HIGH,
    description=(
        'ConsoleLogin success with MFAUsed "No" (any case) by an IAM user or root; Identity '
        "Center, SAML and web-identity sessions are excluded"
    ),
    severity_rules="High for an IAM user; critical for root.",
    next_step="Confirm the sign-in with its owner, then require MFA on that identity.",
    asff_type="Software and Configuration Checks/AWS Security Best Practices",
    attack_techniques=("T1078.004",),
    events={SIGNIN: frozenset({"ConsoleLogin"})},
    remediation_actions=("delete-login-profile", "quarantine-user"),
    enrichment_permissions=("iam:ListMFADevices", "iam:GetLoginProfile", "iam:ListUserTags"),
    event_pattern_detail={
        "responseElements": {"ConsoleLogin": ["Success"]},
        "additionalEventData": {
            "MFAUsed": [{"equals-ignore-case": "no"}],
        },
        "userIdentity": {"type": ["IAMUser", "Root"]},
    },
)

# Identity Center, SAML and web-identity sessions log MFAUsed "No" because MFA happened at
# the identity provider, so only principals that sign in with an IAM password count.
_PASSWORD_PRINCIPALS = {
    PrincipalKind.IAM_USER: Severity.HIGH,
    PrincipalKind.ROOT: Severity.CRITICAL,
}


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.console_login_result != "Success" or record.error_code is not None:
        return
    mfa_used = record.extra.get_str("MFAUsed")
    if mfa_used is None or mfa_used.strip().lower() != "no":
        return
    severity = _PASSWORD_PRINCIPALS.get(record.principal.kind)
    if severity is None:
        return
    name = record.principal.display
    yield Hit(
        summary=f"{who(record)} signed in to the AWS console without MFA {where(record)}.",
        target=name,
        target_type="root" if record.principal.kind is PrincipalKind.ROOT else "iam-user",
        severity=severity,
    )
