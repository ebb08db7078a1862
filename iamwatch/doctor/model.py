"""A check's outcome and the report of a run, with the exit code the CLI documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    FAIL = "fail"
    # AWS or Slack could not be read for this check (access denied, unreachable): unknown.
    ERROR = "error"
    # Does not apply to this deployment (e.g. Slack through an incoming webhook).
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str

    @classmethod
    def passed(cls, name: str, detail: str) -> Check:
        return cls(name, Status.PASS, detail)

    @classmethod
    def failed(cls, name: str, detail: str) -> Check:
        return cls(name, Status.FAIL, detail)

    @classmethod
    def unreadable(cls, name: str, detail: str) -> Check:
        return cls(name, Status.ERROR, detail)


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 5


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.checks.append(check)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.FAIL]

    @property
    def unreadable(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.ERROR]

    @property
    def healthy(self) -> bool:
        return not self.failed and not self.unreadable

    @property
    def exit_code(self) -> int:
        """1 when a check failed; else 5 when some check could not be read; else 0."""
        if self.failed:
            return EXIT_FAILED
        if self.unreadable:
            return EXIT_UNREADABLE
        return EXIT_OK

    def as_json(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "checks": [
                {"name": c.name, "status": c.status.value, "detail": c.detail} for c in self.checks
            ],
        }
