"""ASFF export: each finding in the AWS Security Finding Format, as Security Hub's
BatchImportFindings takes it from a custom integration (``product/<account>/default``).

``Id`` is the finding id, so importing a finding again updates the same Security Hub finding;
``UpdatedAt`` is the latest audit time (raise or delivery), so exports stay byte-stable. Every
finding is checked against the AwsSecurityFinding shape of botocore's Security Hub model
(required and unknown attributes, types, enums) before it is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from iamwatch.severity import Severity

if TYPE_CHECKING:
    from botocore.model import Shape

    from iamwatch.export import ExportedFinding
    from iamwatch.finding import Finding

SCHEMA_VERSION = "2018-10-08"
LABELS = {
    Severity.INFO: "INFORMATIONAL",
    Severity.LOW: "LOW",
    Severity.MEDIUM: "MEDIUM",
    Severity.HIGH: "HIGH",
    Severity.CRITICAL: "CRITICAL",
}
# target_type -> (ASFF resource type, the Details attribute naming it); targets are names,
# and an ARN is not made up from them (an IAM path would be missing).
RESOURCE_TYPES = {
    "iam-user": ("AwsIamUser", "UserName"),
    "iam-role": ("AwsIamRole", "RoleName"),
    "trail": ("AwsCloudTrailTrail", None),
}
# Security Hub's documented limits, which botocore's model does not carry.
MAX_TITLE, MAX_DESCRIPTION, MAX_RECOMMENDATION, MAX_FIELD = 256, 1024, 512, 2048


class AsffError(ValueError):
    """A finding cannot be expressed in ASFF, or the mapping made an invalid one (a bug)."""


def product_arn(region: str, account: str) -> str:
    """The custom-integration product every account has in every region."""
    return f"arn:aws:securityhub:{region}:{account}:product/{account}/default"


def finding_type(finding: Finding) -> str:
    """The ASFF type, namespace/category/classifier: the namespace and category its detector
    declares, and the detector id as classifier; for the inventory's posture findings, the
    configuration-check type with the check as classifier. A detector that is not registered
    (a finding from a detector since removed) has none: refused rather than guessed."""
    from detectors import REGISTRY
    from iamwatch.inventory.checks import POSTURE, POSTURE_ASFF_TYPE

    detector = finding.detector
    if detector == POSTURE:
        return f"{POSTURE_ASFF_TYPE}/{finding.event_name}"
    if detector not in REGISTRY:
        raise AsffError(f"no detector {detector!r} is registered, so it has no finding type")
    return f"{REGISTRY.get(detector).meta.asff_type}/{detector}"


def attack_techniques(detector: str) -> tuple[str, ...]:
    """The MITRE ATT&CK techniques the finding's detector declares."""
    from detectors import REGISTRY

    return REGISTRY.get(detector).meta.attack_techniques if detector in REGISTRY else ()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _resource(row: ExportedFinding, account: str) -> dict[str, Any]:
    finding = row.finding
    partition_region: dict[str, Any] = {"Partition": "aws"}
    if finding.region:
        partition_region["Region"] = finding.region
    kind = RESOURCE_TYPES.get(finding.target_type or "")
    if finding.target and kind is not None:
        resource_type, name_attribute = kind
        resource: dict[str, Any] = {"Type": resource_type, "Id": finding.target}
        if name_attribute:
            resource["Details"] = {resource_type: {name_attribute: finding.target}}
        return resource | partition_region
    if finding.target and finding.target_type not in {"root", "account"}:
        return {
            "Type": "Other",
            "Id": _clip(finding.target, 512),
            "Details": {"Other": {"target_type": finding.target_type or "unknown"}},
        } | partition_region
    return {"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"} | partition_region


def to_asff(
    row: ExportedFinding, product_region: str | None = None, product_account: str | None = None
) -> dict[str, Any]:
    """The finding as ASFF. The product is the importing account's custom integration; by
    default the account and region the finding is about, where it can be imported."""
    finding = row.finding
    account = finding.account or product_account
    if not account:
        raise AsffError(f"finding {finding.finding_id} names no AWS account")
    region = product_region or finding.region or "us-east-1"
    updated = max(row.raised_at, row.delivery_at or row.raised_at)
    fields = {
        "iamwatch/detector": finding.detector,
        "iamwatch/event_id": finding.event_id,
        "iamwatch/event_name": finding.event_name,
        "iamwatch/event_source": finding.event_source,
        "iamwatch/actor": finding.actor,
        "iamwatch/actor_kind": finding.actor_kind.value,
        "iamwatch/dedup_key": finding.dedup_key,
        "iamwatch/delivery_status": row.delivery_status,
        "iamwatch/region": finding.region,
        "iamwatch/source_ip": finding.source_ip,
        # ASFF has no ATT&CK attribute of its own (its types carry only the tactic).
        "iamwatch/attack_techniques": ",".join(attack_techniques(finding.detector)),
    }
    asff: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding.finding_id,
        "ProductArn": product_arn(region, product_account or account),
        "ProductName": "iamwatch",
        "CompanyName": "iamwatch",
        "GeneratorId": f"iamwatch/{finding.detector}",
        "AwsAccountId": account,
        "Types": [finding_type(finding)],
        "FirstObservedAt": _time(finding.event_time),
        "LastObservedAt": _time(finding.event_time),
        "CreatedAt": _time(row.raised_at),
        "UpdatedAt": _time(updated),
        "Severity": {"Label": LABELS[finding.severity], "Original": finding.severity.value},
        "Title": _clip(finding.title, MAX_TITLE),
        "Description": _clip(finding.summary, MAX_DESCRIPTION),
        "Remediation": {
            "Recommendation": {
                "Text": _clip(
                    " ".join(p for p in (finding.next_step, finding.recommendation) if p),
                    MAX_RECOMMENDATION,
                ),
                "Url": finding.runbook_url,
            }
        },
        "SourceUrl": finding.runbook_url,
        "ProductFields": {k: _clip(v, MAX_FIELD) for k, v in fields.items() if v},
        "Resources": [_resource(row, account)],
        "Workflow": {"Status": "SUPPRESSED" if row.delivery_status == "suppressed" else "NEW"},
        "RecordState": "ACTIVE",
    }
    linked = [link.finding_id for link in finding.links if link.finding_id]
    if linked:
        # A sequence points to the findings of the events it links, in the same product.
        product = asff["ProductArn"]
        asff["RelatedFindings"] = [{"ProductArn": product, "Id": i} for i in linked[:10]]
        times = [link.event_time for link in finding.links]
        asff["FirstObservedAt"], asff["LastObservedAt"] = _time(min(times)), _time(max(times))
    if finding.source_ip:
        try:
            address = ipaddress.ip_address(finding.source_ip)
        except ValueError:
            pass  # an AWS service's name, kept in ProductFields
        else:
            key = "SourceIpV4" if address.version == 4 else "SourceIpV6"
            asff["Network"] = {"Direction": "IN", key: str(address)}
    return asff


@lru_cache(maxsize=1)
def _finding_shape() -> Shape:
    import botocore.session

    model = botocore.session.get_session().get_service_model("securityhub")
    return model.shape_for("AwsSecurityFinding")


def _enum_problems(value: Any, shape: Shape, path: str) -> Iterator[str]:
    """botocore checks types and required members but not enums; Security Hub does."""
    from botocore.model import ListShape, StringShape, StructureShape

    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _enum_problems(value[name], member, f"{path}/{name}")
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _enum_problems(item, shape.member, f"{path}/{index}")
    elif isinstance(shape, StringShape) and shape.enum and value not in shape.enum:
        yield f"{path}: {value!r} is not one of {shape.enum}"


def problems(asff: dict[str, Any]) -> list[str]:
    """Every way ``asff`` departs from the AwsSecurityFinding shape; empty when valid."""
    from botocore.validate import ParamValidator

    shape = _finding_shape()
    report = ParamValidator().validate(asff, shape)
    found = report.generate_report().splitlines() if report.has_errors() else []
    return found + list(_enum_problems(asff, shape, ""))


def checked(
    row: ExportedFinding, product_region: str | None = None, product_account: str | None = None
) -> dict[str, Any]:
    """``to_asff``, refused (a mapping bug, never data) unless it is a valid finding."""
    asff = to_asff(row, product_region, product_account)
    found = problems(asff)
    if found:
        raise AsffError(f"{row.finding.finding_id}: " + "; ".join(found))
    return asff


def render_asff(rows: Iterable[ExportedFinding]) -> bytes:
    """One ASFF finding per line, each for the account and region it is about."""
    return b"".join(orjson.dumps(checked(row)) + b"\n" for row in rows)
