"""admin-policy-attached: a user, group or role was given administrator power."""

from collections.abc import Iterator

from detectors._common import IAM, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.policy import admin_managed_policy_name, grants_admin
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

_ATTACH = frozenset({"AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy"})
_PUT_INLINE = frozenset({"PutUserPolicy", "PutGroupPolicy", "PutRolePolicy"})

META = DetectorMeta(
    id="admin-policy-attached",
    title="Administrator policy granted",
    severity=Severity.HIGH,
    description=(
        "Attach{User,Group,Role}Policy of the AWS managed AdministratorAccess or IAMFullAccess "
        "(not a customer policy of that name); Put{User,Group,Role}Policy allowing `*` (or "
        "`iam:*`) on `*`"
    ),
    severity_rules="Always high.",
    next_step="Confirm the grant was approved; if not, detach it and review what was done with it.",
    asff_type="TTPs/Privilege Escalation",
    attack_techniques=("T1098.003",),
    events={IAM: _ATTACH | _PUT_INLINE},
    remediation_actions=("detach-policy", "quarantine-user"),
    enrichment_permissions=(
        "iam:ListUserTags",
        "iam:ListMFADevices",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
    ),
    recommendation=(
        "Grant administrator access through an Identity Center permission set assigned for a "
        "limited time, not by attaching admin policies to IAM users, groups or roles."
    ),
)

_TARGETS = (("userName", "iam-user"), ("groupName", "iam-group"), ("roleName", "iam-role"))


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    if record.event_name in _ATTACH:
        policy_arn = record.request.get_str("policyArn")
        granted = admin_managed_policy_name(policy_arn)
        details = {"policyArn": policy_arn} if policy_arn else {}
    else:
        granted = (
            "an inline policy allowing * on *"
            if grants_admin(record.request.get_raw("policyDocument"))
            else None
        )
        policy_name = record.request.get_str("policyName")
        details = {"policyName": policy_name} if policy_name else {}
    if granted is None:
        return
    target, target_type = next(
        ((name, kind) for key, kind in _TARGETS if (name := record.request.get_str(key))),
        (None, None),
    )
    yield Hit(
        summary=f"{who(record)} granted {granted} to {target_type or 'a principal'} "
        f"{target or '(unknown)'} {where(record)}.",
        target=target,
        target_type=target_type,
        details=details,
    )
