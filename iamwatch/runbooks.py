"""Runbooks: one Markdown file per detector (``runbooks/<detector id>.md``, package data).

A runbook is prose only: its ``# Title`` heading is the detector's title and its ``##``
sections are ``REQUIRED_SECTIONS``. What else the detector is (severity, the automated
remediation actions it offers) is declared once, in its module, and the contract test checks
each runbook against that declaration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

REQUIRED_SECTIONS = (
    "What happened",
    "Why it matters",
    "Triage",
    "Remediation",
    "Prevention",
    "References",
)
# The automated actions a detector may declare (iamwatch.remediation.plan plans each one).
REMEDIATION_ACTIONS = frozenset(
    {
        "deactivate-access-key",
        "delete-login-profile",
        "detach-policy",
        "remove-from-group",
        "quarantine-user",
        "restore-trust-policy",
        "disable-trust-anchor",
        "revoke-older-sessions",
    }
)
_ID = re.compile(r"[a-z0-9-]+")
_TITLE = re.compile(r"\A# (?P<title>[^\n]+?)[ \t]*$", re.MULTILINE)
_HEADING = re.compile(r"^## (?P<title>.+?)\s*$", re.MULTILINE)


class RunbookError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Runbook:
    detector_id: str
    body: str

    @property
    def title(self) -> str | None:
        """The ``# Title`` the runbook starts with."""
        match = _TITLE.match(self.body)
        return match.group("title") if match else None

    @property
    def sections(self) -> tuple[str, ...]:
        return tuple(match.group("title") for match in _HEADING.finditer(self.body))

    @property
    def actions(self) -> tuple[str, ...]:
        """The automated actions offered for the detector's findings, as it declares them."""
        return remediation_actions(self.detector_id)

    def section(self, title: str) -> str:
        matches = list(_HEADING.finditer(self.body))
        for index, match in enumerate(matches):
            if match.group("title") == title:
                end = matches[index + 1].start() if index + 1 < len(matches) else len(self.body)
                return self.body[match.end() : end].strip()
        raise KeyError(title)


def remediation_actions(detector_id: str) -> tuple[str, ...]:
    """The automated remediation actions the detector declares (none for an unknown id)."""
    from detectors import REGISTRY

    if detector_id not in REGISTRY:
        return ()
    return REGISTRY.get(detector_id).meta.remediation_actions


def runbook_ids() -> list[str]:
    """The ids of the shipped runbooks, sorted; cheap (imports no detector), for help texts."""
    return sorted(
        entry.name.removesuffix(".md")
        for entry in resources.files("runbooks").iterdir()
        if entry.name.endswith(".md") and _ID.fullmatch(entry.name.removesuffix(".md"))
    )


def runbook_text(detector_id: str) -> str:
    if not _ID.fullmatch(detector_id):
        raise RunbookError(f"{detector_id!r} is not a detector id")
    resource = resources.files("runbooks").joinpath(f"{detector_id}.md")
    if not resource.is_file():
        raise RunbookError(f"no runbook for {detector_id}")
    return resource.read_text(encoding="utf-8")


def load_runbook(detector_id: str) -> Runbook:
    return Runbook(detector_id=detector_id, body=runbook_text(detector_id))
