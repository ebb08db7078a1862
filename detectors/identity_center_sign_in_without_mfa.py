"""identity-center-sign-in-without-mfa: a person signed in to IAM Identity Center with a
password alone."""

from collections.abc import Iterator

from detectors._common import SIGNIN, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.principal import PrincipalKind
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="identity-center-sign-in-without-mfa",
    title="Identity Center sign-in without MFA",
    severity=Severity.HIGH,
    description=(
        "signin `UserAuthentication` success (Identity Center) whose `CredentialType` holds no "
        "second factor (`PASSWORD` alone); not `EXTERNAL_IDP` (MFA is the identity provider's), "
        "not failed sign-ins"
    ),
    severity_rules=(
        "High; low when the sign-in made the person enrol an MFA device "
        "(`DeviceEnrollmentRequired`)."
    ),
    next_step="Confirm the sign-in with the person, then require MFA at every Identity Center "
    "sign-in.",
    asff_type="Software and Configuration Checks/AWS Security Best Practices",
    attack_techniques=("T1078.004",),
    events={SIGNIN: frozenset({"UserAuthentication"})},
    recommendation=(
        "Require MFA at every sign-in in IAM Identity Center (Settings, Authentication, "
        "Multi-factor authentication: every time they sign in), or sign people in through an "
        "external identity provider that enforces it."
    ),
)

_FIRST_FACTOR = "PASSWORD"
_EXTERNAL = "EXTERNAL_IDP"


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    # A sign-in that did not complete logs no UserAuthentication success; one that reports a
    # failure (in serviceEventDetails) is failed, like any other call.
    if record.failed or record.service_event_details.get_str("UserAuthentication") is None:
        return
    credential = record.extra.get_str("CredentialType")
    factors = {part.strip().upper() for part in (credential or "").split(",") if part.strip()}
    # Nothing logged is nothing shown; an external IdP's MFA is invisible here; any factor
    # besides the password is a second one (TOTP, WEBAUTHN, ...).
    if factors != {_FIRST_FACTOR} or _EXTERNAL in factors:
        return
    enrolling = record.extra.get_bool("DeviceEnrollmentRequired") is True
    principal = record.principal
    person = principal.display if principal.kind is PrincipalKind.IDENTITY_CENTER_USER else None
    yield Hit(
        summary=f"{who(record)} signed in to IAM Identity Center with a password alone "
        f"{where(record)}"
        + (
            ", and was made to enrol an MFA device before the sign-in completed."
            if enrolling
            else "."
        ),
        target=person,
        target_type="identity-center-user",
        severity=Severity.LOW if enrolling else Severity.HIGH,
        details={
            "credentialType": credential or "",
            "deviceEnrollmentRequired": str(enrolling).lower(),
        },
    )
