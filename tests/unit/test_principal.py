"""Principal classification: who acted, and what they should have used instead."""

from __future__ import annotations

from typing import Any

import pytest

from iamwatch.events import UserIdentity
from iamwatch.params import Params
from iamwatch.principal import PrincipalKind, classify

SSO_ROLE = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
SSO_PATH = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/"
GITHUB_OIDC = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
IDENTITIES: list[tuple[str, dict[str, Any], dict[str, Any], PrincipalKind, str]] = [
    (
        "root",
        {
            "type": "Root",
            "principalId": "123456789012",
            "arn": "arn:aws:iam::123456789012:root",
            "accountId": "123456789012",
        },
        {},
        PrincipalKind.ROOT,
        "root",
    ),
    (
        "iam_user",
        {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEALICE",
            "userName": "alice",
            "arn": "arn:aws:iam::123456789012:user/ops/alice",
            "accountId": "123456789012",
        },
        {},
        PrincipalKind.IAM_USER,
        "alice",
    ),
    (
        "identity_center_session",
        {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:alice@example.com",
            "arn": f"arn:aws:sts::123456789012:assumed-role/{SSO_ROLE}/alice@example.com",
            "accountId": "123456789012",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "userName": SSO_ROLE,
                    "arn": SSO_PATH + SSO_ROLE,
                }
            },
        },
        {},
        PrincipalKind.IDENTITY_CENTER_USER,
        f"alice@example.com via {SSO_ROLE}",
    ),
    (
        "identity_center_user_type",
        {
            "type": "IdentityCenterUser",
            "accountId": "123456789012",
            "onBehalfOf": {
                "userId": "94482488-3041-7026-18f3-be45837cd0e4",
                "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-1",
            },
        },
        {},
        PrincipalKind.IDENTITY_CENTER_USER,
        "94482488-3041-7026-18f3-be45837cd0e4",
    ),
    (
        "saml_console_session",
        {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/Okta-Admin/carol",
            "accountId": "123456789012",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Okta-Admin"}},
        },
        {"SamlProviderArn": "arn:aws:iam::123456789012:saml-provider/Okta"},
        PrincipalKind.FEDERATED,
        "carol via Okta-Admin",
    ),
    (
        "web_identity_session",
        {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/gha-deploy/run-42",
            "accountId": "123456789012",
            "sessionContext": {
                "webIdFederationData": {"federatedProvider": GITHUB_OIDC},
                "sessionIssuer": {"type": "Role", "userName": "gha-deploy"},
            },
        },
        {},
        PrincipalKind.FEDERATED,
        "run-42 via gha-deploy",
    ),
    (
        "saml_user",
        {"type": "SAMLUser", "userName": "dave@example.com"},
        {},
        PrincipalKind.FEDERATED,
        "dave@example.com",
    ),
    (
        "plain_role_session",
        {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/ci-deployer/i-0abc",
            "accountId": "123456789012",
        },
        {},
        PrincipalKind.ASSUMED_ROLE,
        "i-0abc via ci-deployer",
    ),
    (
        "aws_service",
        {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
        {},
        PrincipalKind.AWS_SERVICE,
        "cloudtrail.amazonaws.com",
    ),
    (
        "other_account",
        {"type": "AWSAccount", "accountId": "111122223333", "principalId": "AIDAEXAMPLE"},
        {},
        PrincipalKind.AWS_ACCOUNT,
        "111122223333",
    ),
    (
        "unknown",
        {"type": "Unknown", "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        {},
        PrincipalKind.UNKNOWN,
        "HIDDEN_DUE_TO_SECURITY_REASONS",
    ),
    (
        # A SAML sign-in is federation whatever userIdentity.type claims.
        "saml_sign_in_typed_as_iam_user",
        {
            "type": "IAMUser",
            "arn": "arn:aws:iam::123456789012:user/okta-sync",
            "userName": "okta-sync",
        },
        {"SamlProviderArn": "arn:aws:iam::123456789012:saml-provider/Okta", "MFAUsed": "No"},
        PrincipalKind.FEDERATED,
        "okta-sync",
    ),
    (
        "saml_sign_in_typed_as_root",
        {"type": "Root", "arn": "arn:aws:iam::123456789012:root", "principalId": "123456789012"},
        {"SamlProviderArn": "arn:aws:iam::123456789012:saml-provider/Okta"},
        PrincipalKind.FEDERATED,
        "123456789012",
    ),
    (
        "identity_center_sign_in_unknown_type",
        {
            "type": "Unknown",
            "principalId": "123456789012",
            "arn": "",
            "userName": "bob@example.com",
        },
        {"AuthWorkflowID": "9de74b32", "CredentialType": "PASSWORD"},
        PrincipalKind.IDENTITY_CENTER_USER,
        "bob@example.com",
    ),
    (
        "identity_center_sign_in_name_typed",
        {"type": "Unknown", "principalId": "123456789012", "arn": ""},
        {"CredentialType": "PASSWORD", "UserName": "ana@example.com"},
        PrincipalKind.IDENTITY_CENTER_USER,
        "ana@example.com",
    ),
    (
        "identity_center_user_on_behalf_of",
        {
            "type": "IdentityCenterUser",
            "accountId": "123456789012",
            "onBehalfOf": {"userId": "94d00cd8-e9e6-4810-b177-b08e84725435"},
            "credentialId": "8f761cae",
        },
        {"CredentialType": "PASSWORD,TOTP"},
        PrincipalKind.IDENTITY_CENTER_USER,
        "94d00cd8-e9e6-4810-b177-b08e84725435",
    ),
]


@pytest.mark.parametrize(
    ("identity", "extra", "kind", "display"),
    [item[1:] for item in IDENTITIES],
    ids=[item[0] for item in IDENTITIES],
)
def test_classification(
    identity: dict[str, Any], extra: dict[str, Any], kind: PrincipalKind, display: str
) -> None:
    principal = classify(UserIdentity.model_validate(identity), Params(extra))
    assert principal.kind is kind
    assert principal.display == display


@pytest.mark.parametrize("kind", [PrincipalKind.ROOT, PrincipalKind.IAM_USER])
def test_long_lived_principals_carry_the_recommended_alternative(kind: PrincipalKind) -> None:
    assert kind.recommendation is not None and "Identity Center" in kind.recommendation


def test_roles_need_no_alternative() -> None:
    assert PrincipalKind.IDENTITY_CENTER_USER.recommendation is None
    assert PrincipalKind.ASSUMED_ROLE.recommendation is None
