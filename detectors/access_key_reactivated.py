"""access-key-reactivated: an inactive access key was switched back on."""

from collections.abc import Iterator

from detectors._common import IAM, target_user, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="access-key-reactivated",
    title="Access key reactivated",
    severity=Severity.MEDIUM,
    description="iam UpdateAccessKey to Active",
    severity_rules="Always medium.",
    next_step="Find out why the key was deactivated and who needs it back; prefer a role.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1098.001",),
    events={IAM: frozenset({"UpdateAccessKey"})},
    remediation_actions=("deactivate-access-key", "quarantine-user"),
    enrichment_permissions=("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"),
    event_pattern_detail={"requestParameters": {"status": [{"equals-ignore-case": "active"}]}},
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    status = record.request.get_str("status")
    if status is None or status.strip().lower() != "active":
        return
    user = target_user(record)
    key_id = record.request.get_str("accessKeyId")
    yield Hit(
        summary=f"{who(record)} reactivated access key {key_id or '(unknown)'} of IAM user "
        f"{user or '(unknown)'} {where(record)}.",
        target=user,
        target_type="iam-user",
        details={"accessKeyId": key_id} if key_id else {},
    )
