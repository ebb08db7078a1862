"""Who acted: the kind of principal behind a CloudTrail record.

iamwatch's point of view is that humans belong in IAM Identity Center and workloads in IAM
roles, so every finding says which kind of principal acted and what the better alternative is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from iamwatch.events import UserIdentity
    from iamwatch.params import Params


class PrincipalKind(StrEnum):
    ROOT = "root"
    IAM_USER = "iam-user"
    IDENTITY_CENTER_USER = "identity-center-user"
    FEDERATED = "federated"
    ASSUMED_ROLE = "assumed-role"
    AWS_SERVICE = "aws-service"
    AWS_ACCOUNT = "aws-account"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def recommendation(self) -> str | None:
        """The better way to do what this kind of principal did, where there is one."""
        return _RECOMMENDATIONS.get(self)


_LABELS = {
    PrincipalKind.ROOT: "root user",
    PrincipalKind.IAM_USER: "IAM user",
    PrincipalKind.IDENTITY_CENTER_USER: "Identity Center user",
    PrincipalKind.FEDERATED: "federated user",
    PrincipalKind.ASSUMED_ROLE: "assumed role",
    PrincipalKind.AWS_SERVICE: "AWS service",
    PrincipalKind.AWS_ACCOUNT: "another AWS account",
    PrincipalKind.UNKNOWN: "unknown principal",
}

_RECOMMENDATIONS = {
    PrincipalKind.ROOT: (
        "Keep root for the few tasks that require it: no access keys, hardware MFA, and "
        "day-to-day administration through IAM Identity Center."
    ),
    PrincipalKind.IAM_USER: (
        "Humans should sign in through IAM Identity Center and workloads should use IAM roles "
        "(IAM Roles Anywhere outside AWS); keep IAM users for break-glass only."
    ),
}

# Identity Center provisions its roles under this path, named AWSReservedSSO_<permission set>_<id>.
_SSO_ROLE_PREFIX = "AWSReservedSSO_"
_SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"


class Principal(BaseModel):
    """The acting principal, classified and named for people."""

    model_config = ConfigDict(frozen=True)

    kind: PrincipalKind
    arn: str | None = None
    name: str | None = None
    account_id: str | None = None
    role_name: str | None = None

    @property
    def display(self) -> str:
        """A short name for alerts: ``alice``, ``root``, ``alice@example.com via <role>``."""
        if self.kind is PrincipalKind.ROOT:
            return "root"
        if self.role_name and self.name:
            return f"{self.name} via {self.role_name}"
        return self.name or self.role_name or self.arn or self.kind.label


def classify(identity: UserIdentity, additional_event_data: Params | None = None) -> Principal:
    """Classify a record's userIdentity.

    ``additional_event_data`` lets a console sign-in federated through SAML (which CloudTrail
    logs with ``SamlProviderArn``, usually as an assumed role) be recognised as federated
    whatever its userIdentity type says, and an Identity Center sign-in (userIdentity type
    "Unknown", ``CredentialType`` in additionalEventData) as an Identity Center user.
    """
    identity_type = identity.type
    arn = identity.arn
    account = identity.account_id

    if identity_type != "AssumedRole" and _saml_sign_in(additional_event_data):
        # A console sign-in through a SAML provider is federation whatever type the record
        # claims: MFA, if any, happened at the identity provider.
        name = identity.user_name or _last_segment(arn) or identity.principal_id
        return Principal(kind=PrincipalKind.FEDERATED, arn=arn, name=name, account_id=account)
    if identity_type in (None, "Unknown", "IdentityCenterUser") and _identity_center_sign_in(
        identity, additional_event_data
    ):
        return _identity_center_user(identity, additional_event_data)
    if identity_type == "Root":
        return Principal(kind=PrincipalKind.ROOT, arn=arn, name="root", account_id=account)
    if identity_type == "IAMUser":
        name = identity.user_name or _last_segment(arn)
        return Principal(kind=PrincipalKind.IAM_USER, arn=arn, name=name, account_id=account)
    if identity_type == "IdentityCenterUser":
        return _identity_center_user(identity, additional_event_data)
    if identity_type in ("SAMLUser", "WebIdentityUser", "FederatedUser"):
        name = identity.user_name or _last_segment(arn) or identity.principal_id
        return Principal(kind=PrincipalKind.FEDERATED, arn=arn, name=name, account_id=account)
    if identity_type == "AWSService":
        name = identity.invoked_by or identity.principal_id
        return Principal(kind=PrincipalKind.AWS_SERVICE, arn=arn, name=name, account_id=account)
    if identity_type == "AWSAccount":
        return Principal(
            kind=PrincipalKind.AWS_ACCOUNT,
            arn=arn,
            name=identity.account_id or identity.principal_id,
            account_id=account,
        )
    if identity_type == "AssumedRole":
        return _classify_role_session(identity, additional_event_data)
    return Principal(
        kind=PrincipalKind.UNKNOWN,
        arn=arn,
        name=identity.user_name or _last_segment(arn),
        account_id=account,
    )


def _saml_sign_in(extra: Params | None) -> bool:
    return extra is not None and extra.get_str("SamlProviderArn") is not None


# Identity Center's own sign-in events (signin.amazonaws.com CredentialChallenge,
# CredentialVerification, UserAuthentication) log the person as userIdentity type "Unknown"
# (newer records "IdentityCenterUser") and carry these in additionalEventData.
_IDENTITY_CENTER_SIGN_IN_MARKS = ("CredentialType", "AuthWorkflowID")


def _identity_center_sign_in(identity: UserIdentity, extra: Params | None) -> bool:
    if identity.on_behalf_of is not None or identity.credential_id is not None:
        return True
    return extra is not None and any(
        extra.get_str(mark) is not None for mark in _IDENTITY_CENTER_SIGN_IN_MARKS
    )


def _identity_center_user(identity: UserIdentity, extra: Params | None) -> Principal:
    on_behalf_of = identity.on_behalf_of.user_id if identity.on_behalf_of else None
    typed = extra.get_str("UserName") if extra is not None else None
    return Principal(
        kind=PrincipalKind.IDENTITY_CENTER_USER,
        # Sign-in records log an empty ARN (None here) and the account id as principalId.
        arn=identity.arn,
        name=identity.user_name or typed or on_behalf_of,
        account_id=identity.account_id,
    )


def _classify_role_session(identity: UserIdentity, extra: Params | None) -> Principal:
    context = identity.session_context
    issuer = context.session_issuer if context else None
    role_name = (issuer.user_name if issuer else None) or _role_from_session_arn(identity.arn)
    issuer_arn = issuer.arn if issuer else None
    session_name = _last_segment(identity.arn)
    common = {
        "arn": identity.arn,
        "name": session_name,
        "account_id": identity.account_id,
        "role_name": role_name,
    }
    if (role_name and role_name.startswith(_SSO_ROLE_PREFIX)) or (
        issuer_arn and _SSO_ROLE_PATH in issuer_arn
    ):
        return Principal(kind=PrincipalKind.IDENTITY_CENTER_USER, **common)
    federated_by_web_identity = bool(
        context
        and context.web_id_federation_data
        and context.web_id_federation_data.federated_provider
    )
    federated_by_saml = _saml_sign_in(extra)
    if federated_by_web_identity or federated_by_saml:
        return Principal(kind=PrincipalKind.FEDERATED, **common)
    return Principal(kind=PrincipalKind.ASSUMED_ROLE, **common)


def _last_segment(arn: str | None) -> str | None:
    if not arn or "/" not in arn:
        return None
    return arn.rsplit("/", 1)[-1] or None


def _role_from_session_arn(arn: str | None) -> str | None:
    # arn:aws:sts::123456789012:assumed-role/<role>/<session>
    if not arn or ":assumed-role/" not in arn:
        return None
    parts = arn.split(":assumed-role/", 1)[1].split("/")
    return parts[0] or None
