"""The posture checks: each declared once (id, severity, the standard it comes from), each a
small function of one identity, the thresholds and the reference time.

Check ids are a contract (jsonl ``checks``, ``--fail-on``, posture findings). Thresholds are
settings; the defaults are the CIS AWS Foundations Benchmark's and AWS Security Hub's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from iamwatch.inventory.model import CheckResult, Identity
from iamwatch.severity import Severity

# IAM quotas (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
GROUPS_PER_USER = 10
MANAGED_POLICIES_PER_USER = 10
USER_INLINE_POLICY_CHARS = 2048
USERS_PER_ACCOUNT = 5000
# "Near" a quota: at or above this share of it.
NEAR_QUOTA = 0.9
# A key created this close to the user (CIS 1.11: "during initial user setup").
AT_SETUP = timedelta(hours=24)

# The ``detector`` of posture findings (a check an identity newly fails): the inventory, not a
# CloudTrail detector. In Security Hub they are configuration checks, classified by check id.
POSTURE = "inventory"
POSTURE_ASFF_TYPE = "Software and Configuration Checks/AWS Security Best Practices"


@dataclass(frozen=True, slots=True)
class Thresholds:
    dormant_days: int = 90
    key_max_age_days: int = 90
    key_unused_days: int = 45
    password_unused_days: int = 45
    root_used_days: int = 30


@dataclass(frozen=True, slots=True)
class CheckSpec:
    id: str
    title: str
    severity: Severity
    # The threshold in words, naming the setting that changes it.
    threshold: str
    # Where the check comes from: CIS AWS Foundations Benchmark v3.0 and Security Hub ids.
    source: str


CHECKS: dict[str, CheckSpec] = {
    spec.id: spec
    for spec in (
        CheckSpec("console-without-mfa", "Console password without MFA", Severity.HIGH,
                  "any console password without an MFA device", "CIS 1.10; Security Hub IAM.5"),
        CheckSpec("access-key-not-rotated", "Active access key not rotated", Severity.MEDIUM,
                  "active key older than 90 days (IAMWATCH_ACCESS_KEY_MAX_AGE_DAYS)",
                  "CIS 1.14; Security Hub IAM.3"),
        CheckSpec("access-key-unused", "Active access key unused", Severity.MEDIUM,
                  "active key last used more than 45 days ago (IAMWATCH_ACCESS_KEY_UNUSED_DAYS)",
                  "CIS 1.12; Security Hub IAM.8, IAM.22"),
        CheckSpec("access-key-never-used", "Active access key never used", Severity.LOW,
                  "active key never used, created more than 45 days ago "
                  "(IAMWATCH_ACCESS_KEY_UNUSED_DAYS)", "CIS 1.12; Security Hub IAM.22"),
        CheckSpec("password-unused", "Console password unused", Severity.MEDIUM,
                  "password last used (or, never used, set) more than 45 days ago "
                  "(IAMWATCH_PASSWORD_UNUSED_DAYS)", "CIS 1.12; Security Hub IAM.8, IAM.22"),
        CheckSpec("two-active-access-keys", "Two active access keys", Severity.MEDIUM,
                  "both key slots active", "CIS 1.13"),
        CheckSpec("key-at-setup", "Access key created at user setup", Severity.LOW,
                  "a console password and a never-used key created within 24 hours of the user",
                  "CIS 1.11"),
        CheckSpec("user-has-attached-policies", "Policies attached to the user", Severity.LOW,
                  "any managed or inline policy on the user rather than on a group",
                  "CIS 1.15; Security Hub IAM.2"),
        CheckSpec("admin-without-mfa", "Administrator without MFA", Severity.HIGH,
                  "admin (AdministratorAccess, IAMFullAccess or * on *, directly or through a "
                  "group) and no MFA device", "CIS 1.16 with 1.10; Security Hub IAM.1, IAM.6"),
        CheckSpec("root-access-key", "Root has an access key", Severity.CRITICAL,
                  "any active root access key", "CIS 1.4; Security Hub IAM.4"),
        CheckSpec("root-without-mfa", "Root without MFA", Severity.CRITICAL,
                  "root has no MFA device", "CIS 1.5; Security Hub IAM.9"),
        CheckSpec("root-used-recently", "Root used recently", Severity.HIGH,
                  "root password or key used in the last 30 days (IAMWATCH_ROOT_USED_DAYS)",
                  "CIS 1.7; Security Hub CloudWatch.1"),
        CheckSpec("user-groups-near-quota", "User near the groups-per-user quota", Severity.LOW,
                  f"at least {int(GROUPS_PER_USER * NEAR_QUOTA)} groups (quota "
                  f"{GROUPS_PER_USER})", "IAM quotas"),
        CheckSpec("user-policies-near-quota", "User near the managed-policies quota",
                  Severity.LOW, f"at least {int(MANAGED_POLICIES_PER_USER * NEAR_QUOTA)} managed "
                  f"policies attached (quota {MANAGED_POLICIES_PER_USER})", "IAM quotas"),
        CheckSpec("inline-policy-near-limit", "Inline user policies near the size limit",
                  Severity.LOW, f"inline user policies of at least "
                  f"{int(USER_INLINE_POLICY_CHARS * NEAR_QUOTA):,} characters without "
                  f"whitespace (limit {USER_INLINE_POLICY_CHARS:,})", "IAM quotas"),
        CheckSpec("users-near-quota", "Account near the IAM users quota", Severity.LOW,
                  f"at least {int(USERS_PER_ACCOUNT * NEAR_QUOTA):,} IAM users (quota "
                  f"{USERS_PER_ACCOUNT:,}); reported on root's row", "IAM quotas"),
    )
}  # fmt: skip


def near(quota: int) -> int:
    """The count at which a quota is near: 90 % of it, rounded down."""
    return int(quota * NEAR_QUOTA)


def days(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, (now - since).days)


def _result(check: str, detail: str) -> CheckResult:
    return CheckResult(id=check, severity=CHECKS[check].severity.value, detail=detail)


CheckFunction = Callable[[Identity, Thresholds, datetime], Iterator[CheckResult]]


def _console(identity: Identity, limits: Thresholds, now: datetime) -> Iterator[CheckResult]:
    if identity.is_root or not identity.password_enabled:
        return
    if not identity.mfa_active:
        yield _result("console-without-mfa", "console password and no MFA device")
    used = identity.password_last_used
    since = used or identity.password_last_changed or identity.created
    age = days(since, now)
    if age is not None and age > limits.password_unused_days:
        what = f"last used {age} days ago" if used else f"never used, set {age} days ago"
        yield _result("password-unused", what)


def _keys(identity: Identity, limits: Thresholds, now: datetime) -> Iterator[CheckResult]:
    if identity.is_root:
        return
    active = identity.active_keys
    for key in active:
        name = key.key_id or f"key {key.slot}"
        age = days(key.created, now)
        if age is not None and age > limits.key_max_age_days:
            yield _result("access-key-not-rotated", f"{name} is {age} days old")
        if key.last_used is not None:
            idle = days(key.last_used, now)
            if idle is not None and idle > limits.key_unused_days:
                yield _result("access-key-unused", f"{name} last used {idle} days ago")
        elif age is not None and age > limits.key_unused_days:
            yield _result("access-key-never-used", f"{name} never used in {age} days")
    if len(active) >= 2:
        yield _result("two-active-access-keys", f"{len(active)} active access keys")
    if identity.password_enabled and identity.created is not None:
        for key in active:
            if (
                key.last_used is None
                and key.created is not None
                and abs(key.created - identity.created) <= AT_SETUP
            ):
                yield _result(
                    "key-at-setup",
                    f"{key.key_id or f'key {key.slot}'} created with the user and never used",
                )
                break


def _policies(identity: Identity, limits: Thresholds, now: datetime) -> Iterator[CheckResult]:
    if identity.is_root:
        return
    on_user = len(identity.attached_policies) + len(identity.inline_policies)
    if on_user:
        yield _result("user-has-attached-policies", f"{on_user} policy(ies) on the user itself")
    if identity.admin and not identity.mfa_active:
        yield _result("admin-without-mfa", f"admin ({'; '.join(identity.admin_via)}), no MFA")
    if len(identity.groups) >= near(GROUPS_PER_USER):
        yield _result("user-groups-near-quota", f"{len(identity.groups)} groups")
    if len(identity.attached_policies) >= near(MANAGED_POLICIES_PER_USER):
        yield _result(
            "user-policies-near-quota", f"{len(identity.attached_policies)} managed policies"
        )
    size = sum(policy.size for policy in identity.inline_policies)
    if size >= near(USER_INLINE_POLICY_CHARS):
        yield _result("inline-policy-near-limit", f"{size:,} of {USER_INLINE_POLICY_CHARS:,}")


def _root(identity: Identity, limits: Thresholds, now: datetime) -> Iterator[CheckResult]:
    if not identity.is_root:
        return
    if identity.active_keys:
        yield _result("root-access-key", f"{len(identity.active_keys)} active root access key(s)")
    if not identity.mfa_active:
        yield _result("root-without-mfa", "no MFA device on root")
    uses = [identity.password_last_used] + [key.last_used for key in identity.access_keys]
    recent = [age for use in uses if (age := days(use, now)) is not None]
    if recent and min(recent) <= limits.root_used_days:
        yield _result("root-used-recently", f"root used {min(recent)} days ago")


CHECK_FUNCTIONS: tuple[CheckFunction, ...] = (_console, _keys, _policies, _root)


def run_checks(identity: Identity, limits: Thresholds, now: datetime) -> tuple[CheckResult, ...]:
    return tuple(result for check in CHECK_FUNCTIONS for result in check(identity, limits, now))


def account_checks(users: int) -> tuple[CheckResult, ...]:
    if users >= near(USERS_PER_ACCOUNT):
        return (_result("users-near-quota", f"{users:,} IAM users"),)
    return ()


def worst(results: tuple[CheckResult, ...]) -> Severity | None:
    severities = [Severity(result.severity) for result in results]
    return max(severities, key=lambda severity: severity.rank) if severities else None
