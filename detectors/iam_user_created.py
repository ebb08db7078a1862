"""iam-user-created: a new long-lived IAM identity exists."""

from collections.abc import Iterator

from detectors._common import IAM, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="iam-user-created",
    title="IAM user created",
    severity=Severity.MEDIUM,
    description="iam CreateUser",
    severity_rules="Always medium.",
    next_step="Confirm who owns the new user and why a role or Identity Center user won't do.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1136.003",),
    events={IAM: frozenset({"CreateUser"})},
    remediation_actions=("quarantine-user",),
    enrichment_permissions=("iam:GetUser", "iam:ListUserTags", "iam:ListGroupsForUser"),
    recommendation=(
        "People belong in IAM Identity Center and workloads in IAM roles (IAM Roles Anywhere "
        "outside AWS); an IAM user should be a documented exception such as break-glass."
    ),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    user = record.request.get_str("userName") or record.response.get_str("user", "userName")
    yield Hit(
        summary=f"{who(record)} created IAM user {user or '(unnamed)'} {where(record)}.",
        target=user,
        target_type="iam-user",
        details={"userArn": arn} if (arn := record.response.get_str("user", "arn")) else {},
    )
