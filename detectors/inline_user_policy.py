"""inline-user-policy: a policy was embedded directly in an IAM user."""

from collections.abc import Iterator

from detectors._common import IAM, target_user, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="inline-user-policy",
    title="Inline policy put on an IAM user",
    severity=Severity.LOW,
    description="iam PutUserPolicy",
    severity_rules="Always low; an inline policy granting admin also raises admin-policy-attached.",
    next_step="Move the permissions to a group or managed policy and delete the inline policy.",
    asff_type="Software and Configuration Checks/AWS Security Best Practices",
    attack_techniques=("T1098.003",),
    events={IAM: frozenset({"PutUserPolicy"})},
    enrichment_permissions=("iam:ListUserTags", "iam:ListGroupsForUser"),
    recommendation=(
        "Grant permissions through groups or managed policies (or, better, Identity Center "
        "permission sets and roles) so they can be reviewed in one place."
    ),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    user = target_user(record)
    policy_name = record.request.get_str("policyName")
    yield Hit(
        summary=f"{who(record)} put inline policy {policy_name or '(unnamed)'} on IAM user "
        f"{user or '(unknown)'} {where(record)}.",
        target=user,
        target_type="iam-user",
        details={"policyName": policy_name} if policy_name else {},
    )
