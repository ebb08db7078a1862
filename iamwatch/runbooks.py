"""Runbooks: one Markdown file per detector, with TOML front matter between ``+++`` lines."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

REQUIRED_SECTIONS = (
    "What happened",
    "Why it matters",
    "Triage",
    "Remediation",
    "Prevention",
    "References",
)
REMEDIATION_ACTIONS = frozenset(
    {
        "deactivate-access-key",
        "delete-login-profile",
        "detach-policy",
        "remove-from-group",
        "quarantine-user",
    }
)
_FRONT_MATTER = re.compile(r"\A\+\+\+\n(?P<toml>.*?)\n\+\+\+\n", re.DOTALL)
_HEADING = re.compile(r"^## (?P<title>.+?)\s*$", re.MULTILINE)


class RunbookError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Runbook:
    detector_id: str
    front_matter: dict[str, Any]
    body: str

    @property
    def sections(self) -> tuple[str, ...]:
        return tuple(match.group("title") for match in _HEADING.finditer(self.body))

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(self.front_matter.get("actions", ()))

    def section(self, title: str) -> str:
        matches = list(_HEADING.finditer(self.body))
        for index, match in enumerate(matches):
            if match.group("title") == title:
                end = matches[index + 1].start() if index + 1 < len(matches) else len(self.body)
                return self.body[match.end() : end].strip()
        raise KeyError(title)


def runbook_text(detector_id: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]+", detector_id):
        raise RunbookError(f"{detector_id!r} is not a detector id")
    resource = resources.files("runbooks").joinpath(f"{detector_id}.md")
    if not resource.is_file():
        raise RunbookError(f"no runbook for {detector_id}")
    return resource.read_text(encoding="utf-8")


def load_runbook(detector_id: str) -> Runbook:
    text = runbook_text(detector_id)
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise RunbookError(f"{detector_id}.md has no +++ front matter")
    try:
        front_matter = tomllib.loads(match.group("toml"))
    except tomllib.TOMLDecodeError as error:
        raise RunbookError(f"{detector_id}.md front matter: {error}") from None
    return Runbook(detector_id=detector_id, front_matter=front_matter, body=text[match.end() :])
