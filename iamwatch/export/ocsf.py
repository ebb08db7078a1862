"""OCSF export: each finding as an OCSF 1.5.0 Detection Finding (class_uid 2004, category_uid
2, the ``cloud`` profile), one JSON event per line, each validated before it is written.

The schema comes from ``ocsf-json-schema``, which ships the OCSF schema exports for every
release and turns a class (with its profiles) into a JSON Schema (draft 2020-12, no additional
properties); ``jsonschema`` checks each event against it, offline. See docs/export.md for why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

import iamwatch
from iamwatch.principal import PrincipalKind
from iamwatch.severity import Severity

if TYPE_CHECKING:
    from iamwatch.export import ExportedFinding
    from iamwatch.finding import LinkedEvent

OCSF_VERSION = "1.5.0"
PROFILES = ("cloud",)
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1

SEVERITY_IDS = {
    Severity.INFO: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
# OCSF user type_id: 0 Unknown, 1 User, 2 Admin, 3 System, 99 Other.
USER_TYPES = {
    PrincipalKind.ROOT: (2, "Admin"),
    PrincipalKind.IAM_USER: (1, "User"),
    PrincipalKind.IDENTITY_CENTER_USER: (1, "User"),
    PrincipalKind.FEDERATED: (1, "User"),
    PrincipalKind.ASSUMED_ROLE: (99, "Assumed role"),
    PrincipalKind.AWS_SERVICE: (3, "System"),
    PrincipalKind.AWS_ACCOUNT: (99, "AWS account"),
    PrincipalKind.UNKNOWN: (0, "Unknown"),
}
ACCOUNT_TYPE_AWS = (10, "AWS Account")
# The MITRE ATT&CK tactic of each ASFF "TTPs" category: a detector's finding type names the
# tactic its techniques serve there, so each technique is exported with it.
TACTICS = {
    "Initial Access": ("TA0001", "Initial Access"),
    "Execution": ("TA0002", "Execution"),
    "Persistence": ("TA0003", "Persistence"),
    "Privilege Escalation": ("TA0004", "Privilege Escalation"),
    "Defense Evasion": ("TA0005", "Defense Evasion"),
    "Credential Access": ("TA0006", "Credential Access"),
    "Discovery": ("TA0007", "Discovery"),
    "Lateral Movement": ("TA0008", "Lateral Movement"),
    "Collection": ("TA0009", "Collection"),
    "Data Exfiltration": ("TA0010", "Exfiltration"),
    "Command and Control": ("TA0011", "Command and Control"),
    "Data Destruction": ("TA0040", "Impact"),
}
ATTACK_URL = "https://attack.mitre.org/techniques/"


class OcsfValidationError(ValueError):
    """An event does not conform to the OCSF schema: a bug in the mapping, never data."""


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def _endpoint(source: str) -> dict[str, str]:
    """CloudTrail's sourceIPAddress is an IP, or an AWS service's name when it acted."""
    try:
        return {"ip": str(ipaddress.ip_address(source))}
    except ValueError:
        return {"domain": source}


def attacks(detector: str) -> list[dict[str, Any]]:
    """The detector's declared ATT&CK techniques as OCSF attack objects (a sub-technique with
    its technique), with the tactic its ASFF finding type names; none for an unknown id."""
    from detectors import REGISTRY

    if detector not in REGISTRY:
        return []
    meta = REGISTRY.get(detector).meta
    namespace, _, category = meta.asff_type.partition("/")
    tactic = TACTICS.get(category) if namespace == "TTPs" else None
    found = []
    for technique in meta.attack_techniques:
        parent, _, sub = technique.partition(".")
        attack: dict[str, Any] = {"technique": {"uid": parent, "src_url": f"{ATTACK_URL}{parent}/"}}
        if sub:
            attack["sub_technique"] = {"uid": technique, "src_url": f"{ATTACK_URL}{parent}/{sub}/"}
        if tactic is not None:
            attack["tactic"] = {"uid": tactic[0], "name": tactic[1]}
        found.append(attack)
    return found


def _related(link: LinkedEvent) -> dict[str, Any]:
    from iamwatch.slack.render import detector_title

    related: dict[str, Any] = {
        "uid": link.finding_id or link.event_id,
        "type": "iamwatch finding" if link.finding_id else "CloudTrail event",
        "title": detector_title(link.detector) if link.detector else link.event_name,
        "desc": link.summary,
        "first_seen_time": _ms(link.event_time),
        "last_seen_time": _ms(link.event_time),
    }
    if link.finding_id:
        related["product_uid"] = link.event_id
    return related


def to_ocsf(row: ExportedFinding) -> dict[str, Any]:
    finding = row.finding
    severity_id, severity = SEVERITY_IDS[finding.severity]
    user_type_id, user_type = USER_TYPES.get(finding.actor_kind, (0, "Unknown"))
    suppressed = row.delivery_status == "suppressed"
    cloud: dict[str, Any] = {"provider": "AWS"}
    if finding.account:
        # OCSF's account needs a uid or name: a record that names no account has none.
        cloud["account"] = {
            "type_id": ACCOUNT_TYPE_AWS[0],
            "type": ACCOUNT_TYPE_AWS[1],
            "uid": finding.account,
        }
    if finding.region:
        cloud["region"] = finding.region
    user: dict[str, Any] = {
        "uid": finding.actor,
        "name": finding.actor_name,
        "type_id": user_type_id,
        "type": user_type,
    }
    evidence: dict[str, Any] = {
        "actor": {"user": user},
        "api": {"operation": finding.event_name, "service": {"name": finding.event_source}},
    }
    if finding.source_ip:
        evidence["src_endpoint"] = _endpoint(finding.source_ip)
    if finding.user_agent:
        evidence["http_request"] = {"user_agent": finding.user_agent}
    event: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 3 if suppressed else 1,
        "status": "Suppressed" if suppressed else "New",
        "time": _ms(finding.event_time),
        "message": finding.summary,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": list(PROFILES),
            "uid": finding.finding_id,
            "event_code": finding.event_name,
            "product": {
                "name": "iamwatch",
                "vendor_name": "iamwatch",
                "version": iamwatch.__version__,
            },
        },
        "finding_info": {
            "uid": finding.finding_id,
            "title": finding.title,
            "desc": finding.summary,
            "types": [finding.detector],
            "created_time": _ms(row.raised_at),
            "first_seen_time": _ms(finding.event_time),
            "last_seen_time": _ms(finding.event_time),
            "src_url": finding.runbook_url,
        },
        "cloud": cloud,
        "api": evidence["api"],
        "evidences": [evidence],
        "remediation": {
            "desc": " ".join(part for part in (finding.next_step, finding.recommendation) if part),
            "references": [finding.runbook_url],
        },
        "unmapped": {
            "event_id": finding.event_id,
            "dedup_key": finding.dedup_key,
            "delivery_status": row.delivery_status,
            "delivery_channel": row.delivery_channel,
            "delivery_reason": row.delivery_reason,
        },
    }
    found_attacks = attacks(finding.detector)
    if found_attacks:
        event["finding_info"]["attacks"] = found_attacks
    if finding.links:
        # A sequence: the events it links, each by the finding iamwatch raised on it (or by
        # its CloudTrail event id when no single-event detector reports it), and its span.
        event["finding_info"]["related_events"] = [_related(link) for link in finding.links]
        times = [_ms(link.event_time) for link in finding.links]
        event["finding_info"]["first_seen_time"] = min(times)
        event["finding_info"]["last_seen_time"] = max(times)
    if finding.target:
        resource: dict[str, Any] = {"uid": finding.target}
        if finding.target_type:
            resource["type"] = finding.target_type
        if finding.region:
            resource["region"] = finding.region
        event["resources"] = [resource]
    return event


@lru_cache(maxsize=2)
def _validator(ocsf_class: str) -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from ocsf_json_schema import (  # type: ignore[import-untyped]
        OcsfJsonSchemaEmbedded,
        get_ocsf_schema,
    )

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(OCSF_VERSION)).get_class_schema(
        ocsf_class, profiles=list(PROFILES)
    )
    return Draft202012Validator(schema)


def class_problems(event: dict[str, Any], ocsf_class: str) -> list[str]:
    """Every way ``event`` departs from the schema of ``ocsf_class`` (with our profiles)."""
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(event)'}: {error.message}"
        for error in _validator(ocsf_class).iter_errors(event)
    ]


def problems(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` departs from the OCSF Detection Finding schema; empty when valid."""
    return class_problems(event, "detection_finding")


def validate(event: dict[str, Any]) -> None:
    found = problems(event)
    if found:
        raise OcsfValidationError("; ".join(found))


def render_ocsf(rows: Iterable[ExportedFinding]) -> bytes:
    lines = []
    for row in rows:
        event = to_ocsf(row)
        validate(event)
        lines.append(orjson.dumps(event) + b"\n")
    return b"".join(lines)
