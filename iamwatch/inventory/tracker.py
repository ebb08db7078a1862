"""The inventory kept current between snapshots by the event stream, in the state store.

A snapshot (the weekly function, or ``iamwatch inventory --state``) stores each identity
under ``inventory#<account>#<user>``; records then change what they change (a user created,
a key created or switched on or off, a console password set or removed, MFA switched off, a
sign-in, a call with a long-term key) and the identity is classified again on look-up, with
the same rules as the report. Only records that reach detection are seen (those some
detector is routed), which include the IAM calls that create credentials.
Replaying a record changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from iamwatch.events import CloudTrailRecord
from iamwatch.inventory.checks import Thresholds
from iamwatch.inventory.classify import classify
from iamwatch.inventory.model import ROOT_USER, AccessKey, Identity, Row
from iamwatch.inventory.view import KnownIdentity
from iamwatch.protected import ProtectedPrincipals
from iamwatch.state import StateStore
from iamwatch.text import bounded_key

_HISTORY = 10  # event names kept per identity, newest last
TAKEN = "inventory-taken"


def identity_key(account: str | None, user: str) -> str:
    return bounded_key(f"inventory#{account or '-'}#{user}")


class StateInventory:
    """``InventoryView`` over a ``StateStore``, and the observer that keeps it current."""

    def __init__(
        self,
        state: StateStore,
        thresholds: Thresholds | None = None,
        protected: ProtectedPrincipals | None = None,
    ) -> None:
        self._state = state
        self._thresholds = thresholds or Thresholds()
        self._protected = protected or ProtectedPrincipals()

    # The snapshot -----------------------------------------------------------------------

    def stored(self, account: str | None, user: str) -> dict[str, Any] | None:
        raw = self._state.recall(identity_key(account, user))
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def _store(self, identity: Identity, snapshot: dict[str, Any] | None) -> None:
        body = {"identity": identity.model_dump(mode="json"), "snapshot": snapshot}
        self._state.remember(
            identity_key(identity.account, identity.user), orjson.dumps(body).decode()
        )

    def take(self, identities: Iterable[Identity], rows: Iterable[Row], as_of: datetime) -> None:
        """Store a snapshot: each identity, and what the report said of it (for next week's
        comparison)."""
        by_arn = {row.arn: row for row in rows}
        accounts: set[str] = set()
        for identity in identities:
            row = by_arn.get(identity.arn)
            snapshot = None
            if row is not None:
                snapshot = {
                    "as_of": as_of.isoformat(),
                    "kind": row.kind.value,
                    "checks": list(row.checks),
                    "key_ages": {
                        str(key["id"] or key["slot"]): key["age_days"]
                        for key in row.evidence["access_keys"]
                        if key["active"]
                    },
                }
            self._store(identity.model_copy(update={"changed_by_events": ()}), snapshot)
            accounts.add(identity.account or "-")
        for account in accounts:
            self._state.remember(f"{TAKEN}#{account}", as_of.isoformat())

    def last_taken(self, account: str | None) -> datetime | None:
        value = self._state.recall(f"{TAKEN}#{account or '-'}")
        return datetime.fromisoformat(value) if value else None

    # The view ---------------------------------------------------------------------------

    def identity(self, account: str | None, user: str) -> Identity | None:
        known = self._known(account, user)
        return None if known is None else known[0]

    def _known(self, account: str | None, user: str) -> tuple[Identity, Any] | None:
        """The stored identity and its snapshot; parsed once per stored value, as every call
        a user makes looks it up (a busy user's value rarely changes: once a day at most)."""
        raw = self._state.recall(identity_key(account, user))
        return None if raw is None else _parsed(raw)

    def lookup(self, account: str | None, user: str, at: datetime) -> KnownIdentity | None:
        identity = self.identity(account, user)
        if identity is None:
            return None
        found = classify(identity, self._thresholds, at, self._protected)
        return KnownIdentity(
            user=identity.user,
            kind=found.kind.value,
            recommendation=found.recommendation.value,
            protected=found.protected,
            as_of=at,
        )

    # The event stream -------------------------------------------------------------------

    def observe(self, record: CloudTrailRecord) -> None:
        """Apply what a successful record changes to the identity it concerns."""
        if record.failed:
            return
        account = record.account_id
        caller = record.user_identity
        if caller.type == "Root":
            self._update(account, ROOT_USER, record, _used(record))
        elif caller.type == "IAMUser" and caller.user_name:
            self._update(account, caller.user_name, record, _used(record))
        if record.event_source != "iam.amazonaws.com":
            return
        target = record.request.get_str("userName") or (
            caller.user_name if caller.type == "IAMUser" else None
        )
        name = record.event_name
        if name == "CreateUser":
            user = record.response.get_str("user", "userName") or target
            if user and self.stored(account, user) is None:
                arn = (
                    record.response.get_str("user", "arn") or f"arn:aws:iam::{account}:user/{user}"
                )
                self._store(
                    Identity(user=user, arn=arn, account=account, created=record.event_time,
                             changed_by_events=("CreateUser",)),
                    None,
                )  # fmt: skip
            return
        if target is None or name not in _CHANGES:
            return
        self._update(account, target, record, _CHANGES[name])

    def _update(
        self, account: str | None, user: str, record: CloudTrailRecord, change: Any
    ) -> None:
        known = self._known(account, user)
        if known is None:
            return
        identity, snapshot = known
        changed = change(identity, record)
        if changed is None or changed == identity:
            return
        history = (*identity.changed_by_events, record.event_name)[-_HISTORY:]
        changed = changed.model_copy(update={"changed_by_events": history})
        self._store(changed, snapshot)


@lru_cache(maxsize=1024)
def _parsed(raw: str) -> tuple[Identity, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    return Identity.model_validate(value["identity"]), value.get("snapshot")


def _used(record: CloudTrailRecord) -> Any:
    """The caller used a credential: a console sign-in, or a call with a long-term key."""

    def apply(identity: Identity, record: CloudTrailRecord) -> Identity | None:
        when = record.event_time
        if record.event_name == "ConsoleLogin":
            if identity.password_last_used and identity.password_last_used.date() >= when.date():
                return None
            return identity.model_copy(update={"password_last_used": when})
        key_id = record.user_identity.access_key_id or ""
        if not key_id.startswith("AKIA"):
            return None
        keys = []
        changed = False
        for key in identity.access_keys:
            if key.key_id == key_id and (
                key.last_used is None or key.last_used.date() < when.date()
            ):
                key = key.model_copy(
                    update={"last_used": when, "last_used_region": record.aws_region,
                            "last_used_service": record.event_source.split(".")[0]}
                )  # fmt: skip
                changed = True
            keys.append(key)
        return identity.model_copy(update={"access_keys": tuple(keys)}) if changed else None

    return apply


def _key_created(identity: Identity, record: CloudTrailRecord) -> Identity | None:
    key_id = record.response.get_str("accessKey", "accessKeyId")
    if key_id and any(key.key_id == key_id for key in identity.access_keys):
        return None
    used = {key.slot for key in identity.access_keys}
    slot = next((slot for slot in (1, 2) if slot not in used), len(used) + 1)
    key = AccessKey(slot=slot, active=True, key_id=key_id, created=record.event_time)
    return identity.model_copy(update={"access_keys": (*identity.access_keys, key)})


def _key_status(identity: Identity, record: CloudTrailRecord) -> Identity | None:
    key_id = record.request.get_str("accessKeyId")
    active = (record.request.get_str("status") or "").lower() == "active"
    keys = tuple(
        key.model_copy(update={"active": active}) if key.key_id == key_id else key
        for key in identity.access_keys
    )
    return identity.model_copy(update={"access_keys": keys})


def _key_deleted(identity: Identity, record: CloudTrailRecord) -> Identity | None:
    key_id = record.request.get_str("accessKeyId")
    keys = tuple(key for key in identity.access_keys if key.key_id != key_id)
    return identity.model_copy(update={"access_keys": keys})


def _password(enabled: bool) -> Any:
    def apply(identity: Identity, record: CloudTrailRecord) -> Identity:
        return identity.model_copy(
            update={"password_enabled": enabled, "password_last_changed": record.event_time}
        )

    return apply


def _mfa(active: bool) -> Any:
    def apply(identity: Identity, record: CloudTrailRecord) -> Identity:
        return identity.model_copy(update={"mfa_active": active})

    return apply


def _tags(identity: Identity, record: CloudTrailRecord) -> Identity:
    tags = dict(identity.tags)
    if record.event_name == "TagUser":
        for tag in record.request.get_list("tags"):
            if isinstance(tag, dict) and isinstance(tag.get("key"), str):
                tags[tag["key"]] = str(tag.get("value", ""))
    else:
        for key in record.request.get_list("tagKeys"):
            tags.pop(str(key), None)
    return identity.model_copy(update={"tags": tags})


_CHANGES: dict[str, Any] = {
    "CreateAccessKey": _key_created,
    "UpdateAccessKey": _key_status,
    "DeleteAccessKey": _key_deleted,
    "CreateLoginProfile": _password(True),
    "DeleteLoginProfile": _password(False),
    "EnableMFADevice": _mfa(True),
    "DeactivateMFADevice": _mfa(False),
    "TagUser": _tags,
    "UntagUser": _tags,
}
