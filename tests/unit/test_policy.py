"""Admin detection in policy ARNs and documents, which CloudTrail logs as JSON strings."""

from __future__ import annotations

from urllib.parse import quote

import orjson
import pytest

from iamwatch.policy import admin_managed_policy_name, grants_admin


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", "AdministratorAccess"),
        ("arn:aws:iam::aws:policy/IAMFullAccess", "IAMFullAccess"),
        ("arn:aws-us-gov:iam::aws:policy/AdministratorAccess", "AdministratorAccess"),
        ("arn:aws:iam::123456789012:policy/AdministratorAccess", None),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", None),
        ("arn:aws:iam::aws:policy/AdministratorAccess-Amplify", None),
        ("arn:aws:iam::aws:policy/job-function/AdministratorAccess", None),
        (None, None),
    ],
)
def test_admin_managed_policy(arn: str | None, expected: str | None) -> None:
    assert admin_managed_policy_name(arn) == expected


def _doc(*statements: object) -> str:
    return orjson.dumps({"Version": "2012-10-17", "Statement": list(statements)}).decode()


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


@pytest.mark.parametrize(
    ("document", "admin"),
    [
        (_doc(ALLOW_ALL), True),
        (quote(_doc(ALLOW_ALL)), True),
        (orjson.dumps({"Statement": ALLOW_ALL}).decode(), True),
        (_doc({"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": ["*"]}), True),
        (_doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}), True),
        (_doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}), False),
        (_doc({"Effect": "Deny", "Action": "*", "Resource": "*"}), False),
        (_doc({**ALLOW_ALL, "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}), False),
        (_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), False),
        ("{not json", False),
        ('"a string"', False),
        (None, False),
        (_doc("not a statement"), False),
    ],
)
def test_grants_admin(document: object, admin: bool) -> None:
    assert grants_admin(document) is admin
