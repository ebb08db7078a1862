"""role-trust-opened: a role's trust policy lets someone outside the trusted accounts assume
it (another account, anyone, a foreign or unknown identity provider)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import orjson

from detectors._common import IAM, state_key, where, who
from iamwatch.events import CloudTrailRecord, parse_timestamp
from iamwatch.policy import parse_policy_document
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity
from iamwatch.text import encodable_tree
from iamwatch.trust import accounts_of, review_trust

META = DetectorMeta(
    id="role-trust-opened",
    title="Role trust opened outside the trusted accounts",
    severity=Severity.HIGH,
    description=(
        "iam CreateRole or UpdateAssumeRolePolicy whose trust policy lets a principal outside "
        "the trusted accounts (the event's own and `IAMWATCH_TRUSTED_ACCOUNTS`; organizations "
        "in `IAMWATCH_TRUSTED_ORGANIZATIONS`) assume the role: another account, `*` without a "
        "condition restricting it to them, a federated principal of a foreign or unknown "
        "provider. Service principals and same-account trust are not findings"
    ),
    severity_rules="High; critical when anyone (`*`) may assume the role.",
    next_step="Find out who changed the trust and why; unless the outside principal is a known "
    "partner, restore the previous trust policy.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1098.003", "T1199"),
    events={IAM: frozenset({"CreateRole", "UpdateAssumeRolePolicy"})},
    remediation_actions=("restore-trust-policy",),
    recommendation=(
        "Trust other accounts only through a reviewed list (IAMWATCH_TRUSTED_ACCOUNTS), restrict "
        "`*` with aws:PrincipalOrgID, and pin web identity providers to an audience."
    ),
    # Remembers each role's last trust policy, so a finding can say what to restore.
    stateful=True,
)


def _trust_key(account: str | None, role: str) -> str:
    return state_key(f"{META.id}:trust:{account or '-'}:{role}")


def _latest(context: DetectionContext, key: str) -> tuple[datetime, str] | None:
    """The last trust policy seen for the role, and when it was set."""
    raw = context.state.recall(key)
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
        moment, document = parse_timestamp(data["at"]), data["document"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return (moment, document) if isinstance(document, str) else None


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    creating = record.event_name == "CreateRole"
    role = record.request.get_str("roleName")
    raw = record.request.get_raw("assumeRolePolicyDocument" if creating else "policyDocument")
    parsed = parse_policy_document(raw)
    if role is None or parsed is None:
        return
    # A document that arrived as an object (EventBridge) may hold lone surrogates.
    document = orjson.dumps(encodable_tree(parsed)).decode()
    key = _trust_key(record.account_id, role)
    latest = _latest(context, key)
    # Events arrive in any order: only a policy set before this change is the one it replaced,
    # and only a later change than the one kept replaces it.
    previous = latest if latest is not None and latest[0] < record.event_time else None
    if latest is None or latest[0] <= record.event_time:
        stored = {"at": record.event_time.isoformat(), "document": document}
        context.state.remember(key, orjson.dumps(stored).decode())
    if creating:
        previous = None
    settings = context.settings
    trust = review_trust(
        parsed, record.account_id, settings.trusted_accounts, settings.trusted_organizations
    )
    if trust is None or not trust.outsiders:
        return
    outside = "; ".join(outsider.describe() for outsider in trust.outsiders)
    details = {"roleName": role, "outsiders": outside}
    if accounts := accounts_of(trust.outsiders):
        details["foreignAccounts"] = ", ".join(accounts)
    if trust.external_id_required:
        details["externalId"] = "required (sts:ExternalId)"
    if previous is not None:
        details["previousPolicyTime"] = previous[0].isoformat().replace("+00:00", "Z")
        details["previousPolicyDocument"] = previous[1]
    action = "created role" if creating else "changed the trust policy of role"
    yield Hit(
        summary=f"{who(record)} {action} {role}, letting {outside} assume it {where(record)}.",
        target=role,
        target_type="iam-role",
        severity=Severity.CRITICAL if trust.anyone else Severity.HIGH,
        details=details,
    )
