"""identity-center-admin-assignment: admin power granted through IAM Identity Center."""

from collections.abc import Iterator

from detectors._common import IDENTITY_CENTER, state_key, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.policy import admin_managed_policy_name, grants_admin
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="identity-center-admin-assignment",
    title="Identity Center admin permission set granted",
    severity=Severity.HIGH,
    description=(
        "a permission set given AdministratorAccess/IAMFullAccess or an inline `*` on `*`; an "
        "account assignment of such a permission set"
    ),
    severity_rules="Always high.",
    next_step="Confirm the assignment was approved and is time-bound; remove it otherwise.",
    asff_type="TTPs/Privilege Escalation",
    attack_techniques=("T1098.003",),
    events={
        IDENTITY_CENTER: frozenset(
            {
                "AttachManagedPolicyToPermissionSet",
                "PutInlinePolicyToPermissionSet",
                "CreateAccountAssignment",
            }
        )
    },
    stateful=True,
)


def _admin_key(permission_set_arn: str) -> str:
    return state_key(f"{META.id}:admin-permission-set:{permission_set_arn}")


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    request = record.request
    permission_set = request.get_str("permissionSetArn")
    if permission_set is None:
        return
    if record.event_name == "CreateAccountAssignment":
        granted = context.state.recall(_admin_key(permission_set))
        if granted is None:
            return
        principal = f"{request.get_str('principalType') or 'principal'} "
        principal += request.get_str("principalId") or "(unknown)"
        account = request.get_str("targetId") or "(unknown)"
        yield Hit(
            summary=f"{who(record)} assigned admin permission set {permission_set} ({granted}) "
            f"to {principal} in account {account}"
            + (f", from {record.source_ip_address}." if record.source_ip_address else "."),
            target=principal,
            target_type="identity-center-principal",
            details={"permissionSetArn": permission_set, "targetAccount": account},
        )
        return
    if record.event_name == "AttachManagedPolicyToPermissionSet":
        granted = admin_managed_policy_name(request.get_str("managedPolicyArn"))
    else:
        granted = "inline * on *" if grants_admin(request.get_raw("inlinePolicy")) else None
    if granted is None:
        return
    context.state.remember(_admin_key(permission_set), granted)
    yield Hit(
        summary=f"{who(record)} gave permission set {permission_set} {granted} {where(record)}.",
        target=permission_set,
        target_type="permission-set",
        details={"permissionSetArn": permission_set},
    )
