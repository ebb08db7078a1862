"""Rendering: a pure function from a finding to a Block Kit message, built with slack-sdk models.

Every event-derived string goes through ``neutralise`` into ``verbatim`` mrkdwn; the only live
links are the two buttons, built from a validated runbook URL and a validated CloudTrail event.
With interactivity on, Acknowledge and Remediate buttons carry only the finding id. Long values
are cut with a marker so Slack never rejects a message for its size.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from iamwatch.finding import Finding, LinkedEvent
from iamwatch.severity import Severity
from iamwatch.slack.escape import neutralise, truncate_plain, utf16_length
from iamwatch.slack.links import cloudtrail_event_url, is_safe_link

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_TEXT_MAX = 2000
FALLBACK_TEXT_MAX = 3000
DETAIL_VALUE_MAX = 500

SEVERITY_MARKS = {
    Severity.CRITICAL: "\U0001f6a8",
    Severity.HIGH: "\U0001f534",
    Severity.MEDIUM: "\U0001f7e0",
    Severity.LOW: "\U0001f7e1",
    Severity.INFO: "\u26aa",
}

# The only bold labels a message contains; everything else in mrkdwn is neutralised text.
LABELS = (
    "Actor",
    "Target",
    "Account",
    "Region",
    "Source IP",
    "Time",
    "API call",
    "User agent",
    "Details",
    "Context",
    "Observations",
    "Recommended:",
    "Next step:",
    "Repeats:",
    "Repeat",
    "Note:",
    "Sequence",
    "Linked alerts:",
    "Findings:",
)

RUNBOOK_ACTION = "iamwatch_open_runbook"
CLOUDTRAIL_ACTION = "iamwatch_open_cloudtrail"
# Interactive buttons: the interactions endpoint dispatches on these ids (a public contract).
ACKNOWLEDGE_ACTION = "iamwatch.acknowledge"
REMEDIATE_ACTION = "iamwatch.remediate"


@dataclass(frozen=True, slots=True)
class Repeat:
    """How often a deduplicated alert has been seen, shown on the first message."""

    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A rendered, validated message: the fallback text and the blocks as JSON-ready dicts."""

    text: str
    blocks: tuple[Mapping[str, Any], ...]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": [dict(block) for block in self.blocks]}

    def builder_json(self) -> dict[str, Any]:
        """What Slack's Block Kit Builder accepts when pasted."""
        return {"blocks": [dict(block) for block in self.blocks]}


def _bold(label: str) -> str:
    assert label in LABELS
    return f"*{label}*"


def _mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim: Slack must not auto-link URLs, channel names or mentions in this text.
    return MarkdownTextObject(text=text, verbatim=True)


def _field(label: str, value: str | None) -> MarkdownTextObject:
    prefix = f"{_bold(label)}\n"
    return _mrkdwn(prefix + neutralise(value, FIELD_TEXT_MAX - utf16_length(prefix)))


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _actor(finding: Finding) -> str:
    name = f"{finding.actor_name} ({finding.actor_kind.label})"
    if finding.actor and finding.actor != finding.actor_name:
        return f"{name} \u00b7 {finding.actor}"
    return name


def _target(finding: Finding) -> str | None:
    if finding.target is None:
        return None
    return f"{finding.target} ({finding.target_type})" if finding.target_type else finding.target


def _api_call(finding: Finding) -> str:
    service = finding.event_source.split(".", 1)[0]
    return f"{service}:{finding.event_name}"


def _listing(label: str, lines: list[tuple[str | None, str]]) -> str | None:
    """A labelled section of ``key: value`` (or bullet) lines, kept under the section limit."""
    if not lines:
        return None
    out = [_bold(label)]
    used = utf16_length(out[0])
    for index, (key, value) in enumerate(lines):
        text = neutralise(value, DETAIL_VALUE_MAX)
        line = f"{neutralise(key, 100)}: {text}" if key is not None else f"\u2022 {text}"
        # Room for this line and, if more follow, the "and N more" line.
        if used + 1 + utf16_length(line) > SECTION_TEXT_MAX - 40:
            out.append(f"\u2026and {len(lines) - index} more")
            break
        out.append(line)
        used += 1 + utf16_length(line)
    return "\n".join(out)


@cache
def remediable(detector_id: str) -> bool:
    """Whether the detector's runbook declares automated actions (so Remediate is offered)."""
    from iamwatch.runbooks import RunbookError, load_runbook

    try:
        return bool(load_runbook(detector_id).actions)
    except RunbookError:
        return False


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _interactive_buttons(finding: Finding) -> list[ButtonElement]:
    # The value is the finding id alone; the endpoint looks the finding up in the audit trail,
    # so nothing in a button can make it act on anything else.
    if not _is_uuid(finding.finding_id):
        return []
    buttons = [
        ButtonElement(
            text=PlainTextObject(text="Acknowledge", emoji=False),
            action_id=ACKNOWLEDGE_ACTION,
            value=finding.finding_id,
        )
    ]
    if remediable(finding.detector):
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Remediate\u2026", emoji=False),
                action_id=REMEDIATE_ACTION,
                value=finding.finding_id,
                style="danger",
            )
        )
    return buttons


def _buttons(finding: Finding, interactive: bool) -> list[ButtonElement]:
    buttons = []
    if is_safe_link(finding.runbook_url):
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="Open runbook", emoji=False),
                action_id=RUNBOOK_ACTION,
                url=finding.runbook_url,
                style="primary",
            )
        )
    console = cloudtrail_event_url(finding.region, finding.event_id)
    if console is not None:
        buttons.append(
            ButtonElement(
                text=PlainTextObject(text="View event in CloudTrail", emoji=False),
                action_id=CLOUDTRAIL_ACTION,
                url=console,
            )
        )
    if interactive:
        buttons.extend(_interactive_buttons(finding))
    return buttons


def header_text(finding: Finding) -> str:
    mark = SEVERITY_MARKS[finding.severity]
    title = neutralise(finding.title, HEADER_MAX)
    return truncate_plain(f"{mark} {finding.severity.value.upper()} \u00b7 {title}", HEADER_MAX)


def fallback_text(finding: Finding) -> str:
    """The notification and screen-reader text; also neutralised, it is parsed as mrkdwn."""
    head = f"[{finding.severity.value.upper()}] {neutralise(finding.title, 150)}: "
    return head + neutralise(finding.summary, FALLBACK_TEXT_MAX - utf16_length(head))


def render(
    finding: Finding,
    *,
    repeat: Repeat | None = None,
    note: str | None = None,
    interactive: bool = False,
) -> SlackMessage:
    """The alert for one finding; ``repeat`` adds the dedup count, ``note`` a context line,
    ``interactive`` the Acknowledge (and, when the runbook has actions, Remediate) buttons."""
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=header_text(finding), emoji=True)),
        SectionBlock(text=_mrkdwn(neutralise(finding.summary, SECTION_TEXT_MAX))),
        SectionBlock(
            fields=[
                _field("Actor", _actor(finding)),
                _field("Target", _target(finding)),
                _field("Account", finding.account),
                _field("Region", finding.region),
                _field("Source IP", finding.source_ip),
                _field("Time", _time(finding.event_time)),
                _field("API call", _api_call(finding)),
                _field("User agent", finding.user_agent),
            ]
        ),
    ]
    listings = (
        _listing("Sequence", [(None, _link_line(link)) for link in finding.links]),
        _listing("Details", [(k, v) for k, v in finding.details.items()]),
        _listing("Context", [(k, v) for k, v in finding.enrichment.items()]),
        _listing("Observations", [(None, note) for note in finding.observations]),
    )
    blocks.extend(SectionBlock(text=_mrkdwn(text)) for text in listings if text is not None)
    guidance = []
    if finding.recommendation:
        guidance.append(
            _mrkdwn(
                f"\U0001f4a1 {_bold('Recommended:')} {neutralise(finding.recommendation, 1800)}"
            )
        )
    guidance.append(_mrkdwn(f"{_bold('Next step:')} {neutralise(finding.next_step, 1800)}"))
    blocks.append(ContextBlock(elements=guidance))
    if repeat is not None and repeat.count > 1:
        blocks.append(
            ContextBlock(
                elements=[
                    _mrkdwn(
                        f"\U0001f501 {_bold('Repeats:')} seen {repeat.count} times, first "
                        f"{_time(repeat.first_seen)}, latest {_time(repeat.last_seen)}"
                    )
                ]
            )
        )
    if note:
        blocks.append(
            ContextBlock(elements=[_mrkdwn(f"{_bold('Note:')} {neutralise(note, 1800)}")])
        )
    buttons = _buttons(finding, interactive)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    blocks.append(ContextBlock(elements=[_mrkdwn(_footer(finding))]))
    return SlackMessage(text=fallback_text(finding), blocks=_validated(blocks))


def render_repeat(finding: Finding, count: int) -> SlackMessage:
    """A short thread reply for a repeat of an alert already posted."""
    summary = neutralise(finding.summary, SECTION_TEXT_MAX - 80)
    line = f"\U0001f501 {_bold('Repeat')} #{count}: {summary}"
    blocks: list[Block] = [
        SectionBlock(text=_mrkdwn(line)),
        ContextBlock(elements=[_mrkdwn(_footer(finding))]),
    ]
    text = f"Repeat #{count}: " + neutralise(finding.summary, FALLBACK_TEXT_MAX - 40)
    return SlackMessage(text=text, blocks=_validated(blocks))


# A folded reply lists this many repeats at most; the rest are only counted. Readers want the
# pattern (who, from where, when), and the audit trail keeps every finding anyway.
FOLDED_LISTED = 10


def render_repeats(findings: Sequence[Finding], first_count: int) -> SlackMessage:
    """One thread reply for several repeats of an alert, numbered from ``first_count``."""
    if not findings:
        raise ValueError("render_repeats needs at least one finding")
    last_count = first_count + len(findings) - 1
    times = [finding.event_time for finding in findings]
    head = (
        f"\U0001f501 {_bold('Repeats:')} #{first_count} to #{last_count}, "
        f"{len(findings)} more times from {_time(min(times))} to {_time(max(times))}"
    )
    lines: list[str] = []
    used = 0
    for offset, finding in enumerate(findings[:FOLDED_LISTED]):
        line = (
            f"\u2022 #{first_count + offset} \u00b7 {_time(finding.event_time)} \u00b7 "
            f"{neutralise(_actor(finding), 400)} \u00b7 "
            f"{neutralise(finding.source_ip, 100)}"
        )
        # Keep room for the "and N more" line under the section limit.
        if used + 1 + utf16_length(line) > SECTION_TEXT_MAX - 40:
            break
        lines.append(line)
        used += 1 + utf16_length(line)
    if len(lines) < len(findings):
        lines.append(f"\u2026and {len(findings) - len(lines)} more")
    first, last = findings[0], findings[-1]
    footer = (
        f"Findings {neutralise(first.finding_id, 200)} to {neutralise(last.finding_id, 200)}"
        f" \u00b7 {neutralise(first.detector, 200)}"
    )
    blocks: list[Block] = [
        SectionBlock(text=_mrkdwn(head)),
        SectionBlock(text=_mrkdwn("\n".join(lines))),
        ContextBlock(elements=[_mrkdwn(footer)]),
    ]
    text = f"Repeats #{first_count} to #{last_count}: " + neutralise(
        last.summary, FALLBACK_TEXT_MAX - 60
    )
    return SlackMessage(text=text, blocks=_validated(blocks))


def _link_line(link: LinkedEvent) -> str:
    return f"{_time(link.event_time)} \u00b7 {link.event_name} \u00b7 {link.summary}"


@cache
def detector_title(detector_id: str) -> str:
    """The title of a registered detector, for a linked finding; the id itself otherwise."""
    from detectors import REGISTRY

    return REGISTRY.get(detector_id).meta.title if detector_id in REGISTRY else detector_id


def render_links(finding: Finding, alerted: Callable[[str], bool]) -> SlackMessage:
    """The thread reply of a sequence alert: each event it links, and the alert iamwatch raised
    on that event on its own (``alerted`` says whether that finding was delivered here), so the
    on-call engineer finds the whole story in one thread."""
    if not finding.links:
        raise ValueError("render_links needs a finding that links events")
    lines: list[str] = []
    used = 0
    for link in finding.links[:FOLDED_LISTED]:
        if link.finding_id is None:
            own = "no alert of its own"
        else:
            state = "alerted" if alerted(link.finding_id) else "no alert delivered here yet"
            own = (
                f"{detector_title(link.detector or '')} \u00b7 finding {link.finding_id} ({state})"
            )
        line = (
            f"\u2022 {_time(link.event_time)} \u00b7 {neutralise(link.event_name, 100)} \u00b7 "
            f"{neutralise(link.summary, 600)} \u00b7 event {neutralise(link.event_id, 200)} "
            f"\u00b7 {neutralise(own, 400)}"
        )
        if used + 1 + utf16_length(line) > SECTION_TEXT_MAX - 40:
            break
        lines.append(line)
        used += 1 + utf16_length(line)
    if len(lines) < len(finding.links):
        lines.append(f"\u2026and {len(finding.links) - len(lines)} more")
    head = f"\U0001f517 {_bold('Linked alerts:')} the {len(finding.links)} events of this sequence"
    blocks: list[Block] = [
        SectionBlock(text=_mrkdwn(head)),
        SectionBlock(text=_mrkdwn("\n".join(lines))),
        ContextBlock(elements=[_mrkdwn(_footer(finding))]),
    ]
    text = "Linked alerts: " + neutralise(
        "; ".join(f"{link.event_name} {_time(link.event_time)}" for link in finding.links),
        FALLBACK_TEXT_MAX - 40,
    )
    return SlackMessage(text=text, blocks=_validated(blocks))


def _footer(finding: Finding) -> str:
    return (
        f"Finding {neutralise(finding.finding_id, 200)} \u00b7 {neutralise(finding.detector, 200)}"
        f" \u00b7 event {neutralise(finding.event_id, 400)} \u00b7 {_time(finding.event_time)}"
    )


def _validated(blocks: list[Block]) -> tuple[Mapping[str, Any], ...]:
    """slack-sdk's validators (to_dict runs them on every nested object)."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks exceed Slack's limit of {MAX_BLOCKS}")
    out = []
    for block in blocks:
        block.validate_json()
        out.append(block.to_dict())
    return tuple(out)


# A run summary lists the detectors with the most findings; the rest are only counted.
SUMMARY_DETECTORS_LISTED = 15


def render_run_summary(
    run_id: str, total: int, by_severity: Mapping[str, int], by_detector: Mapping[str, int]
) -> SlackMessage:
    """The one message of a backfill run: what its findings below critical were, counted
    (critical ones are posted as alerts of their own)."""
    run = neutralise(run_id, 100)
    severities = " \u00b7 ".join(
        f"{SEVERITY_MARKS[severity]} {severity.value} {by_severity[severity.value]:,}"
        for severity in sorted(Severity, reverse=True)
        if by_severity.get(severity.value)
    )
    ranked = sorted(by_detector.items(), key=lambda item: (-item[1], item[0]))
    lines = [
        f"\u2022 {neutralise(name, 200)}: {count:,}"
        for name, count in ranked[:SUMMARY_DETECTORS_LISTED]
    ]
    if len(ranked) > SUMMARY_DETECTORS_LISTED:
        rest = sum(count for _, count in ranked[SUMMARY_DETECTORS_LISTED:])
        lines.append(
            f"\u2026and {rest:,} more from {len(ranked) - SUMMARY_DETECTORS_LISTED} detectors"
        )
    blocks: list[Block] = [
        HeaderBlock(
            text=PlainTextObject(text=truncate_plain(f"Backfill run {run_id}", HEADER_MAX))
        ),
        SectionBlock(
            text=_mrkdwn(f"{_bold('Findings:')} {total:,} from history \u00b7 {severities}")
        ),
    ]
    if lines:
        blocks.append(SectionBlock(text=_mrkdwn("\n".join(lines))))
    blocks.append(
        ContextBlock(
            elements=[
                _mrkdwn(
                    f"Critical findings of the run are posted as alerts of their own. "
                    f"Progress and failures: iamwatch backfill --status {run}"
                )
            ]
        )
    )
    text = f"Backfill run {run}: {total:,} findings"
    return SlackMessage(text=text, blocks=_validated(blocks))
