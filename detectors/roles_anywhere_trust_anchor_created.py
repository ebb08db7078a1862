"""roles-anywhere-trust-anchor-created: a certificate authority outside AWS was trusted (or
re-trusted) to hand out role credentials through IAM Roles Anywhere."""

from collections.abc import Iterator

from detectors._common import ROLES_ANYWHERE, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

_ANCHOR_VERBS = {
    "CreateTrustAnchor": "created Roles Anywhere trust anchor",
    "UpdateTrustAnchor": "changed Roles Anywhere trust anchor",
    "EnableTrustAnchor": "enabled Roles Anywhere trust anchor",
}
_PROFILE_VERBS = {
    "CreateProfile": "created Roles Anywhere profile",
    "UpdateProfile": "changed the roles of Roles Anywhere profile",
}

META = DetectorMeta(
    id="roles-anywhere-trust-anchor-created",
    title="Roles Anywhere trust anchor created",
    severity=Severity.HIGH,
    description=(
        "rolesanywhere CreateTrustAnchor, UpdateTrustAnchor, EnableTrustAnchor; CreateProfile "
        "and UpdateProfile naming roles (a new CA trusted for long-lived access from outside "
        "AWS)"
    ),
    severity_rules="Always high.",
    next_step="Find out whose CA this is and which workloads need it; disable the trust anchor "
    "if nobody owns it.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1098", "T1556"),
    events={ROLES_ANYWHERE: frozenset(_ANCHOR_VERBS) | frozenset(_PROFILE_VERBS)},
    remediation_actions=("disable-trust-anchor",),
    recommendation=(
        "Keep Roles Anywhere trust anchors to a reviewed private CA, created through "
        "infrastructure code, with profiles limited to the roles the workloads need."
    ),
)


def _anchor(record: CloudTrailRecord) -> tuple[str | None, str | None]:
    response = record.response
    anchor_id = record.request.get_str("trustAnchorId") or response.get_str(
        "trustAnchor", "trustAnchorId"
    )
    name = response.get_str("trustAnchor", "name") or record.request.get_str("name")
    return anchor_id, name


def _source(record: CloudTrailRecord) -> str | None:
    source = record.request.get_params("source")
    if not source:
        source = record.response.get_params("trustAnchor", "source")
    kind = source.get_str("sourceType")
    authority = source.get_str("sourceData", "acmPcaArn")
    if kind and authority:
        return f"{kind} {authority}"
    return kind


def _roles(record: CloudTrailRecord) -> list[str]:
    roles = record.request.get_list("roleArns") or record.response.get_list("profile", "roleArns")
    return [role for role in roles if isinstance(role, str)]


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    if record.event_name in _PROFILE_VERBS:
        roles = _roles(record)
        if not roles:
            return
        profile = record.response.get_str("profile", "name") or record.request.get_str("name")
        profile_id = record.request.get_str("profileId") or record.response.get_str(
            "profile", "profileId"
        )
        yield Hit(
            summary=f"{who(record)} {_PROFILE_VERBS[record.event_name]} "
            f"{profile or profile_id or '(unnamed)'} for roles {', '.join(roles)} {where(record)}.",
            target=profile_id or profile,
            target_type="roles-anywhere-profile",
            details={"roleArns": ", ".join(roles)}
            | ({"profileId": profile_id} if profile_id else {}),
        )
        return
    anchor_id, name = _anchor(record)
    source = _source(record)
    details = {"trustAnchorId": anchor_id} if anchor_id else {}
    if source:
        details["source"] = source
    if record.event_name == "CreateTrustAnchor" and record.request.get_bool("enabled") is False:
        details["enabled"] = "false"
    yield Hit(
        summary=f"{who(record)} {_ANCHOR_VERBS[record.event_name]} "
        f"{name or anchor_id or '(unnamed)'}"
        + (f" ({source})" if source else "")
        + f" {where(record)}.",
        target=anchor_id or name,
        target_type="trust-anchor",
        details=details,
    )
