"""Suppression rules: known-good activity that should not alert, each owned, explained and dated.

A rule matches on any of actor (ARN or name, glob), account, detector and target (globs); all
the matchers it sets must match. A rule past its ``expires`` date stops suppressing, and the
match is reported so somebody renews or deletes it; nothing is suppressed silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from iamwatch.finding import Finding

_MATCHERS = ("actor", "account", "detector", "target")


class SuppressionRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str | None = Field(default=None, min_length=1, max_length=2048)
    account: str | None = Field(default=None, min_length=1, max_length=64)
    detector: str | None = Field(default=None, min_length=1, max_length=128)
    target: str | None = Field(default=None, min_length=1, max_length=2048)
    owner: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)
    expires: date

    @model_validator(mode="after")
    def _matches_something(self) -> SuppressionRule:
        if all(getattr(self, name) is None for name in _MATCHERS):
            raise ValueError("a rule must set at least one of actor, account, detector, target")
        return self

    def matches(self, finding: Finding) -> bool:
        if self.actor is not None and not (
            fnmatchcase(finding.actor, self.actor) or fnmatchcase(finding.actor_name, self.actor)
        ):
            return False
        if self.account is not None and not fnmatchcase(finding.account or "", self.account):
            return False
        if self.detector is not None and not fnmatchcase(finding.detector, self.detector):
            return False
        return self.target is None or (
            finding.target is not None and fnmatchcase(finding.target, self.target)
        )

    def expired(self, today: date) -> bool:
        """A rule suppresses through its ``expires`` day and stops the day after."""
        return today > self.expires

    def describe(self) -> str:
        matched = ", ".join(
            f"{name}={value}" for name in _MATCHERS if (value := getattr(self, name)) is not None
        )
        return f"[{matched}] owner {self.owner}: {self.reason} (expires {self.expires.isoformat()})"


@dataclass(frozen=True, slots=True)
class SuppressionCheck:
    """The live rule suppressing a finding, if any, and expired rules that would have."""

    rule: SuppressionRule | None
    expired: tuple[SuppressionRule, ...] = ()


def check(rules: Iterable[SuppressionRule], finding: Finding, today: date) -> SuppressionCheck:
    expired: list[SuppressionRule] = []
    for rule in rules:
        if not rule.matches(finding):
            continue
        if rule.expired(today):
            expired.append(rule)
            continue
        return SuppressionCheck(rule=rule, expired=tuple(expired))
    return SuppressionCheck(rule=None, expired=tuple(expired))
