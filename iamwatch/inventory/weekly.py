"""What changed since the last snapshot, and what iamwatch says about it: the Slack digest
(new people in IAM, keys that crossed the age limit, new dormant users) and posture findings
for checks an identity newly fails. Pure: the snapshot store and Slack are the caller's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from iamwatch.finding import Finding, finding_id_for
from iamwatch.inventory.checks import CHECKS, POSTURE
from iamwatch.inventory.model import Inventory, Kind, Row
from iamwatch.inventory.output import figures
from iamwatch.principal import PrincipalKind
from iamwatch.slack.escape import neutralise
from iamwatch.slack.render import SlackMessage

_LIST_MAX = 15


@dataclass
class Changes:
    first: bool
    new_humans: list[str] = field(default_factory=list)
    aged_keys: list[str] = field(default_factory=list)
    new_dormant: list[str] = field(default_factory=list)
    # (row, check id) an identity fails now and did not at the last snapshot.
    new_failures: list[tuple[Row, str]] = field(default_factory=list)


def compare(
    inventory: Inventory,
    previous: Callable[[Row], Mapping[str, Any] | None],
    key_max_age_days: int,
    first: bool,
) -> Changes:
    """``previous(row)`` is what the last snapshot said of that identity (None: not in it)."""
    changes = Changes(first=first)
    if first:
        return changes
    for row in inventory.rows:
        before = previous(row)
        kind_before = before.get("kind") if before else None
        if row.kind is Kind.HUMAN and kind_before != Kind.HUMAN.value:
            changes.new_humans.append(row.user)
        if row.kind is Kind.DORMANT and kind_before not in (None, Kind.DORMANT.value):
            changes.new_dormant.append(row.user)
        ages = (before or {}).get("key_ages") or {}
        for key in row.evidence["access_keys"]:
            age = key["age_days"]
            if not key["active"] or age is None or age <= key_max_age_days:
                continue
            old = ages.get(str(key["id"] or key["slot"]))
            if old is None or old <= key_max_age_days:
                changes.aged_keys.append(f"{row.user} {key['id'] or 'key ' + str(key['slot'])}")
        failed_before = set((before or {}).get("checks") or ())
        changes.new_failures += [(row, check) for check in row.checks if check not in failed_before]
    return changes


def posture_url(runbook_base_url: str, check: str) -> str:
    """docs/inventory.md beside the runbooks folder (the runbooks are per detector)."""
    base = runbook_base_url.rstrip("/")
    root = base[: -len("/runbooks")] if base.endswith("/runbooks") else base
    return f"{root}/docs/inventory.md#{check}"


def posture_findings(
    inventory: Inventory, changes: Changes, runbook_base_url: str
) -> list[Finding]:
    day = inventory.as_of.date().isoformat()
    found = []
    for row, check in changes.new_failures:
        spec = CHECKS[check]
        detail = next((item.detail for item in row.check_details if item.id == check), "")
        event_id = f"{POSTURE}:{row.account or '-'}:{row.arn}:{check}:{day}"
        is_root = row.kind is Kind.ROOT
        found.append(
            Finding(
                finding_id=finding_id_for(POSTURE, event_id),
                detector=POSTURE,
                severity=spec.severity,
                title=spec.title,
                summary=f"{row.user} ({row.kind.value}) now fails {check}: {detail}. "
                f"Move to {row.recommendation.value}: {row.reason}.",
                actor=row.arn,
                actor_kind=PrincipalKind.ROOT if is_root else PrincipalKind.IAM_USER,
                actor_name="root" if is_root else row.user,
                target="root" if is_root else row.user,
                target_type="root" if is_root else "iam-user",
                account=row.account,
                event_time=inventory.as_of,
                event_name=check,
                event_source="iamwatch.inventory",
                event_id=event_id,
                dedup_key=f"{POSTURE}:{row.account or '-'}:{row.arn}:{check}",
                runbook_url=posture_url(runbook_base_url, check),
                recommendation=f"{row.recommendation.value}: {row.reason}",
                next_step=row.next_steps[0] if row.next_steps else spec.threshold,
                details={"check": check, "source": spec.source, "kind": row.kind.value},
            )
        )
    return found


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_LIST_MAX])
    more = len(items) - _LIST_MAX
    return shown + (f" and {more} more" if more > 0 else "") if items else "none"


def digest(inventory: Inventory, changes: Changes, key_max_age_days: int) -> SlackMessage:
    """The weekly Slack message. Every IAM-derived string is neutralised, as in alerts."""
    numbers = figures(inventory)
    kinds = ", ".join(f"{count} {kind}" for kind, count in numbers["kind"].items() if count)
    moves = ", ".join(
        f"{count} to {move}" for move, count in numbers["recommendation"].items() if count
    )
    account = inventory.account or "several accounts"
    title = f"IAM inventory of {account}"
    lines = [f"{numbers['identities']} identities: {kinds}.", f"Recommended: {moves}."]
    if changes.first:
        lines.append(
            f"First inventory: {numbers['failing']} identities fail checks. From the next "
            "one on, new failures are raised as findings."
        )
    else:
        lines += [
            f"New people in IAM: {_names(changes.new_humans)}.",
            f"Keys past {key_max_age_days} days: {_names(changes.aged_keys)}.",
            f"Newly dormant: {_names(changes.new_dormant)}.",
            f"New check failures: {len(changes.new_failures)} (raised as findings).",
        ]
    text = "\n".join(neutralise(line, 700) for line in lines)
    blocks = [
        HeaderBlock(text=neutralise(title, 140)),
        SectionBlock(text=MarkdownTextObject(text=text, verbatim=True)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=neutralise(f"As of {inventory.as_of:%Y-%m-%d %H:%M} UTC", 200),
                    verbatim=True,
                )
            ]
        ),
    ]
    return SlackMessage(
        text=neutralise(f"{title}: {numbers['identities']} identities", 300),
        blocks=tuple(block.to_dict() for block in blocks),
    )
