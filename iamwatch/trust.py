"""Who a role's trust policy lets assume the role, beyond the accounts it may trust.

Trust policies reach CloudTrail as the caller wrote them (JSON text, sometimes URL-encoded):
every element may be a string or a list, keys and shapes may be wrong or missing. They are
attacker-controlled, so reading never raises, and a part that cannot be read opens nothing
that could be shown. What counts as opening the role:

- ``"*"``, ``{"AWS": "*"}`` or an Allow with ``NotPrincipal``: anyone, unless a condition
  restricts the caller to trusted accounts or organizations (``aws:PrincipalOrgID``,
  ``aws:PrincipalOrgPaths``, ``aws:PrincipalAccount``, ``aws:SourceAccount``,
  ``aws:PrincipalArn``, ``aws:SourceArn``, with an operator that fails when the key is absent);
- an account (id, root ARN, or a user's or role's ARN) that is not trusted;
- a SAML or OIDC provider of an account that is not trusted, a web identity provider
  (``accounts.google.com``, ...) without an audience condition, or any other federated name;
- a canonical user (an S3 owner id: which account it is cannot be told from the policy).

Service principals and the accounts trusted are never outsiders; ``sts:ExternalId`` is a
shared secret against the confused deputy, not a restriction of who may assume the role.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from iamwatch.policy import parse_policy_document

_ACCOUNT = re.compile(r"^\d{12}$")
_ARN_ACCOUNT = re.compile(r"^arn:aws(?:-[a-z]+)*:(?:iam|sts)::(?P<account>\d{12}):")
_PROVIDER = re.compile(
    r"^arn:aws(?:-[a-z]+)*:iam::(?P<account>\d{12}):(?P<kind>saml-provider|oidc-provider)/.+$"
)
# Web identity providers named without an ARN, and the condition keys that pin the audience.
_WEB_IDENTITY = frozenset(
    {
        "accounts.google.com",
        "graph.facebook.com",
        "www.amazon.com",
        "cognito-identity.amazonaws.com",
    }
)
_AUDIENCE_KEYS = (":aud", ":app_id", ":sub")
_ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount"})
_ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
_ORGANIZATION_KEYS = frozenset({"aws:principalorgid", "aws:principalorgpaths"})
# Operators that fail when the key is absent, so a caller without it is refused. (IfExists
# and ForAllValues pass on an absent key: they restrict nothing.)
_MATCHING = frozenset(
    {
        "stringequals",
        "stringequalsignorecase",
        "stringlike",
        "arnequals",
        "arnlike",
        "foranyvalue:stringequals",
        "foranyvalue:stringequalsignorecase",
        "foranyvalue:stringlike",
    }
)
_NOT_MATCHING = frozenset(
    {"stringnotequals", "stringnotequalsignorecase", "stringnotlike", "arnnotequals", "arnnotlike"}
)
_ASSUME_ACTIONS = ("sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity")
_WILDCARD = re.compile(r"[*?]")


@dataclass(frozen=True, slots=True)
class Outsider:
    """A principal outside the trusted accounts that the policy lets assume the role."""

    # "anyone", "account", "federated" or "canonical-user"
    kind: str
    # As the policy names it (an account id, an ARN, a provider, "*").
    principal: str
    # The account it belongs to, when the policy says.
    account: str | None = None

    def describe(self) -> str:
        match self.kind:
            case "anyone":
                return "anyone (*)"
            case "account":
                return f"account {self.account}"
            case "federated" if self.account is not None:
                return f"identity provider {self.principal} of account {self.account}"
            case "federated":
                return f"anyone signed in with {self.principal}"
            case _:
                return f"canonical user {self.principal}"


@dataclass(frozen=True, slots=True)
class Trust:
    """Whom a trust policy lets in from outside: empty when every principal is trusted."""

    outsiders: tuple[Outsider, ...]
    external_id_required: bool = False

    @property
    def anyone(self) -> bool:
        return any(outsider.kind == "anyone" for outsider in self.outsiders)


def review_trust(
    document: Any,
    own_account: str | None,
    trusted_accounts: Collection[str] = (),
    trusted_organizations: Collection[str] = (),
) -> Trust | None:
    """The outsiders ``document`` lets assume the role; ``None`` when it cannot be read."""
    parsed = parse_policy_document(document)
    if parsed is None:
        return None
    trusted = frozenset(trusted_accounts) | ({own_account} if own_account else frozenset())
    policy = _Policy(trusted, frozenset(trusted_organizations))
    statements = [s for s in _as_list(parsed.get("Statement")) if isinstance(s, Mapping)]
    # A Deny on everyone outside the trusted organizations/accounts closes every Allow.
    fenced = any(policy.fences(s) for s in statements if _effect(s) == "deny")
    found: dict[tuple[str, str], Outsider] = {}
    external_id = False
    for statement in statements:
        if _effect(statement) != "allow" or not _allows_assuming(statement) or fenced:
            continue
        for outsider in policy.outsiders(statement):
            found.setdefault((outsider.kind, outsider.principal), outsider)
            external_id = external_id or _requires_external_id(statement)
    return Trust(outsiders=tuple(found.values()), external_id_required=external_id)


@dataclass(frozen=True, slots=True)
class _Restriction:
    """What a statement's conditions pin the caller to: trusted (nothing from outside gets
    in), some accounts (those of them that are not trusted are outsiders), or nothing."""

    trusted: bool = False
    accounts: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class _Policy:
    trusted: frozenset[str]
    organizations: frozenset[str]

    def outsiders(self, statement: Mapping[str, Any]) -> Iterator[Outsider]:
        restriction = self._restriction(_conditions(statement))
        if restriction.trusted:
            return
        if "NotPrincipal" in statement:
            yield from self._anyone(restriction)
            return
        principal = statement.get("Principal")
        if principal == "*":
            yield from self._anyone(restriction)
            return
        if not isinstance(principal, Mapping):
            return
        conditions = _conditions(statement)
        for kind, values in principal.items():
            for value in _strings(values):
                yield from self._named(str(kind), value.strip(), restriction, conditions)

    def _named(
        self,
        kind: str,
        value: str,
        restriction: _Restriction,
        conditions: Mapping[str, Any],
    ) -> Iterator[Outsider]:
        match kind:
            case "AWS" if value == "*":
                yield from self._anyone(restriction)
            case "AWS":
                account = _account_of(value)
                if account is not None and account not in self.trusted:
                    yield Outsider("account", value, account)
            case "Federated":
                yield from self._federated(value, conditions)
            case "CanonicalUser":
                yield Outsider("canonical-user", value)

    def _anyone(self, restriction: _Restriction) -> Iterator[Outsider]:
        if restriction.accounts is None:
            yield Outsider("anyone", "*")
            return
        for account in sorted(restriction.accounts - self.trusted):
            yield Outsider("account", account, account)

    def _federated(self, value: str, conditions: Mapping[str, Any]) -> Iterator[Outsider]:
        provider = _PROVIDER.match(value)
        if provider is not None:
            if provider.group("account") not in self.trusted:
                yield Outsider("federated", value, provider.group("account"))
            return
        if value.lower() in _WEB_IDENTITY and _pins_audience(value.lower(), conditions):
            return
        yield Outsider("federated", value)

    def _restriction(self, conditions: Mapping[str, Any]) -> _Restriction:
        accounts: frozenset[str] | None = None
        for operator, key, values in _condition_entries(conditions):
            if operator not in _MATCHING or not values:
                continue
            if key in _ORGANIZATION_KEYS and self._trusted_organizations(key, values):
                return _Restriction(trusted=True)
            named = self._accounts_named(key, values)
            if named is None:
                continue
            if named <= self.trusted:
                return _Restriction(trusted=True)
            # Several keys must all hold: the caller is in every set at once.
            accounts = named if accounts is None else accounts & named
        return _Restriction(accounts=accounts)

    def fences(self, statement: Mapping[str, Any]) -> bool:
        """A Deny of assuming the role to everyone whose organization or account is not one
        of the trusted ones: every Allow is then restricted to them."""
        if not _allows_assuming(statement) or "NotPrincipal" in statement:
            return False
        principal = statement.get("Principal")
        if principal != "*" and not (
            isinstance(principal, Mapping) and "*" in _strings(principal.get("AWS"))
        ):
            return False
        for operator, key, values in _condition_entries(_conditions(statement)):
            if operator not in _NOT_MATCHING or not values:
                continue
            if key in _ORGANIZATION_KEYS and self._trusted_organizations(key, values):
                return True
            named = self._accounts_named(key, values)
            if named is not None and named <= self.trusted:
                return True
        return False

    def _trusted_organizations(self, key: str, values: list[str]) -> bool:
        # An org path is <org id>/<root>/<ou>/...: what follows the id may well be a wildcard,
        # the id itself may not.
        ids = {
            value.split("/", 1)[0] if key == "aws:principalorgpaths" else value for value in values
        }
        if any(_WILDCARD.search(value) for value in ids):
            return False
        if not self.organizations:
            # No organization configured: a condition naming one is taken as the deployer's.
            return True
        return ids <= self.organizations

    @staticmethod
    def _accounts_named(key: str, values: list[str]) -> frozenset[str] | None:
        """The accounts an account or ARN condition allows; ``None`` when it allows any."""
        if key in _ACCOUNT_KEYS:
            accounts = [value for value in values if _ACCOUNT.match(value)]
            return frozenset(accounts) if len(accounts) == len(values) else None
        if key in _ARN_KEYS:
            found = [_arn_account(value) for value in values]
            known = [account for account in found if account is not None]
            return frozenset(known) if len(known) == len(found) else None
        return None


def _arn_account(value: str) -> str | None:
    parts = value.split(":")
    if len(parts) < 6 or not _ACCOUNT.match(parts[4]):
        return None
    return parts[4]


def _account_of(value: str) -> str | None:
    if _ACCOUNT.match(value):
        return value
    match = _ARN_ACCOUNT.match(value)
    # Anything else (a unique id such as AROA..., which AWS writes when the principal was
    # deleted) names no account that could be outside.
    return match.group("account") if match else None


def _pins_audience(provider: str, conditions: Mapping[str, Any]) -> bool:
    return any(
        operator in _MATCHING and key.startswith(provider) and key.endswith(_AUDIENCE_KEYS)
        for operator, key, values in _condition_entries(conditions)
        if values
    )


def _requires_external_id(statement: Mapping[str, Any]) -> bool:
    return any(
        key == "sts:externalid" and operator in _MATCHING and values
        for operator, key, values in _condition_entries(_conditions(statement))
    )


def _allows_assuming(statement: Mapping[str, Any]) -> bool:
    if "NotAction" in statement:
        # Everything but some actions: assuming the role may well be among what is allowed.
        return True
    for action in _strings(statement.get("Action")):
        pattern = action.strip().lower()
        if any(fnmatchcase(assume, pattern) for assume in _ASSUME_ACTIONS):
            return True
    return False


def _effect(statement: Mapping[str, Any]) -> str:
    effect = statement.get("Effect")
    return effect.strip().lower() if isinstance(effect, str) else ""


def _conditions(statement: Mapping[str, Any]) -> Mapping[str, Any]:
    conditions = statement.get("Condition")
    return conditions if isinstance(conditions, Mapping) else {}


def _condition_entries(conditions: Mapping[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    """(operator, key, values), lower-cased operator and key (IAM compares them ignoring case)."""
    for operator, block in conditions.items():
        if not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            yield str(operator).strip().lower(), str(key).strip().lower(), _strings(values)


def _strings(value: Any) -> list[str]:
    return [item for item in _as_list(value) if isinstance(item, str)]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value] if value is not None else []


def accounts_of(outsiders: Iterable[Outsider]) -> list[str]:
    """The foreign accounts among ``outsiders``, sorted, each once."""
    return sorted({o.account for o in outsiders if o.account is not None})
