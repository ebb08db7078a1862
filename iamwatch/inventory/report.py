"""From sources to the report: merge the credential report with the authorization details
(and CloudTrail, last-accessed and Identity Center evidence), then classify and check each
identity. Pure; the reference time is given, never read from the clock here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from iamwatch.inventory.authorization import AuthorizationDetails
from iamwatch.inventory.checks import Thresholds, account_checks, days, run_checks
from iamwatch.inventory.classify import classify, last_activity
from iamwatch.inventory.credential_report import CredentialReport
from iamwatch.inventory.model import Activity, Identity, Inventory, Row, ServiceUse
from iamwatch.inventory.steps import next_steps
from iamwatch.protected import ProtectedPrincipals


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def build_identities(
    report: CredentialReport,
    details: AuthorizationDetails | None = None,
    *,
    activity: Mapping[str, Activity] | None = None,
    services: Mapping[str, tuple[ServiceUse, ...]] | None = None,
    identity_center: Mapping[str, str] | None = None,
    key_ids: Mapping[str, Mapping[int, str]] | None = None,
) -> list[Identity]:
    """One identity per credential report row (users only in the authorization details,
    created after the report, are added without credential facts)."""
    users = dict(details.users) if details is not None else {}
    found = []
    for row in report.rows:
        detail = users.pop(row.user, None)
        keys = row.access_keys
        if key_ids and row.user in key_ids:
            ids = key_ids[row.user]
            keys = tuple(key.model_copy(update={"key_id": ids.get(key.slot)}) for key in keys)
        values: dict[str, Any] = {
            "user": row.user,
            "arn": row.arn,
            "account": row.account,
            "created": row.created,
            "password_enabled": row.password_enabled,
            "password_last_used": row.password_last_used,
            "password_last_changed": row.password_last_changed,
            "mfa_active": row.mfa_active,
            "access_keys": keys,
        }
        if detail is not None:
            values.update(
                groups=detail.groups,
                attached_policies=detail.attached_policies,
                group_policies=detail.group_policies,
                inline_policies=detail.inline_policies,
                admin=bool(detail.admin_via),
                admin_via=detail.admin_via,
                boundary=detail.boundary,
                tags=detail.tags,
            )
        found.append(_with_evidence(Identity(**values), activity, services, identity_center))
    for detail in users.values():
        from iamwatch.inventory.credential_report import account_of

        identity = Identity(
            user=detail.user,
            arn=detail.arn,
            account=account_of(detail.arn),
            created=detail.created,
            groups=detail.groups,
            attached_policies=detail.attached_policies,
            group_policies=detail.group_policies,
            inline_policies=detail.inline_policies,
            admin=bool(detail.admin_via),
            admin_via=detail.admin_via,
            boundary=detail.boundary,
            tags=detail.tags,
        )
        found.append(_with_evidence(identity, activity, services, identity_center))
    return found


def _with_evidence(
    identity: Identity,
    activity: Mapping[str, Activity] | None,
    services: Mapping[str, tuple[ServiceUse, ...]] | None,
    identity_center: Mapping[str, str] | None,
) -> Identity:
    update: dict[str, Any] = {}
    if activity is not None:
        update["activity"] = activity.get(identity.arn) or activity.get(identity.user)
    if services is not None and identity.arn in services:
        update["services_used"] = services[identity.arn]
    if identity_center is not None:
        email = identity.tags.get("email") or identity.tags.get("Email")
        match = identity_center.get(identity.user.lower()) or (
            identity_center.get(email.lower()) if email else None
        )
        update["identity_center_user"] = match
    return identity.model_copy(update=update) if update else identity


def evidence(
    identity: Identity, now: datetime, protected: str | None, roles_anywhere: bool | None
) -> dict[str, Any]:
    """The facts behind the row's class, in the jsonl contract's ``evidence``."""
    activity = identity.activity
    return {
        "created": _iso(identity.created),
        "console": {
            "password": identity.password_enabled,
            "last_used": _iso(identity.password_last_used),
            "last_used_days": days(identity.password_last_used, now),
            "last_changed": _iso(identity.password_last_changed),
        },
        "mfa": identity.mfa_active,
        "access_keys": [
            {
                "slot": key.slot,
                "id": key.key_id,
                "active": key.active,
                "created": _iso(key.created),
                "age_days": days(key.created, now),
                "last_used": _iso(key.last_used),
                "last_used_days": days(key.last_used, now),
                "last_used_service": key.last_used_service,
                "last_used_region": key.last_used_region,
            }
            for key in identity.access_keys
        ],
        "last_activity": _iso(last_activity(identity)),
        "groups": list(identity.groups),
        "attached_policies": list(identity.attached_policies),
        "group_policies": list(identity.group_policies),
        "inline_policies": [
            {"name": policy.name, "size": policy.size} for policy in identity.inline_policies
        ],
        "admin": identity.admin,
        "admin_via": list(identity.admin_via),
        "boundary": identity.boundary,
        "tags": dict(identity.tags),
        "protected": protected,
        "roles_anywhere": roles_anywhere,
        "services_used": None
        if identity.services_used is None
        else [
            {"service": use.service, "last_accessed": _iso(use.last_accessed)}
            for use in identity.services_used
        ],
        "cloudtrail": None
        if activity is None
        else {
            "console_sign_ins": activity.console_sign_ins,
            "api_calls": activity.api_calls,
            "outside_aws_calls": activity.outside_aws_calls,
            "first_seen": _iso(activity.first_seen),
            "last_seen": _iso(activity.last_seen),
            "user_agents": list(activity.user_agents),
            "source_ips": list(activity.source_ips),
        },
        "identity_center_user": identity.identity_center_user,
        "changed_by_events": list(identity.changed_by_events),
    }


def assess_one(
    identity: Identity, limits: Thresholds, now: datetime, protected: ProtectedPrincipals
) -> Row:
    classification = classify(identity, limits, now, protected)
    results = run_checks(identity, limits, now)
    return Row(
        user=identity.user,
        arn=identity.arn,
        account=identity.account,
        kind=classification.kind,
        recommendation=classification.recommendation,
        reason=classification.reason,
        checks=tuple(dict.fromkeys(result.id for result in results)),
        evidence=evidence(identity, now, classification.protected, classification.roles_anywhere),
        check_details=results,
        next_steps=next_steps(identity, classification),
    )


def assess(
    identities: Iterable[Identity],
    limits: Thresholds,
    now: datetime,
    protected: ProtectedPrincipals,
    *,
    as_of_source: str,
    report_generated: datetime | None = None,
    notes: Iterable[str] = (),
) -> Inventory:
    rows = [assess_one(identity, limits, now, protected) for identity in identities]
    users = sum(1 for row in rows if row.kind.value != "root")
    quota = account_checks(users)
    if quota:
        rows = [
            row.model_copy(
                update={
                    "checks": row.checks + tuple(item.id for item in quota),
                    "check_details": row.check_details + quota,
                }
            )
            if row.kind.value == "root"
            else row
            for row in rows
        ]
    # Root first, then by user name: stable output to diff week to week.
    rows.sort(key=lambda row: (row.kind.value != "root", row.user.lower(), row.arn))
    accounts = {row.account for row in rows if row.account}
    return Inventory(
        account=next(iter(accounts)) if len(accounts) == 1 else None,
        as_of=now,
        as_of_source=as_of_source,
        report_age_seconds=None
        if report_generated is None
        else max(0.0, (now - report_generated).total_seconds()),
        rows=tuple(rows),
        account_checks=quota,
        notes=tuple(notes),
    )


def newest_time(identities: Iterable[Identity], generated: datetime | None) -> datetime:
    """Offline, the reference time: when the report was generated if the file says, else the
    newest time in it (a report cannot hold a time after it was made)."""
    if generated is not None:
        return generated
    moments: list[datetime] = []
    for identity in identities:
        moments += [
            moment
            for moment in (
                identity.created,
                identity.password_last_used,
                identity.password_last_changed,
                *(key.created for key in identity.access_keys),
                *(key.last_used for key in identity.access_keys),
                identity.activity.last_seen if identity.activity else None,
            )
            if moment is not None
        ]
    if not moments:
        from datetime import UTC

        return datetime.now(UTC)
    return max(moments)
