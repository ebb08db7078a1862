"""The inventory as OCSF 1.5.0 Compliance Findings (class_uid 2003, the ``cloud`` profile):
one event per identity, failed when any check fails, each failed check in ``compliance.checks``
with the standards it comes from; validated against the OCSF schema before it is written, as
the findings export is (``iamwatch.export.ocsf``)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

import iamwatch
from iamwatch.export.ocsf import (
    OCSF_VERSION,
    PROFILES,
    SEVERITY_IDS,
    OcsfValidationError,
    class_problems,
)
from iamwatch.inventory.checks import CHECKS
from iamwatch.inventory.model import Inventory, Row
from iamwatch.severity import Severity

CLASS_UID = 2003
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
STATUS_PASS, STATUS_FAIL = (1, "Pass"), (3, "Fail")
STANDARDS = ("CIS AWS Foundations Benchmark v3.0.0", "AWS Foundational Security Best Practices")
NAMESPACE = uuid.UUID("0b0c1d4e-7a51-5e2f-8c9d-3f4a5b6c7d8e")


def finding_uid(row: Row, day: str) -> str:
    """Stable for an identity and a day: a re-run of the same day's inventory is the same."""
    return str(uuid.uuid5(NAMESPACE, f"{row.arn}:{day}"))


def to_ocsf(row: Row, inventory: Inventory) -> dict[str, Any]:
    worst = max(
        (Severity(item.severity) for item in row.check_details),
        key=lambda severity: severity.rank,
        default=Severity.INFO,
    )
    severity_id, severity = SEVERITY_IDS[worst]
    status_id, status = STATUS_FAIL if row.checks else STATUS_PASS
    millis = int(inventory.as_of.timestamp() * 1000)
    uid = finding_uid(row, inventory.as_of.date().isoformat())
    cloud: dict[str, Any] = {"provider": "AWS"}
    if row.account:
        cloud["account"] = {"type_id": 10, "type": "AWS Account", "uid": row.account}
    return {
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "time": millis,
        "message": row.reason,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": list(PROFILES),
            "uid": uid,
            "product": {
                "name": "iamwatch",
                "vendor_name": "iamwatch",
                "version": iamwatch.__version__,
            },
        },
        "finding_info": {
            "uid": uid,
            "title": f"{row.user}: {row.kind.value}, move to {row.recommendation.value}",
            "desc": row.reason,
            "types": ["iamwatch inventory"],
            "created_time": millis,
        },
        "compliance": {
            "status_id": status_id,
            "status": status,
            "standards": list(STANDARDS),
            "checks": [
                {
                    "uid": item.id,
                    "name": CHECKS[item.id].title,
                    "desc": item.detail,
                    "severity_id": SEVERITY_IDS[Severity(item.severity)][0],
                    "severity": SEVERITY_IDS[Severity(item.severity)][1],
                    "status_id": STATUS_FAIL[0],
                    "status": STATUS_FAIL[1],
                    "standards": [CHECKS[item.id].source],
                }
                for item in row.check_details
            ],
        },
        "cloud": cloud,
        "resources": [
            {
                "uid": row.arn,
                "name": row.user,
                "type": "AWS::IAM::User" if row.kind.value != "root" else "AWS::Account",
            }
        ],
        "remediation": {"desc": f"Move to {row.recommendation.value}: {row.reason}"},
        "unmapped": {
            "kind": row.kind.value,
            "recommendation": row.recommendation.value,
            "next_steps": list(row.next_steps),
            "evidence": row.evidence,
        },
    }


def problems(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` departs from the OCSF Compliance Finding schema; empty when valid."""
    return class_problems(event, "compliance_finding")


def render_ocsf(inventory: Inventory) -> bytes:
    lines = []
    for row in inventory.rows:
        event = to_ocsf(row, inventory)
        found = problems(event)
        if found:
            raise OcsfValidationError("; ".join(found))
        lines.append(orjson.dumps(event) + b"\n")
    return b"".join(lines)
