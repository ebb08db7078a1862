"""mfa-device-removed: an MFA device was deactivated or deleted.

A virtual device's name (the end of its serial ARN) is free text its creator chose, so it never
says whose device it was: anyone allowed to manage their own devices can name one after the
break-glass user. The owner is taken only from IAM: ``DeactivateMFADevice`` names the user (IAM
checks the device is theirs), and an assigned device must be deactivated before it can be
deleted, so the deactivation, remembered in state, names the owner of a later deletion. Without
it the target is the device itself.
"""

from collections.abc import Iterator

from detectors._common import IAM, state_key, target_user, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity
from iamwatch.text import clip, encodable

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
    stateful=True,
)


def _owner_key(record: CloudTrailRecord, serial: str) -> str:
    return state_key(f"{META.id}:owner:{record.account_id or '-'}:{serial}")


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    serial = record.request.get_str("serialNumber")
    if record.event_name == "DeactivateMFADevice":
        user = target_user(record)
        if user and serial:
            # Stored as every store can encode it (a forged file may hold lone surrogates).
            context.state.remember(_owner_key(record, serial), clip(encodable(user)))
        action = "deactivated MFA device"
    else:
        # DeleteVirtualMFADevice takes only the serial number: never read a user out of it.
        user = context.state.recall(_owner_key(record, serial)) if serial else None
        action = "deleted virtual MFA device"
    yield Hit(
        summary=f"{who(record)} {action} {serial or '(unknown)'}"
        + (f" of IAM user {user}" if user else "")
        + f" {where(record)}.",
        target=user or serial,
        target_type="iam-user" if user else "mfa-device",
        details={"serialNumber": serial} if serial else {},
    )
