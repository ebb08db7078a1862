"""Trust policies as attackers write them: who outside the trusted accounts may assume a role."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest

from iamwatch.trust import review_trust

OWN, PARTNER, STRANGER = "123456789012", "111122223333", "444455556666"
ORG = "o-a1b2c3d4e5"
GITHUB = f"arn:aws:iam::{STRANGER}:oidc-provider/token.actions.githubusercontent.com"


def policy(*statements: dict[str, Any]) -> str:
    return orjson.dumps({"Version": "2012-10-17", "Statement": list(statements)}).decode()


def allow(principal: Any, condition: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition is not None:
        statement["Condition"] = condition
    return {**statement, **more}


def outsiders(document: Any, **trusted: Any) -> list[tuple[str, str]]:
    trust = review_trust(
        document,
        OWN,
        trusted.get("accounts", ()),
        trusted.get("organizations", ()),
    )
    assert trust is not None
    return [(o.kind, o.principal) for o in trust.outsiders]


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("*", [("anyone", "*")]),
        ({"AWS": "*"}, [("anyone", "*")]),
        ({"AWS": ["*"]}, [("anyone", "*")]),
        ({"AWS": STRANGER}, [("account", STRANGER)]),
        ({"AWS": f"arn:aws:iam::{STRANGER}:root"}, [("account", f"arn:aws:iam::{STRANGER}:root")]),
        (
            {"AWS": [f"arn:aws:iam::{OWN}:root", f"arn:aws:sts::{STRANGER}:assumed-role/r/s"]},
            [("account", f"arn:aws:sts::{STRANGER}:assumed-role/r/s")],
        ),
        (
            {"AWS": f"arn:aws-us-gov:iam::{STRANGER}:role/x"},
            [("account", f"arn:aws-us-gov:iam::{STRANGER}:role/x")],
        ),
        ({"AWS": [OWN, f"arn:aws:iam::{OWN}:role/deployer"]}, []),
        # A deleted principal shows as its unique id: it names no account.
        ({"AWS": "AROAEXAMPLEUNIQUEID12"}, []),
        ({"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}, []),
        ({"Service": "*"}, []),
        (
            {"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"},
            [("canonical-user", "79a59df900b949e55d96a1e698fbaced")],
        ),
        ({"Federated": f"arn:aws:iam::{OWN}:saml-provider/Okta"}, []),
        ({"Federated": GITHUB}, [("federated", GITHUB)]),
        ({"Federated": "accounts.google.com"}, [("federated", "accounts.google.com")]),
        ({"Federated": "idp.example.com"}, [("federated", "idp.example.com")]),
    ],
)
def test_principals(principal: Any, expected: list[tuple[str, str]]) -> None:
    assert outsiders(policy(allow(principal))) == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"aws:PrincipalOrgID": ORG}}, []),
        ({"StringEquals": {"AWS:PrincipalOrgId": [ORG]}}, []),
        ({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"{ORG}/r-ab12/*"]}}, []),
        ({"StringEquals": {"aws:PrincipalAccount": OWN}}, []),
        ({"StringEquals": {"aws:SourceAccount": [OWN]}}, []),
        ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OWN}:role/*"}}, []),
        # Restricted to an untrusted account: that account is the outsider, not anyone.
        ({"StringEquals": {"aws:PrincipalAccount": STRANGER}}, [("account", STRANGER)]),
        (
            {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{STRANGER}:role/x"}},
            [("account", STRANGER)],
        ),
        # Not restrictions: a shared secret, an absent key passing, a wildcard.
        ({"StringEquals": {"sts:ExternalId": "secret"}}, [("anyone", "*")]),
        ({"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}, [("anyone", "*")]),
        ({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ORG}}, [("anyone", "*")]),
        ({"StringLike": {"aws:PrincipalOrgID": "o-*"}}, [("anyone", "*")]),
        ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}}, [("anyone", "*")]),
        ({"StringEquals": {"aws:PrincipalAccount": []}}, [("anyone", "*")]),
        ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, [("anyone", "*")]),
        ("not an object", [("anyone", "*")]),
    ],
)
def test_conditions_on_anyone(condition: Any, expected: list[tuple[str, str]]) -> None:
    assert outsiders(policy(allow({"AWS": "*"}, condition))) == expected


def test_settings_widen_what_is_trusted() -> None:
    document = policy(allow({"AWS": [PARTNER, STRANGER]}))
    assert outsiders(document) == [("account", PARTNER), ("account", STRANGER)]
    assert outsiders(document, accounts={PARTNER}) == [("account", STRANGER)]
    org = policy(allow("*", {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}))
    assert outsiders(org) == []
    assert outsiders(org, organizations={ORG}) == [("anyone", "*")]
    assert outsiders(org, organizations={ORG, "o-zzzzzzzzzz"}) == []


def test_web_identity_pinned_to_an_audience_is_trusted() -> None:
    google = allow(
        {"Federated": "accounts.google.com"},
        {"StringEquals": {"accounts.google.com:aud": "1234.apps.googleusercontent.com"}},
        Action="sts:AssumeRoleWithWebIdentity",
    )
    assert outsiders(policy(google)) == []


def test_only_allows_to_assume_the_role_count() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": STRANGER}, "Action": "sts:AssumeRole"}
    tag_only = allow({"AWS": STRANGER}, Action="sts:TagSession")
    assert outsiders(policy(deny, tag_only)) == []
    for action in ("*", "sts:*", "sts:Assume*", ["sts:TagSession", "STS:ASSUMEROLE"]):
        assert outsiders(policy(allow({"AWS": STRANGER}, Action=action))) == [("account", STRANGER)]
    not_action = {"Effect": "Allow", "Principal": {"AWS": STRANGER}, "NotAction": "iam:*"}
    assert outsiders(policy(not_action)) == [("account", STRANGER)]


def test_not_principal_allow_is_anyone() -> None:
    statement = {"Effect": "Allow", "NotPrincipal": {"AWS": STRANGER}, "Action": "sts:AssumeRole"}
    assert outsiders(policy(statement)) == [("anyone", "*")]


def test_a_deny_fence_on_the_organization_closes_every_allow() -> None:
    fence = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sts:AssumeRole",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": ORG}},
    }
    assert outsiders(policy(allow("*"), fence)) == []
    leaky = {**fence, "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}}}
    assert outsiders(policy(allow("*"), leaky)) == [("anyone", "*")]


def test_external_id_is_reported() -> None:
    trust = review_trust(
        policy(allow({"AWS": STRANGER}, {"StringEquals": {"sts:ExternalId": "x"}})), OWN
    )
    assert trust is not None and trust.external_id_required
    assert not trust.anyone


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text,
        lambda text: quote(text, safe=""),
        lambda text: orjson.loads(text),
        lambda text: "  \n" + text,
    ],
    ids=["json", "url-encoded", "object", "leading-space"],
)
def test_documents_as_cloudtrail_logs_them(encode: Any) -> None:
    document = policy(allow({"AWS": STRANGER}))
    assert outsiders(encode(document)) == [("account", STRANGER)]


@pytest.mark.parametrize(
    "document",
    [None, "", "{", "%7Bnot json", "[]", "42", b"{}".decode() + "x", 3, ["*"]],
)
def test_unreadable_documents_are_none(document: Any) -> None:
    assert review_trust(document, OWN) is None


@pytest.mark.parametrize(
    "statement",
    [
        "just a string",
        {"Effect": "Allow"},
        {"Effect": ["Allow"], "Principal": "*", "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": 12345}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": ["*"], "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": STRANGER}, "Action": 7},
        {
            "Effect": "Allow",
            "Principal": {"AWS": STRANGER},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": 3},
        },
    ],
)
def test_strange_statements_never_raise(statement: Any) -> None:
    trust = review_trust(orjson.dumps({"Statement": statement}).decode(), OWN)
    assert trust is not None


def test_statement_may_be_a_single_object() -> None:
    document = orjson.dumps({"Statement": allow({"AWS": STRANGER})}).decode()
    assert outsiders(document) == [("account", STRANGER)]
