"""identity-provider-changed: who may sign in changed: Identity Center's identity source, or an
IAM SAML or OIDC identity provider."""

from collections.abc import Iterator

from detectors._common import IAM, IDENTITY_CENTER, IDENTITY_STORE, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

# Identity Center's identity source: a directory, or an external IdP configured for it.
_SOURCE_VERBS = {
    "AssociateDirectory": "connected a directory to IAM Identity Center as its identity source",
    "DisassociateDirectory": "disconnected the identity source directory of IAM Identity Center",
    "UpdateDirectoryAssociation": "changed the identity source directory of IAM Identity Center",
    "CreateExternalIdPConfigurationForDirectory": "configured an external identity provider for "
    "IAM Identity Center",
    "UpdateExternalIdPConfigurationForDirectory": "changed the external identity provider of "
    "IAM Identity Center",
    "EnableExternalIdPConfigurationForDirectory": "made an external identity provider the "
    "identity source of IAM Identity Center",
    "DisableExternalIdPConfigurationForDirectory": "switched off the external identity provider "
    "of IAM Identity Center",
    "DeleteExternalIdPConfigurationForDirectory": "deleted the external identity provider "
    "configuration of IAM Identity Center",
}
# IAM federation: SAML and OIDC providers whose users may assume roles that trust them.
_PROVIDER_VERBS = {
    "CreateSAMLProvider": "created SAML identity provider",
    "UpdateSAMLProvider": "replaced the metadata (signing certificates) of SAML identity provider",
    "DeleteSAMLProvider": "deleted SAML identity provider",
    "CreateOpenIDConnectProvider": "created OIDC identity provider",
    "DeleteOpenIDConnectProvider": "deleted OIDC identity provider",
    "UpdateOpenIDConnectProviderThumbprint": "replaced the certificate thumbprints of OIDC "
    "identity provider",
    "AddClientIDToOpenIDConnectProvider": "added an audience (client id) to OIDC identity provider",
    "RemoveClientIDFromOpenIDConnectProvider": "removed an audience (client id) from OIDC "
    "identity provider",
}
_SSO_EVENTS = frozenset(
    {"AssociateDirectory", "DisassociateDirectory", "UpdateDirectoryAssociation"}
)

META = DetectorMeta(
    id="identity-provider-changed",
    title="Identity provider changed",
    severity=Severity.HIGH,
    description=(
        "the identity source of Identity Center changed (sso / sso-directory: associate or "
        "disassociate a directory, create, update, enable, disable or delete an external IdP "
        "configuration); IAM SAML and OIDC providers created, updated or deleted (thumbprints "
        "and client ids included)"
    ),
    severity_rules="Always high.",
    next_step="Confirm the change with the identity team; if nobody planned it, revert it and "
    "review the sign-ins it allowed.",
    asff_type="TTPs/Persistence",
    attack_techniques=("T1484.002", "T1556.007"),
    events={
        IDENTITY_CENTER: _SSO_EVENTS,
        IDENTITY_STORE: frozenset(_SOURCE_VERBS) - _SSO_EVENTS,
        IAM: frozenset(_PROVIDER_VERBS),
    },
    # Its 17 events would take the main rule's pattern past EventBridge's 2,048 characters.
    own_rule="identity-source",
    recommendation=(
        "Change identity sources and federation providers only through reviewed infrastructure "
        "code, by a small group, with a second person watching."
    ),
)


def _provider(record: CloudTrailRecord) -> str | None:
    request, response = record.request, record.response
    return (
        request.get_str("sAMLProviderArn")
        or response.get_str("sAMLProviderArn")
        or request.get_str("openIDConnectProviderArn")
        or response.get_str("openIDConnectProviderArn")
        or request.get_str("url")
        or request.get_str("name")
    )


def _directory(record: CloudTrailRecord) -> str | None:
    request = record.request
    return (
        request.get_str("directoryId")
        or request.get_str("identityStoreId")
        or request.get_str("instanceArn")
    )


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    if record.event_source == IAM:
        provider = _provider(record)
        verb = _PROVIDER_VERBS.get(record.event_name, "changed identity provider")
        yield Hit(
            summary=f"{who(record)} {verb} {provider or '(unknown)'} {where(record)}.",
            target=provider,
            target_type="identity-provider",
            details={"provider": provider} if provider else {},
        )
        return
    directory = _directory(record)
    verb = _SOURCE_VERBS.get(
        record.event_name, "changed the identity source of IAM Identity Center"
    )
    yield Hit(
        summary=f"{who(record)} {verb}"
        + (f" (directory {directory})" if directory else "")
        + f" {where(record)}.",
        target=directory,
        target_type="identity-source",
        details={"directoryId": directory} if directory else {},
    )
