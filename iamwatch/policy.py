"""Reading IAM policy documents and policy ARNs as CloudTrail logs them.

Policy documents arrive as JSON strings, sometimes URL-encoded, and are attacker-supplied:
parsing is defensive and anything unreadable is treated as "not shown to grant admin".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import orjson

# Only AWS managed policies live under account "aws"; a customer policy that is merely named
# AdministratorAccess has the customer's account id in its ARN and does not match.
_ADMIN_MANAGED_POLICY = re.compile(
    r"^arn:aws(?:-[a-z]+)*:iam::aws:policy/(?P<name>AdministratorAccess|IAMFullAccess)$"
)

_ADMIN_ACTIONS = frozenset({"*", "*:*", "iam:*"})


def admin_managed_policy_name(policy_arn: str | None) -> str | None:
    """``AdministratorAccess`` or ``IAMFullAccess`` when the ARN is that AWS managed policy."""
    if policy_arn is None:
        return None
    match = _ADMIN_MANAGED_POLICY.match(policy_arn.strip())
    return match.group("name") if match else None


def parse_policy_document(document: Any) -> dict[str, Any] | None:
    if isinstance(document, dict):
        return document
    if not isinstance(document, str):
        return None
    text = document.strip()
    if text.startswith("%7B") or text.startswith("%7b"):
        text = unquote(text)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in _as_list(document.get("Statement")):
        if isinstance(statement, dict):
            yield statement


def grants_admin(document: Any) -> bool:
    """True when some Allow statement grants every action (or every IAM action) on every
    resource without conditions: full administrative power, or the power to grant it."""
    parsed = parse_policy_document(document)
    if parsed is None:
        return False
    for statement in _statements(parsed):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        actions = {
            a.strip().lower() for a in _as_list(statement.get("Action")) if isinstance(a, str)
        }
        resources = {r.strip() for r in _as_list(statement.get("Resource")) if isinstance(r, str)}
        if actions & _ADMIN_ACTIONS and "*" in resources:
            return True
    return False
