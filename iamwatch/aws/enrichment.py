"""Alert-time context about the IAM user a finding is about, from read-only IAM calls.

Each look-up needs some IAM actions (``LOOKUPS``); for a finding, only the look-ups whose
actions its detector declares in ``enrichment_permissions`` are made, and the deployed roles are
granted the union of those declarations (``python -m iamwatch.aws.routing``). Every look-up is
independent: a failure (throttling, AccessDenied, a user deleted since) is logged and skipped,
so an alert is never lost for lack of context. Results are cached for the invocation, since one
event can raise several findings about the same user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iamwatch.finding import Finding

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from mypy_boto3_iam import IAMClient

    from iamwatch.registry import Registry

# Each look-up (a ``UserContext`` attribute) and the IAM actions it calls.
LOOKUPS: dict[str, tuple[str, ...]] = {
    "tags": ("iam:ListUserTags",),
    "mfa_devices": ("iam:ListMFADevices",),
    "has_console_password": ("iam:GetLoginProfile",),
    "access_keys": ("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"),
    "groups": ("iam:ListGroupsForUser",),
    "permissions_boundary": ("iam:GetUser",),
}
# Every IAM action IamEnricher can call: what a detector may declare for enrichment.
ENRICHMENT_ACTIONS = tuple(sorted({action for actions in LOOKUPS.values() for action in actions}))


def _catalogue() -> Registry:
    from detectors import REGISTRY

    return REGISTRY


def lookups_for(permissions: Iterable[str]) -> tuple[str, ...]:
    """The look-ups these permissions allow: those whose every action is among them."""
    granted = set(permissions)
    return tuple(name for name, actions in LOOKUPS.items() if granted.issuperset(actions))


_OWNER_TAGS = ("owner", "Owner", "team", "Team")
_PURPOSE_TAGS = ("purpose", "Purpose", "description", "Description")


@dataclass(frozen=True, slots=True)
class AccessKeyInfo:
    key_id: str
    status: str
    age_days: int | None
    last_used: datetime | None


@dataclass(slots=True)
class UserContext:
    user_name: str
    tags: dict[str, str] | None = None
    mfa_devices: int | None = None
    has_console_password: bool | None = None
    access_keys: list[AccessKeyInfo] | None = None
    groups: list[str] | None = None
    permissions_boundary: str | None = None
    boundary_known: bool = False
    errors: list[str] = field(default_factory=list)
    # The look-ups made (successful or not), so none is repeated in the invocation.
    done: set[str] = field(default_factory=set)

    def only(self, lookups: Collection[str]) -> UserContext:
        """This context as if only ``lookups`` had been made."""
        return UserContext(
            user_name=self.user_name,
            **{name: getattr(self, name) for name in LOOKUPS if name in lookups},
            boundary_known=self.boundary_known and "permissions_boundary" in lookups,
            errors=[e for e in self.errors if e.split(":")[0] in lookups],
            done=self.done & set(lookups),
        )

    def facts(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.tags is not None:
            owner = next((self.tags[t] for t in _OWNER_TAGS if t in self.tags), None)
            purpose = next((self.tags[t] for t in _PURPOSE_TAGS if t in self.tags), None)
            found["owner"] = owner or "(no owner tag)"
            if purpose:
                found["purpose"] = purpose
        if self.mfa_devices is not None:
            found["mfa_devices"] = str(self.mfa_devices)
        if self.has_console_password is not None:
            found["console_password"] = "yes" if self.has_console_password else "no"
        if self.access_keys is not None:
            found["access_keys"] = (
                ", ".join(
                    f"{k.key_id} {k.status}"
                    + (f" {k.age_days}d old" if k.age_days is not None else "")
                    + (f", last used {k.last_used:%Y-%m-%d}" if k.last_used else ", never used")
                    for k in self.access_keys
                )
                or "none"
            )
        if self.groups is not None:
            found["groups"] = ", ".join(self.groups) or "none"
        if self.boundary_known:
            found["permissions_boundary"] = self.permissions_boundary or "none"
        return found

    def observations(self) -> list[str]:
        """What makes this user riskier than the finding alone says."""
        notes = []
        if self.access_keys is not None:
            active = [k for k in self.access_keys if k.status == "Active"]
            if len(active) > 1:
                notes.append(f"the user has {len(active)} active access keys")
            stale = [k for k in active if k.age_days is not None and k.age_days > 90]
            if stale:
                notes.append(f"{len(stale)} active access key(s) older than 90 days")
        if self.has_console_password and self.mfa_devices == 0:
            notes.append("the user has a console password and no MFA device")
        if self.tags is not None and not any(t in self.tags for t in _OWNER_TAGS):
            notes.append("the user has no owner tag")
        return notes


class IamEnricher:
    """Read-only IAM look-ups, cached for one invocation (call ``reset`` between them).

    A finding gets the look-ups its detector's ``enrichment_permissions`` allow, from
    ``registry`` (by default the detector catalogue); a finding whose detector declares none,
    or is not registered, is left as it is.
    """

    def __init__(
        self,
        client: IAMClient,
        log: Callable[[str, dict[str, Any]], None],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        account_id: str | None = None,
        *,
        registry: Registry | None = None,
    ) -> None:
        self._client = client
        self._log = log
        self._now = now
        # IAM answers only for the account the client is in; other accounts' users (findings
        # forwarded from an organization) would need a role there, so they are not looked up.
        self._account_id = account_id
        self._registry = registry
        self._cache: dict[str, UserContext] = {}
        self._lookups: dict[str, tuple[str, ...]] = {}

    def reset(self) -> None:
        self._cache.clear()

    def lookups(self, detector_id: str) -> tuple[str, ...]:
        """The look-ups made for the detector's findings."""
        cached = self._lookups.get(detector_id)
        if cached is None:
            registry = self._registry if self._registry is not None else _catalogue()
            declared = (
                registry.get(detector_id).meta.enrichment_permissions
                if detector_id in registry
                else ()
            )
            cached = self._lookups[detector_id] = lookups_for(declared)
        return cached

    def enrich(self, finding: Finding) -> Finding:
        if finding.target_type != "iam-user" or not finding.target:
            return finding
        if self._account_id and finding.account and finding.account != self._account_id:
            return finding
        lookups = self.lookups(finding.detector)
        if not lookups:
            return finding
        context = self.user(finding.target, lookups).only(lookups)
        return finding.model_copy(
            update={"enrichment": context.facts(), "observations": tuple(context.observations())}
        )

    def user(self, user_name: str, lookups: Collection[str] = tuple(LOOKUPS)) -> UserContext:
        """What the look-ups found about the user (all of them unless ``lookups`` says), each
        made at most once in the invocation."""
        context = self._cache.setdefault(user_name, UserContext(user_name=user_name))
        fetchers: dict[str, Callable[[], Any]] = {
            "tags": lambda: self._tags(user_name),
            "mfa_devices": lambda: self._mfa_devices(user_name),
            "has_console_password": lambda: self._has_login_profile(user_name),
            "access_keys": lambda: self._access_keys(user_name),
            "groups": lambda: self._groups(user_name),
            "permissions_boundary": lambda: self._boundary(user_name),
        }
        for name, fetch in fetchers.items():
            if name in lookups and name not in context.done:
                context.done.add(name)
                if self._try(context, name, fetch) and name == "permissions_boundary":
                    context.boundary_known = True
        return context

    def _try(self, context: UserContext, name: str, fetch: Callable[[], Any]) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            setattr(context, name, fetch())
        except (ClientError, BotoCoreError) as error:
            code = (
                error.response.get("Error", {}).get("Code", "error")
                if isinstance(error, ClientError)
                else type(error).__name__
            )
            context.errors.append(f"{name}: {code}")
            self._log("enrichment failed", {"lookup": name, "error": code})
            return False
        return True

    def _tags(self, user: str) -> dict[str, str]:
        tags = self._client.list_user_tags(UserName=user).get("Tags", [])
        return {tag["Key"]: tag["Value"] for tag in tags}

    def _mfa_devices(self, user: str) -> int:
        return len(self._client.list_mfa_devices(UserName=user).get("MFADevices", []))

    def _has_login_profile(self, user: str) -> bool:
        try:
            self._client.get_login_profile(UserName=user)
        except self._client.exceptions.NoSuchEntityException:
            return False
        return True

    def _access_keys(self, user: str) -> list[AccessKeyInfo]:
        keys = []
        for key in self._client.list_access_keys(UserName=user).get("AccessKeyMetadata", []):
            key_id = key.get("AccessKeyId", "")
            created = key.get("CreateDate")
            age = (self._now() - created).days if created else None
            used = self._client.get_access_key_last_used(AccessKeyId=key_id)
            last_used = used.get("AccessKeyLastUsed", {}).get("LastUsedDate")
            keys.append(AccessKeyInfo(key_id, key.get("Status", "?"), age, last_used))
        return keys

    def _groups(self, user: str) -> list[str]:
        groups = self._client.list_groups_for_user(UserName=user).get("Groups", [])
        return [group["GroupName"] for group in groups]

    def _boundary(self, user: str) -> str | None:
        boundary = self._client.get_user(UserName=user)["User"].get("PermissionsBoundary")
        return boundary.get("PermissionsBoundaryArn") if boundary else None
