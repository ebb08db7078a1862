"""user-added-to-group: an IAM user gained a group's permissions."""

from collections.abc import Iterator

from detectors._common import IAM, looks_administrative, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="user-added-to-group",
    title="IAM user added to a group",
    severity=Severity.LOW,
    description="iam AddUserToGroup",
    severity_rules="Low; high when the group's name looks administrative.",
    next_step="Check the group's policies and confirm the membership was requested.",
    asff_type="TTPs/Privilege Escalation",
    attack_techniques=("T1098.003",),
    events={IAM: frozenset({"AddUserToGroup"})},
    remediation_actions=("remove-from-group",),
    enrichment_permissions=("iam:ListGroupsForUser", "iam:ListUserTags"),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    group = record.request.get_str("groupName")
    user = record.request.get_str("userName")
    administrative = looks_administrative(group)
    yield Hit(
        summary=f"{who(record)} added IAM user {user or '(unknown)'} to "
        f"{'administrative-looking ' if administrative else ''}group {group or '(unknown)'} "
        f"{where(record)}.",
        target=user,
        target_type="iam-user",
        severity=Severity.HIGH if administrative else Severity.LOW,
        details={"groupName": group} if group else {},
    )
