"""What detectors and remediation may ask the inventory: is this IAM user a person or a
program, is it protected. A port of the detection context (``DetectionContext.inventory``);
kept free of heavy imports, as every detection path loads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KnownIdentity:
    user: str
    kind: str  # iamwatch.inventory.model.Kind values
    recommendation: str
    # Why it is protected (break-glass tag or IAMWATCH_PROTECTED_PRINCIPALS), or None.
    protected: str | None
    # When the inventory last saw it: a snapshot, or an event since.
    as_of: datetime


class InventoryView(Protocol):
    def lookup(self, account: str | None, user: str, at: datetime) -> KnownIdentity | None:
        """The user as known at ``at`` (the last snapshot plus the events since); None when
        the inventory has never seen it."""
        ...


class NoInventory:
    """No inventory taken: every look-up answers None."""

    def lookup(self, account: str | None, user: str, at: datetime) -> KnownIdentity | None:
        return None
