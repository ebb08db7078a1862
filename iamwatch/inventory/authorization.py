"""GetAccountAuthorizationDetails: users, their groups, policies, boundaries and tags.

Read from the JSON ``aws iam get-account-authorization-details`` prints (the CLI merges its
pages), or from the pages of the live call. Whether a user is an administrator is worked out
here, from what is attached to it and to its groups: the AWS managed AdministratorAccess or
IAMFullAccess, or any policy (managed or inline) whose document allows ``*`` (or ``iam:*``)
on ``*`` (``iamwatch.policy``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from iamwatch.inventory.credential_report import InputFileError
from iamwatch.inventory.model import InlinePolicy
from iamwatch.policy import admin_managed_policy_name, grants_admin, parse_policy_document


@dataclass(frozen=True, slots=True)
class UserDetail:
    user: str
    arn: str
    created: datetime | None
    groups: tuple[str, ...]
    attached_policies: tuple[str, ...]
    group_policies: tuple[str, ...]
    inline_policies: tuple[InlinePolicy, ...]
    admin_via: tuple[str, ...]
    boundary: str | None
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class AuthorizationDetails:
    users: dict[str, UserDetail] = field(default_factory=dict)


def policy_size(document: Any) -> int:
    """What IAM counts against the inline policy size quota: the JSON without whitespace."""
    parsed = parse_policy_document(document)
    text = orjson.dumps(parsed).decode() if parsed is not None else str(document)
    return sum(1 for char in text if not char.isspace())


class _Reader:
    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, message: str) -> InputFileError:
        return InputFileError(f"{self.name}: {where}: {message}")

    def items(self, document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = document.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.fail(key, "must be a list of objects")
        return value

    def text(self, item: Mapping[str, Any], key: str, where: str) -> str:
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"no {key}")
        return value

    def moment(self, item: Mapping[str, Any], key: str, where: str) -> datetime | None:
        value = item.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(where, f"{key} is not a time") from None
        return moment if moment.tzinfo is not None else None

    def arns(self, item: Mapping[str, Any], where: str) -> tuple[str, ...]:
        attached = item.get("AttachedManagedPolicies", [])
        if not isinstance(attached, list):
            raise self.fail(where, "AttachedManagedPolicies must be a list")
        return tuple(
            str(policy["PolicyArn"])
            for policy in attached
            if isinstance(policy, dict) and isinstance(policy.get("PolicyArn"), str)
        )

    def inline(self, item: Mapping[str, Any], key: str, where: str) -> tuple[InlinePolicy, ...]:
        found = []
        for index, policy in enumerate(self.items(item, key)):
            name = self.text(policy, "PolicyName", f"{where}.{key}[{index}]")
            document = policy.get("PolicyDocument")
            found.append(
                InlinePolicy(name=name, size=policy_size(document), admin=grants_admin(document))
            )
        return tuple(found)


def _admin_documents(policies: Iterable[Mapping[str, Any]]) -> set[str]:
    """ARNs of the managed policies whose default version grants admin."""
    admins = set()
    for policy in policies:
        for version in policy.get("PolicyVersionList") or []:
            default = isinstance(version, dict) and version.get("IsDefaultVersion")
            if default and grants_admin(version.get("Document")):
                admins.add(str(policy.get("Arn")))
    return admins


def read_authorization_details(
    pages: Iterable[Mapping[str, Any]], name: str
) -> AuthorizationDetails:
    reader = _Reader(name)
    users: list[Mapping[str, Any]] = []
    groups: dict[str, Mapping[str, Any]] = {}
    policies: list[Mapping[str, Any]] = []
    for page in pages:
        users += reader.items(page, "UserDetailList")
        for index, group in enumerate(reader.items(page, "GroupDetailList")):
            groups[reader.text(group, "GroupName", f"GroupDetailList[{index}]")] = group
        policies += reader.items(page, "Policies")
    admin_arns = _admin_documents(policies)

    def admin_reasons(arns: Iterable[str], owner: str) -> list[str]:
        reasons = []
        for arn in arns:
            named = admin_managed_policy_name(arn)
            if named or arn in admin_arns:
                reasons.append(f"{owner} policy {named or arn}")
        return reasons

    details: dict[str, UserDetail] = {}
    for index, item in enumerate(users):
        where = f"UserDetailList[{index}]"
        user = reader.text(item, "UserName", where)
        group_names = item.get("GroupList", [])
        if not isinstance(group_names, list) or not all(isinstance(g, str) for g in group_names):
            raise reader.fail(where, "GroupList must be a list of group names")
        attached = reader.arns(item, where)
        inline = reader.inline(item, "UserPolicyList", where)
        via = admin_reasons(attached, "user")
        via += [f"inline policy {policy.name}" for policy in inline if policy.admin]
        group_arns: list[str] = []
        for group_name in group_names:
            if group_name not in groups:
                continue
            group = groups[group_name]
            arns = reader.arns(group, f"group {group_name}")
            group_arns += arns
            via += admin_reasons(arns, f"group {group_name}")
            for policy in reader.inline(group, "GroupPolicyList", f"group {group_name}"):
                if policy.admin:
                    via.append(f"group {group_name} inline policy {policy.name}")
        boundary = item.get("PermissionsBoundary")
        tags = item.get("Tags", [])
        if not isinstance(tags, list):
            raise reader.fail(where, "Tags must be a list")
        details[user] = UserDetail(
            user=user,
            arn=reader.text(item, "Arn", where),
            created=reader.moment(item, "CreateDate", where),
            groups=tuple(group_names),
            attached_policies=attached,
            group_policies=tuple(dict.fromkeys(group_arns)),
            inline_policies=inline,
            admin_via=tuple(dict.fromkeys(via)),
            boundary=boundary.get("PermissionsBoundaryArn") if isinstance(boundary, dict) else None,
            tags={
                str(tag.get("Key")): str(tag.get("Value", ""))
                for tag in tags
                if isinstance(tag, dict) and tag.get("Key") is not None
            },
        )
    return AuthorizationDetails(users=details)


def parse_authorization_details(data: bytes, name: str) -> AuthorizationDetails:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InputFileError(f"{name}: line {error.lineno}: not JSON ({error.msg})") from None
    if not isinstance(document, dict) or "UserDetailList" not in document:
        raise InputFileError(
            f"{name}: line 1: not get-account-authorization-details output (no UserDetailList)"
        )
    return read_authorization_details([document], name)
