"""What an identity really is (``kind``) and where it belongs (``recommendation``), with the
one-line reason behind both.

Use is what counts, within ``dormant_days``: a console password used (or set recently and not
used yet) is a person; an access key used (or created recently and not used yet) is a
program; both is a person and a program sharing one identity; neither, for a user older than
``dormant_days``, is dormant. CloudTrail events, when given, count as use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from iamwatch.inventory.checks import Thresholds, days
from iamwatch.inventory.model import Identity, Kind, Recommendation
from iamwatch.protected import ProtectedPrincipals

_BY_KIND = {
    Kind.HUMAN: Recommendation.IDENTITY_CENTER,
    Kind.WORKLOAD: Recommendation.ROLE,
    Kind.MIXED: Recommendation.SPLIT,
    Kind.DORMANT: Recommendation.REMOVE,
}


@dataclass(frozen=True, slots=True)
class Classification:
    kind: Kind
    recommendation: Recommendation
    reason: str
    protected: str | None = None
    # Whether IAM Roles Anywhere applies: the keys are used from outside AWS (None: unknown).
    roles_anywhere: bool | None = None


def _ago(moment: datetime | None, now: datetime) -> str:
    age = days(moment, now)
    if age is None:
        return "never"
    return "today" if age == 0 else f"{age} day{'s' if age != 1 else ''} ago"


def last_activity(identity: Identity) -> datetime | None:
    moments = [identity.password_last_used] + [key.last_used for key in identity.access_keys]
    if identity.activity is not None:
        moments.append(identity.activity.last_seen)
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def _root(identity: Identity, now: datetime) -> Classification:
    problems = []
    if identity.active_keys:
        problems.append(f"{len(identity.active_keys)} active access key(s)")
    if not identity.mfa_active:
        problems.append("no MFA")
    if problems:
        return Classification(
            Kind.ROOT,
            Recommendation.SECURE_ROOT,
            f"root has {' and '.join(problems)}; root needs MFA and no keys",
        )
    return Classification(
        Kind.ROOT,
        Recommendation.KEEP,
        f"root has MFA and no access keys (last used {_ago(last_activity(identity), now)})",
    )


def classify(
    identity: Identity, limits: Thresholds, now: datetime, protected: ProtectedPrincipals
) -> Classification:
    if identity.is_root:
        return _root(identity, now)

    def recent(moment: datetime | None) -> bool:
        age = days(moment, now)
        return age is not None and age <= limits.dormant_days

    activity = identity.activity
    seen_recently = activity is not None and recent(activity.last_seen)
    console_used = identity.password_enabled and recent(identity.password_last_used)
    console_used = console_used or (
        seen_recently and activity is not None and activity.console_sign_ins > 0
    )
    console_new = (
        identity.password_enabled
        and identity.password_last_used is None
        and recent(identity.password_last_changed or identity.created)
    )
    used_keys = [key for key in identity.active_keys if recent(key.last_used)]
    new_keys = [
        key for key in identity.active_keys if key.last_used is None and recent(key.created)
    ]
    keys_used = bool(used_keys) or (
        seen_recently
        and activity is not None
        and activity.api_calls > activity.console_sign_ins
        and bool(identity.active_keys)
    )
    roles_anywhere = None if activity is None else activity.outside_aws_calls > 0
    if console_used and keys_used:
        kind = Kind.MIXED
        why = (
            f"console used {_ago(identity.password_last_used or last_activity(identity), now)} "
            f"and access keys used: a person and a program share one identity"
        )
    elif console_used:
        kind = Kind.HUMAN
        why = (
            f"console password used "
            f"{_ago(identity.password_last_used or last_activity(identity), now)}, "
            "no access key in use: a person"
        )
    elif keys_used:
        kind = Kind.WORKLOAD
        key = max(used_keys, key=lambda k: k.last_used or now) if used_keys else None
        where = ""
        if key is not None and key.last_used_service:
            where = f" ({key.last_used_service}, {key.last_used_region or 'no region'})"
        used = _ago(key.last_used, now) if key is not None else "in CloudTrail"
        why = f"access key used {used}{where}, no console use: a program"
    elif console_new:
        kind = Kind.HUMAN
        why = (
            f"console password set {_ago(identity.password_last_changed or identity.created, now)}"
            ", not used yet, no access key in use: a person"
        )
    elif new_keys:
        kind = Kind.WORKLOAD
        why = f"access key created {_ago(new_keys[0].created, now)}, not used yet: a program"
    elif recent(identity.created):
        kind = Kind.HUMAN
        why = (
            f"created {_ago(identity.created, now)} with no credential in use yet; a new user "
            "is a person until a program uses it"
        )
    else:
        kind = Kind.DORMANT
        last = last_activity(identity)
        why = (
            f"nothing used for {limits.dormant_days} days (last used {_ago(last, now)}, "
            f"created {_ago(identity.created, now)})"
        )
    protected_why = protected.why(name=identity.user, arn=identity.arn, tags=identity.tags)
    if protected_why is not None:
        if identity.mfa_active and not identity.active_keys:
            return Classification(
                kind,
                Recommendation.KEEP,
                f"break-glass ({protected_why}) with MFA and no access keys; {why}",
                protected=protected_why,
                roles_anywhere=roles_anywhere,
            )
        missing = [
            problem
            for problem, present in (
                ("has no MFA", not identity.mfa_active),
                ("has access keys", bool(identity.active_keys)),
            )
            if present
        ]
        why += (
            f"; break-glass ({protected_why}) but {' and '.join(missing)}, so not a documented "
            "exception"
        )
    if kind is Kind.WORKLOAD and roles_anywhere:
        why += "; used from outside AWS: IAM Roles Anywhere applies"
    return Classification(
        kind, _BY_KIND[kind], why, protected=protected_why, roles_anywhere=roles_anywhere
    )
