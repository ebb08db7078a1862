"""Messages about iamwatch itself, for the alarm channel: a CloudWatch alarm relayed from the
alarm topic, or the doctor's failed checks. Pure functions to Block Kit, every value escaped
(an alarm's reason quotes metric values and names iamwatch gave its resources, but nothing here
is trusted to stay that way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from iamwatch.slack.escape import neutralise, truncate_plain
from iamwatch.slack.render import SlackMessage

if TYPE_CHECKING:
    from iamwatch.doctor.model import Report

_STATES = {"ALARM": "\U0001f6a8", "OK": "\u2705", "INSUFFICIENT_DATA": "\u2754"}


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _message(text: str, blocks: Sequence[Block]) -> SlackMessage:
    for block in blocks:
        block.validate_json()
    return SlackMessage(
        text=truncate_plain(text, 3000), blocks=tuple(block.to_dict() for block in blocks)
    )


def alarm_message(message: str, subject: str | None = None) -> SlackMessage:
    """A CloudWatch alarm notification (the SNS message body), or any other text published to
    the alarm topic, as a Slack message."""
    try:
        alarm = orjson.loads(message)
    except orjson.JSONDecodeError:
        alarm = None
    if not isinstance(alarm, dict) or "AlarmName" not in alarm:
        title = neutralise(subject or "iamwatch operational notice", 150)
        body = neutralise(message, 2800)
        return _message(f"iamwatch: {title}", [SectionBlock(text=_mrkdwn(f"*{title}*\n{body}"))])
    state = str(alarm.get("NewStateValue") or "?")
    name = neutralise(str(alarm.get("AlarmName")), 200)
    description = neutralise(alarm.get("AlarmDescription"), 600, empty="")
    reason = neutralise(alarm.get("NewStateReason"), 1500, empty="")
    when = neutralise(alarm.get("StateChangeTime"), 40, empty="")
    mark = _STATES.get(state, "\u2754")
    head = f"{mark} *iamwatch alarm* {name} is *{neutralise(state, 30)}*"
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(f"{head}\n{description}".strip()))]
    if reason:
        blocks.append(SectionBlock(text=_mrkdwn(reason)))
    if when:
        blocks.append(ContextBlock(elements=[_mrkdwn(f"Since {when}")]))
    return _message(f"iamwatch alarm {state}: {alarm.get('AlarmName')}", blocks)


def doctor_message(report: Report) -> SlackMessage:
    """The doctor's failed (and unreadable) checks, one line each."""
    problems = [*report.failed, *report.unreadable]
    lines = [
        f"\u2022 *{neutralise(check.name, 100)}*: {check.status.value}: "
        f"{neutralise(check.detail, 400)}"
        for check in problems
    ]
    head = (
        f"\U0001fa7a *iamwatch doctor*: {len(problems)} check(s) failed; iamwatch may be blind "
        "to some events. Run `iamwatch doctor` for the full report."
    )
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(head))]
    chunk: list[str] = []
    for line in lines:
        if sum(len(item) + 1 for item in chunk) + len(line) > 2800:
            blocks.append(SectionBlock(text=_mrkdwn("\n".join(chunk))))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(SectionBlock(text=_mrkdwn("\n".join(chunk))))
    return _message("iamwatch doctor: checks failed", blocks[:50])
