"""permissions-boundary-removed: the cap on what a user or role can do was lifted."""

from collections.abc import Iterator

from detectors._common import IAM, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="permissions-boundary-removed",
    title="Permissions boundary removed",
    severity=Severity.HIGH,
    description="iam Delete{User,Role}PermissionsBoundary",
    severity_rules="Always high.",
    next_step="Restore the boundary unless its removal was approved, then review recent grants.",
    asff_type="TTPs/Privilege Escalation",
    attack_techniques=("T1098.003",),
    events={IAM: frozenset({"DeleteUserPermissionsBoundary", "DeleteRolePermissionsBoundary"})},
    remediation_actions=("quarantine-user",),
    enrichment_permissions=("iam:GetUser", "iam:ListUserTags"),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    if record.event_name == "DeleteUserPermissionsBoundary":
        target, target_type = record.request.get_str("userName"), "iam-user"
    else:
        target, target_type = record.request.get_str("roleName"), "iam-role"
    yield Hit(
        summary=f"{who(record)} removed the permissions boundary of {target_type} "
        f"{target or '(unknown)'} {where(record)}.",
        target=target,
        target_type=target_type,
    )
