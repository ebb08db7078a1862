# ruff: noqa: E501  (the case tables read best as one case per line)
"""The inventory's rules, on identities built as the sources describe them: each kind, each
recommendation, every check at and around its threshold, and the credential report's odd
values and malformed rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from iamwatch.inventory.checks import CHECKS, Thresholds, run_checks
from iamwatch.inventory.classify import classify
from iamwatch.inventory.credential_report import InputFileError, parse_credential_report
from iamwatch.inventory.model import ROOT_USER, AccessKey, Activity, Identity, InlinePolicy
from iamwatch.inventory.report import assess
from iamwatch.protected import ProtectedPrincipals, parse_patterns

NOW = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)
LIMITS = Thresholds()
NOBODY = ProtectedPrincipals()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def user(name: str = "u", **values: object) -> Identity:
    base: dict[str, object] = {"user": name, "arn": f"arn:aws:iam::123456789012:user/{name}",
                               "account": "123456789012", "created": ago(400)}  # fmt: skip
    return Identity.model_validate(base | values)


def key(
    slot: int = 1, *, created: float = 10, used: float | None = 1, active: bool = True
) -> AccessKey:
    return AccessKey(slot=slot, active=active, key_id=f"AKIAEXAMPLE{slot}KEY0000",
                     created=ago(created), last_used=None if used is None else ago(used))  # fmt: skip


def kind_of(identity: Identity, protected: ProtectedPrincipals = NOBODY) -> tuple[str, str]:
    found = classify(identity, LIMITS, NOW, protected)
    return found.kind.value, found.recommendation.value


CASES = {
    "console_in_use_is_a_human": (user(password_enabled=True, password_last_used=ago(3)), ("human", "identity-center")),
    "new_password_never_used_is_a_human": (user(created=ago(2), password_enabled=True, password_last_changed=ago(2)), ("human", "identity-center")),
    "new_user_without_credentials_is_not_dormant": (user(created=ago(5)), ("human", "identity-center")),
    "key_in_use_is_a_workload": (user(access_keys=(key(used=1),)), ("workload", "role")),
    "new_unused_key_is_a_workload": (user(access_keys=(key(created=3, used=None),)), ("workload", "role")),
    "key_in_use_and_unused_password_is_a_workload": (user(password_enabled=True, password_last_used=ago(200), access_keys=(key(),)), ("workload", "role")),
    "console_and_key_in_use_is_mixed": (user(password_enabled=True, password_last_used=ago(1), access_keys=(key(),)), ("mixed", "split")),
    "nothing_used_for_91_days_is_dormant": (user(password_enabled=True, password_last_used=ago(91), access_keys=(key(created=300, used=91),)), ("dormant", "remove")),
    "used_exactly_90_days_ago_is_not_dormant": (user(access_keys=(key(created=300, used=90),)), ("workload", "role")),
    "inactive_key_does_not_count": (user(access_keys=(key(used=1, active=False),)), ("dormant", "remove")),
    "cloudtrail_sign_ins_make_a_human": (user(password_enabled=True, activity=Activity(console_sign_ins=2, last_seen=ago(1))), ("human", "identity-center")),
    "root_with_key_is_secured": (user(ROOT_USER, mfa_active=True, access_keys=(key(),)), ("root", "secure-root")),
    "root_without_mfa_is_secured": (user(ROOT_USER), ("root", "secure-root")),
    "root_with_mfa_and_no_keys_is_kept": (user(ROOT_USER, mfa_active=True), ("root", "keep")),
}  # fmt: skip


@pytest.mark.parametrize(("identity", "expected"), CASES.values(), ids=CASES.keys())
def test_kind_and_recommendation(identity: Identity, expected: tuple[str, str]) -> None:
    assert kind_of(identity) == expected


def test_break_glass_with_mfa_and_no_keys_is_kept_by_tag_or_setting() -> None:
    tagged = user("bg", mfa_active=True, tags={"iamwatch:break-glass": "true"})
    assert kind_of(tagged) == ("dormant", "keep")
    listed = user("emergency-admin", mfa_active=True)
    assert kind_of(listed) == ("dormant", "remove")
    assert kind_of(listed, ProtectedPrincipals(("emergency-*",))) == ("dormant", "keep")
    by_arn = ProtectedPrincipals(("arn:aws:iam::*:user/emergency-admin",))
    assert kind_of(listed, by_arn) == ("dormant", "keep")


def test_break_glass_without_mfa_or_with_keys_is_not_an_exception() -> None:
    tags = {"iamwatch:break-glass": "yes"}
    no_mfa = classify(user(tags=tags), LIMITS, NOW, NOBODY)
    assert no_mfa.recommendation.value == "remove" and "has no MFA" in no_mfa.reason
    keys = classify(user(tags=tags, mfa_active=True, access_keys=(key(),)), LIMITS, NOW, NOBODY)
    assert keys.recommendation.value == "role" and "has access keys" in keys.reason
    switched_off = user(tags={"iamwatch:break-glass": "false"}, mfa_active=True)
    assert kind_of(switched_off) == ("dormant", "remove")


def test_protected_patterns_are_validated() -> None:
    assert parse_patterns(" a , arn:aws:iam::1:role/B* ,a,") == ("a", "arn:aws:iam::1:role/B*")
    with pytest.raises(ValueError, match="not a user or role name"):
        parse_patterns("ok,has space")


def test_roles_anywhere_applies_when_keys_are_used_from_outside_aws() -> None:
    outside = user(
        access_keys=(key(),), activity=Activity(api_calls=5, outside_aws_calls=5, last_seen=ago(1))
    )
    found = classify(outside, LIMITS, NOW, NOBODY)
    assert found.roles_anywhere is True and "Roles Anywhere" in found.reason
    inside = user(access_keys=(key(),), activity=Activity(api_calls=5, last_seen=ago(1)))
    assert classify(inside, LIMITS, NOW, NOBODY).roles_anywhere is False
    assert classify(user(access_keys=(key(),)), LIMITS, NOW, NOBODY).roles_anywhere is None


def checks(identity: Identity) -> set[str]:
    return {result.id for result in run_checks(identity, LIMITS, NOW)}


THRESHOLDS = {
    "key_91_days_old_is_not_rotated": (user(access_keys=(key(created=91),)), "access-key-not-rotated", True),
    "key_90_days_old_is_rotated_enough": (user(access_keys=(key(created=90),)), "access-key-not-rotated", False),
    "key_unused_46_days": (user(access_keys=(key(created=60, used=46),)), "access-key-unused", True),
    "key_unused_45_days": (user(access_keys=(key(created=60, used=45),)), "access-key-unused", False),
    "key_never_used_in_46_days": (user(access_keys=(key(created=46, used=None),)), "access-key-never-used", True),
    "key_never_used_in_45_days": (user(access_keys=(key(created=45, used=None),)), "access-key-never-used", False),
    "inactive_old_key_is_not_checked": (user(access_keys=(key(created=400, used=None, active=False),)), "access-key-not-rotated", False),
    "password_unused_46_days": (user(password_enabled=True, mfa_active=True, password_last_used=ago(46)), "password-unused", True),
    "password_unused_45_days": (user(password_enabled=True, mfa_active=True, password_last_used=ago(45)), "password-unused", False),
    "password_never_used_set_46_days_ago": (user(password_enabled=True, password_last_changed=ago(46)), "password-unused", True),
    "console_without_mfa": (user(password_enabled=True, password_last_used=ago(1)), "console-without-mfa", True),
    "console_with_mfa": (user(password_enabled=True, mfa_active=True, password_last_used=ago(1)), "console-without-mfa", False),
    "no_console_no_mfa_needed": (user(), "console-without-mfa", False),
    "two_active_keys": (user(access_keys=(key(1), key(2))), "two-active-access-keys", True),
    "one_active_one_inactive": (user(access_keys=(key(1), key(2, active=False))), "two-active-access-keys", False),
    "key_made_with_the_user": (user(created=ago(10), password_enabled=True, access_keys=(key(created=10, used=None),)), "key-at-setup", True),
    "key_made_two_days_after": (user(created=ago(12), password_enabled=True, access_keys=(key(created=10, used=None),)), "key-at-setup", False),
    "key_at_setup_needs_a_password": (user(created=ago(10), access_keys=(key(created=10, used=None),)), "key-at-setup", False),
    "policy_on_the_user": (user(attached_policies=("arn:aws:iam::aws:policy/ReadOnlyAccess",)), "user-has-attached-policies", True),
    "inline_policy_on_the_user": (user(inline_policies=(InlinePolicy(name="p", size=10),)), "user-has-attached-policies", True),
    "policies_only_through_groups": (user(groups=("g",), group_policies=("arn:aws:iam::aws:policy/ReadOnlyAccess",)), "user-has-attached-policies", False),
    "admin_without_mfa": (user(admin=True, admin_via=("group Admins policy AdministratorAccess",)), "admin-without-mfa", True),
    "admin_with_mfa": (user(admin=True, mfa_active=True), "admin-without-mfa", False),
    "nine_groups_is_near_the_quota": (user(groups=tuple(f"g{i}" for i in range(9))), "user-groups-near-quota", True),
    "eight_groups": (user(groups=tuple(f"g{i}" for i in range(8))), "user-groups-near-quota", False),
    "nine_managed_policies": (user(attached_policies=tuple(f"arn:aws:iam::aws:policy/P{i}" for i in range(9))), "user-policies-near-quota", True),
    "eight_managed_policies": (user(attached_policies=tuple(f"arn:aws:iam::aws:policy/P{i}" for i in range(8))), "user-policies-near-quota", False),
    "inline_policies_of_1843_characters": (user(inline_policies=(InlinePolicy(name="a", size=1000), InlinePolicy(name="b", size=843))), "inline-policy-near-limit", True),
    "inline_policies_of_1842_characters": (user(inline_policies=(InlinePolicy(name="a", size=1842),)), "inline-policy-near-limit", False),
    "root_access_key": (user(ROOT_USER, mfa_active=True, access_keys=(key(used=200, created=300),)), "root-access-key", True),
    "root_inactive_key": (user(ROOT_USER, mfa_active=True, access_keys=(key(active=False),)), "root-access-key", False),
    "root_without_mfa": (user(ROOT_USER), "root-without-mfa", True),
    "root_used_30_days_ago": (user(ROOT_USER, mfa_active=True, password_last_used=ago(30)), "root-used-recently", True),
    "root_used_31_days_ago": (user(ROOT_USER, mfa_active=True, password_last_used=ago(31)), "root-used-recently", False),
    "root_checks_only_root": (user(access_keys=(key(),)), "root-access-key", False),
}  # fmt: skip


@pytest.mark.parametrize(("identity", "check", "fails"), THRESHOLDS.values(), ids=THRESHOLDS.keys())
def test_each_check_at_and_around_its_threshold(
    identity: Identity, check: str, fails: bool
) -> None:
    assert check in CHECKS
    assert (check in checks(identity)) is fails


def test_thresholds_are_settings() -> None:
    identity = user(access_keys=(key(created=31),))
    strict = Thresholds(key_max_age_days=30)
    assert "access-key-not-rotated" in {r.id for r in run_checks(identity, strict, NOW)}
    assert "access-key-not-rotated" not in checks(identity)


def test_every_declared_check_is_exercised_here() -> None:
    exercised = {check for _, check, fails in THRESHOLDS.values() if fails}
    assert exercised | {"users-near-quota"} == set(CHECKS)


def test_users_near_the_account_quota_are_reported_on_roots_row() -> None:
    identities = [user(f"u{i}", created=ago(1)) for i in range(4500)] + [
        user(ROOT_USER, mfa_active=True)
    ]
    report = assess(identities, LIMITS, NOW, NOBODY, as_of_source="test")
    root = report.rows[0]
    assert root.user == ROOT_USER and "users-near-quota" in root.checks
    assert [c.id for c in report.account_checks] == ["users-near-quota"]
    fewer = assess(identities[4000:], LIMITS, NOW, NOBODY, as_of_source="test")
    assert not fewer.account_checks


HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
)
ROOT = ("<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,"
        "no_information,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,"
        "N/A,N/A,false,N/A,false,N/A\n")  # fmt: skip
BOB = ("bob,arn:aws:iam::123456789012:user/bob,2024-01-01T00:00:00+00:00,true,no_information,"
       "2024-01-01T00:00:00+00:00,N/A,false,true,2024-01-01T00:00:00+00:00,N/A,N/A,N/A,"
       "false,2024-02-01T00:00:00+00:00,2024-03-01T00:00:00+00:00,us-east-1,s3,false,N/A,"
       "false,N/A\n")  # fmt: skip


def test_credential_report_missing_values_become_nothing() -> None:
    report = parse_credential_report((HEADER + ROOT + BOB).encode(), "report.csv")
    root, bob = report.rows
    assert root.user == ROOT_USER and root.password_enabled and root.password_last_used is None
    assert root.mfa_active and root.access_keys == () and root.account == "123456789012"
    assert bob.password_enabled and bob.password_last_used is None and not bob.mfa_active
    first, second = bob.access_keys
    assert first.active and first.last_used is None and first.last_used_region is None
    assert not second.active and second.last_used_service == "s3"


def test_credential_report_from_the_clis_json_carries_its_age() -> None:
    import base64

    import orjson

    body = orjson.dumps({"Content": base64.b64encode((HEADER + BOB).encode()).decode(),
                         "ReportFormat": "text/csv", "GeneratedTime": "2026-11-06T10:00:00Z"})  # fmt: skip
    report = parse_credential_report(body, "report.json")
    assert report.generated == datetime(2026, 11, 6, 10, tzinfo=UTC)
    assert [row.user for row in report.rows] == ["bob"]


MALFORMED = {
    "not_a_report": (b"name,age\nbob,3\n", "report.csv: line 1: not a credential report header"),
    "bad_time": ((HEADER + ROOT + BOB.replace("2024-01-01T00:00:00+00:00,true", "yesterday,true", 1)).encode(), "report.csv: line 3: user_creation_time is not a time"),
    "bad_flag": ((HEADER + BOB.replace(",false,true,", ",maybe,true,", 1)).encode(), "report.csv: line 2: mfa_active is not true or false"),
    "short_row": ((HEADER + "bob,arn:aws:iam::1:user/bob,2024-01-01T00:00:00+00:00\n").encode(), "report.csv: line 2: has 22 columns"),
    "duplicate": ((HEADER + BOB + BOB).encode(), "report.csv: line 3: user 'bob' appears twice"),
    "binary": (b"\xff\xfe\x00garbage", "report.csv: not UTF-8"),
    "bad_json": (b'{"Content": "!!"}', "report.csv: line 1: JSON but not get-credential-report"),
}  # fmt: skip


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_report_names_the_file_and_line(data: bytes, message: str) -> None:
    with pytest.raises(InputFileError) as raised:
        parse_credential_report(data, "report.csv")
    assert str(raised.value).startswith(message)
