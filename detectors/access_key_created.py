"""access-key-created: a long-lived access key was minted."""

from collections.abc import Iterator

from detectors._common import IAM, acting_user_name, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.principal import PrincipalKind
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="access-key-created",
    title="Access key created",
    severity=Severity.MEDIUM,
    description="iam CreateAccessKey",
    severity_rules=(
        "Medium when a user creates a key for itself; high when made for another user; "
        "critical when root creates it."
    ),
    next_step="Find out where the key will be used and replace it with a role if you can.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1098.001",),
    events={IAM: frozenset({"CreateAccessKey"})},
    remediation_actions=("deactivate-access-key", "quarantine-user"),
    enrichment_permissions=(
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:ListUserTags",
        "iam:GetLoginProfile",
        "iam:ListMFADevices",
        "iam:ListGroupsForUser",
        "iam:GetUser",
    ),
    recommendation=(
        "Workloads in AWS should use IAM roles, outside AWS IAM Roles Anywhere, and people "
        "IAM Identity Center with short-lived credentials, instead of long-lived access keys."
    ),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    own_name = acting_user_name(record)
    requested = record.request.get_str("userName")
    key_user = requested or record.response.get_str("accessKey", "userName") or own_name
    key_id = record.response.get_str("accessKey", "accessKeyId")
    kind = record.principal.kind
    if kind is PrincipalKind.ROOT:
        severity = Severity.CRITICAL
        whose = f"for IAM user {key_user}" if requested else "for the root user itself"
    elif own_name is not None and key_user == own_name:
        severity = Severity.MEDIUM
        whose = "for itself"
    else:
        severity = Severity.HIGH
        whose = f"for another user, {key_user or '(unknown)'}"
    target = key_user if requested or kind is not PrincipalKind.ROOT else "root"
    details = {"accessKeyId": key_id} if key_id else {}
    # The inventory says what the key's owner is: a key for a person is the wrong tool (they
    # belong in Identity Center), a key for a program should become a role.
    known = (
        context.inventory.lookup(record.account_id, key_user, record.event_time)
        if key_user and target != "root"
        else None
    )
    whom = ""
    if known is not None:
        details["userKind"] = known.kind
        details["inventoryRecommendation"] = known.recommendation
        whom = f" The inventory knows {key_user} as {_KINDS.get(known.kind, known.kind)}."
    yield Hit(
        summary=f"{who(record)} created access key {key_id or '(id not logged)'} {whose} "
        f"{where(record)}.{whom}",
        target=target,
        target_type="iam-user" if target != "root" else "root",
        severity=severity,
        details=details,
    )


_KINDS = {
    "human": "a person (who belongs in IAM Identity Center, not on an access key)",
    "workload": "a program (which should use an IAM role, or Roles Anywhere outside AWS)",
    "mixed": "a person and a program sharing one identity",
    "dormant": "dormant (unused: why does it need a key now?)",
}
