"""federation-token-issued: an IAM user's long-lived key minted federation-token sessions, which
outlive the deletion of the key that minted them."""

from collections.abc import Iterator

from detectors._common import STS, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.policy import admin_managed_policy_name, grants_admin
from iamwatch.principal import PrincipalKind
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="federation-token-issued",
    title="Federation token issued to an IAM user's key",
    severity=Severity.MEDIUM,
    description="sts GetFederationToken by an IAM user (its sessions outlive the deletion of the "
    "key that minted them)",
    severity_rules="Medium; high when the session policy grants `*` (or `iam:*`) on `*`, or "
    "attaches AdministratorAccess or IAMFullAccess.",
    next_step="Ask the key's owner what the token was for; if nobody knows, deactivate the key "
    "and deny the user's sessions issued until now.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1550.001", "T1078.004"),
    events={STS: frozenset({"GetFederationToken"})},
    remediation_actions=("deactivate-access-key", "revoke-older-sessions", "quarantine-user"),
    enrichment_permissions=("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListUserTags"),
    recommendation=(
        "Give people console access through IAM Identity Center and workloads roles; nothing "
        "should need to turn an IAM user's long-lived key into federation sessions."
    ),
)


def _admin_grant(record: CloudTrailRecord) -> str | None:
    if grants_admin(record.request.get_raw("policy")):
        return "a session policy allowing * on *"
    for item in record.request.get_list("policyArns"):
        arn = item.get("arn") if isinstance(item, dict) else None
        if isinstance(arn, str) and (name := admin_managed_policy_name(arn)):
            return f"the {name} policy"
    return None


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed or record.principal.kind is not PrincipalKind.IAM_USER:
        return
    user = record.principal.name
    key_id = record.user_identity.access_key_id
    session = record.request.get_str("name")
    granted = _admin_grant(record)
    details = {"federatedUser": session or "(unnamed)"}
    if key_id:
        details["accessKeyId"] = key_id
    if duration := record.request.get_str("durationSeconds"):
        details["durationSeconds"] = duration
    if arn := record.response.get_str("federatedUser", "arn"):
        details["federatedUserArn"] = arn
    yield Hit(
        summary=f"{who(record)} used access key {key_id or '(not logged)'} to get a federation "
        f"token for session {session or '(unnamed)'}"
        + (f" with {granted}" if granted else "")
        + f" {where(record)}; deleting the key will not end that session.",
        target=user,
        target_type="iam-user",
        severity=Severity.HIGH if granted else Severity.MEDIUM,
        details=details,
    )
