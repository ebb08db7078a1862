"""mfa-device-removed: an MFA device was deactivated or deleted."""

from collections.abc import Iterator

from detectors._common import IAM, target_user, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="mfa-device-removed",
    title="MFA device removed",
    severity=Severity.HIGH,
    description="iam DeactivateMFADevice, DeleteVirtualMFADevice",
    severity_rules="Always high.",
    next_step="Ask the user whether they removed it; if not, treat the account as compromised.",
    asff_type="TTPs/Defense Evasion",
    attack_techniques=("T1556.006",),
    events={IAM: frozenset({"DeactivateMFADevice", "DeleteVirtualMFADevice"})},
    remediation_actions=("delete-login-profile", "quarantine-user"),
    enrichment_permissions=("iam:ListMFADevices", "iam:GetLoginProfile"),
)


def _user_from_serial(serial: str | None) -> str | None:
    # Virtual devices are arn:aws:iam::<account>:mfa/<name>, usually named after the user.
    if serial and ":mfa/" in serial:
        return serial.rsplit("/", 1)[-1] or None
    return None


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    serial = record.request.get_str("serialNumber")
    if record.event_name == "DeactivateMFADevice":
        user = target_user(record)
        action = "deactivated MFA device"
    else:
        user = record.request.get_str("userName") or _user_from_serial(serial)
        action = "deleted virtual MFA device"
    yield Hit(
        summary=f"{who(record)} {action} {serial or '(unknown)'}"
        + (f" of IAM user {user}" if user else "")
        + f" {where(record)}.",
        target=user or serial,
        target_type="iam-user" if user else "mfa-device",
        details={"serialNumber": serial} if serial else {},
    )
