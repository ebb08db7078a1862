"""Small helpers shared by detectors: wording and the IAM targets most calls share."""

from __future__ import annotations

import re

from iamwatch.events import CloudTrailRecord
from iamwatch.principal import PrincipalKind
from iamwatch.text import bounded_key

IAM = "iam.amazonaws.com"
SIGNIN = "signin.amazonaws.com"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
IDENTITY_CENTER = "sso.amazonaws.com"
IDENTITY_STORE = "sso-directory.amazonaws.com"
STS = "sts.amazonaws.com"
ROLES_ANYWHERE = "rolesanywhere.amazonaws.com"

_ADMIN_LOOKING = re.compile(r"admin|power[-_ ]?users?|super[-_ ]?users?|full[-_ ]?access", re.I)


def looks_administrative(group: str | None) -> bool:
    """Whether a group's name suggests administrator power (Admins, PowerUsers, ...)."""
    return bool(group and _ADMIN_LOOKING.search(group))


def who(record: CloudTrailRecord) -> str:
    """ "alice (IAM user)", "root (root user)", "bob@example.com via AWSReservedSSO_... (...)"."""
    principal = record.principal
    return f"{principal.display} ({principal.kind.label})"


def where(record: CloudTrailRecord) -> str:
    account = record.account_id or "an unknown account"
    origin = f" from {record.source_ip_address}" if record.source_ip_address else ""
    return f"in account {account}{origin}"


def acting_user_name(record: CloudTrailRecord) -> str | None:
    """The caller's own IAM user name, which many IAM calls default to when userName is absent."""
    if record.principal.kind is PrincipalKind.IAM_USER:
        return record.principal.name
    return None


def target_user(record: CloudTrailRecord) -> str | None:
    return record.request.get_str("userName") or acting_user_name(record)


def state_key(text: str) -> str:
    """``text`` as a state-store key: attacker-controlled strings may hold lone surrogates,
    which no store (SQLite, DynamoDB, JSON) can encode, and be longer than DynamoDB's key
    limit (``iamwatch.text.bounded_key``)."""
    return bounded_key(text)
