"""Protected (break-glass and critical) principals: who iamwatch must never treat as ordinary.

Two sources, the same everywhere: the setting ``IAMWATCH_PROTECTED_PRINCIPALS`` (user or role
names, or ARNs, shell-style globs, comma-separated in the environment or a list in TOML), and
the IAM tag ``iamwatch:break-glass`` on the user or role. The inventory recommends ``keep`` for
a protected user with MFA and no access keys; remediation may refuse to act on one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

SETTING = "IAMWATCH_PROTECTED_PRINCIPALS"
BREAK_GLASS_TAG = "iamwatch:break-glass"
# A tag set to one of these says "not break-glass" (someone turned it off without untagging).
_OFF_VALUES = frozenset({"false", "no", "0", "off"})
# IAM name characters, ARN punctuation and glob characters: anything else is a typo.
_PATTERN = re.compile(r"^[\w+=,.@:/*?\[\]!-]{1,2048}$")


class ProtectedPatternError(ValueError):
    """A pattern in IAMWATCH_PROTECTED_PRINCIPALS cannot name a principal."""


def parse_patterns(value: object) -> tuple[str, ...]:
    """The setting's patterns: from ``"breakglass,arn:aws:iam::*:role/Admin*"`` or a list;
    duplicates dropped, order kept; raises ``ProtectedPatternError`` naming a bad one."""
    if value is None:
        return ()
    items: Iterable[object]
    items = value.split(",") if isinstance(value, str) else value  # type: ignore[assignment]
    if not isinstance(items, Iterable):
        raise ProtectedPatternError("must be names or ARNs separated by commas")
    found: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ProtectedPatternError("must be names or ARNs separated by commas")
        pattern = item.strip()
        if not pattern:
            continue
        if not _PATTERN.match(pattern):
            raise ProtectedPatternError(
                f"{pattern!r} is not a user or role name or ARN (globs * ? [] allowed)"
            )
        found.append(pattern)
    return tuple(dict.fromkeys(found))


def break_glass_tagged(tags: Mapping[str, str] | None) -> bool:
    if not tags or BREAK_GLASS_TAG not in tags:
        return False
    return tags[BREAK_GLASS_TAG].strip().lower() not in _OFF_VALUES


@dataclass(frozen=True, slots=True)
class ProtectedPrincipals:
    """Matches principals against the setting's patterns and the break-glass tag. A pattern
    starting with ``arn:`` is matched against the ARN, any other against the name."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def from_setting(cls, value: object) -> ProtectedPrincipals:
        return cls(parse_patterns(value))

    def why(
        self,
        *,
        name: str | None,
        arn: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str | None:
        """Why the principal is protected (for a reason line), or None when it is not."""
        if break_glass_tagged(tags):
            return f"tagged {BREAK_GLASS_TAG}"
        for pattern in self.patterns:
            subject = arn if pattern.startswith("arn:") else name
            if subject is not None and fnmatchcase(subject, pattern):
                return f"listed in {SETTING} ({pattern})"
        return None

    def matches(
        self,
        *,
        name: str | None,
        arn: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> bool:
        return self.why(name=name, arn=arn, tags=tags) is not None
