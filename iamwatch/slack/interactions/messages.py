"""What the interactions endpoint and the remediate function say in Slack: pure functions.

Plans and outcomes name IAM users, keys and policies taken from CloudTrail, so every such string
goes through ``neutralise`` like an alert's. The only mentions are ``<@U…>`` of Slack user ids
that were checked against Slack's id format; the only other live element is the Confirm button.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from iamwatch.finding import Finding
from iamwatch.settings import SLACK_USER_ID
from iamwatch.slack.escape import (
    code_block,
    neutralise,
    single_line,
    truncate_plain,
    utf16_length,
)
from iamwatch.slack.interactions.payload import confirm_value
from iamwatch.slack.render import MAX_BLOCKS, SECTION_TEXT_MAX, SlackMessage

if TYPE_CHECKING:
    from iamwatch.remediation import AppliedAction, RemediationPlan

CONFIRM_ACTION = "iamwatch.remediate.confirm"
UNDO_ACTION = "iamwatch.remediate.undo"
# DynamoDB table names: the only thing of the deployment's shown in an undo command.
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
STATUS_BLOCK = "iamwatch.status"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LINE_MAX = 600


def mention(user_id: str) -> str:
    # The one place a mention is built: anything but a well-formed user id is a bug upstream.
    if not SLACK_USER_ID.match(user_id):
        raise ValueError("not a Slack user id")
    return f"<@{user_id}>"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _sections(lines: Iterable[str]) -> list[SectionBlock]:
    """Lines packed into as few sections as Slack's text limit allows."""
    sections: list[SectionBlock] = []
    current: list[str] = []
    used = 0
    for line in lines:
        size = utf16_length(line) + 1  # Slack counts UTF-16 units
        if current and used + size > SECTION_TEXT_MAX - 100:
            sections.append(SectionBlock(text=_mrkdwn("\n".join(current))))
            current, used = [], 0
        current.append(line)
        used += size
    if current:
        sections.append(SectionBlock(text=_mrkdwn("\n".join(current))))
    return sections


def _message(text: str, blocks: Sequence[Block]) -> SlackMessage:
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], ContextBlock(elements=[_mrkdwn("\u2026cut short")])]
    out = []
    for block in blocks:
        block.validate_json()
        out.append(block.to_dict())
    return SlackMessage(text=truncate_plain(text, 3000), blocks=tuple(out))


def safe(text: str) -> str:
    """Text that may hold names from events (an error naming a step), made inert."""
    return neutralise(text, 1000)


def notice(text: str) -> SlackMessage:
    """A one-section message of text that is already safe mrkdwn (built here, not from events)."""
    return _message(text, [SectionBlock(text=_mrkdwn(text))])


def with_status(blocks: Sequence[Mapping[str, Any]], line: str) -> list[dict[str, Any]]:
    """The alert's blocks with ``line`` as its status, replacing an earlier status and placed
    above the footer; everything else is kept as Slack holds it."""
    kept = [dict(block) for block in blocks if block.get("block_id") != STATUS_BLOCK]
    status = ContextBlock(block_id=STATUS_BLOCK, elements=[_mrkdwn(line)]).to_dict()
    at = len(kept) - 1 if kept and kept[-1].get("type") == "context" else len(kept)
    kept.insert(at, status)
    return kept[-MAX_BLOCKS:] if len(kept) > MAX_BLOCKS else kept


def acknowledged_line(user_id: str, at: datetime) -> str:
    return f"\u2705 Acknowledged by {mention(user_id)} at {_time(at)}"


def _step_lines(plan: RemediationPlan) -> list[str]:
    lines: list[str] = []
    for number, step in enumerate(plan.steps, 1):
        lines.append(f"*{number}.* {neutralise(step.summary, _LINE_MAX)}")
        # The real command, pasteable: validated names, not neutralised prose.
        lines.append(f"\u2003CLI: {code_block(step.command, _LINE_MAX)}")
        undo = "Undo" if step.reversible else "Cannot be undone"
        lines.append(f"\u2003{undo}: {neutralise(step.undo, _LINE_MAX)}")
    for skipped in plan.not_applicable:
        lines.append(
            f"\u2022 {neutralise(skipped.action.value, 60)} does not apply: "
            f"{neutralise(skipped.reason, _LINE_MAX)}"
        )
    return lines


def plan_message(
    finding: Finding, plan: RemediationPlan, alert_ts: str | None, required: int
) -> SlackMessage:
    """The plan, shown only to the approver who clicked Remediate, with a Confirm button."""
    title = neutralise(finding.title, 150)
    target = neutralise(finding.target, 200)
    account = neutralise(finding.account, 20)
    head = f"*Remediation plan* for {title} (target {target}, account {account})"
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(head))]
    if not plan.steps:
        blocks.extend(_sections(_step_lines(plan)))
        blocks.append(
            ContextBlock(
                elements=[_mrkdwn("No automated action applies; follow the runbook by hand.")]
            )
        )
        return _message(f"No automated remediation applies to {title}", blocks)
    blocks.extend(_sections(_step_lines(plan)))
    irreversible = len(plan.irreversible)
    warning = (
        f" {irreversible} of them cannot be undone." if irreversible else " Each can be undone."
    )
    approval = (
        " A second, different approver must also confirm this plan within an hour."
        if required > 1
        else ""
    )
    dialog = truncate_plain(
        f"iamwatch will make {len(plan.steps)} change(s) in AWS account "
        f"{single_account(finding.account)} with its remediation role.{warning}{approval}",
        300,
    )
    blocks.append(
        ContextBlock(
            elements=[
                _mrkdwn(
                    f"Plan {plan.digest[:12]} \u00b7 applied by the remediate function after you "
                    f"confirm; the outcome and undo commands go to the alert's thread.{approval}"
                )
            ]
        )
    )
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    text=PlainTextObject(text="Confirm remediation", emoji=False),
                    action_id=CONFIRM_ACTION,
                    value=confirm_value(finding.finding_id, plan.digest, alert_ts),
                    style="danger",
                    confirm=ConfirmObject(
                        title=PlainTextObject(text="Apply this remediation?", emoji=False),
                        text=PlainTextObject(text=dialog, emoji=False),
                        confirm=PlainTextObject(text="Apply", emoji=False),
                        deny=PlainTextObject(text="Cancel", emoji=False),
                        style="danger",
                    ),
                )
            ]
        )
    )
    return _message(f"Remediation plan for {title}", blocks)


def single_account(account: str | None) -> str:
    return account if account is not None and account.isdigit() else "(unknown)"


def awaiting_second_approval(first: str, deadline: datetime) -> SlackMessage:
    return notice(
        f"\U0001f510 {mention(first)} approved the remediation of this critical finding. A second, "
        f"different approver must click *Remediate\u2026* and confirm the same plan before "
        f"{_time(deadline)}."
    )


def queued(approvers: Sequence[str], *, undo: bool = False) -> SlackMessage:
    who = " and ".join(mention(user) for user in approvers)
    what = "Undo" if undo else "Remediation"
    return notice(f"\u23f3 {what} approved by {who} and queued; the outcome will be posted here.")


def undo_command(action_id: str, audit_table: str | None) -> str:
    """The command an operator runs to undo a step with their own credentials, against the
    deployment's DynamoDB audit trail, where the step was recorded."""
    command = f"iamwatch remediate --undo {action_id}"
    if audit_table is not None and _TABLE.match(audit_table):
        command += f" --audit dynamodb://{audit_table}"
    return command


def outcome(
    applied: Sequence[AppliedAction],
    approvers: Sequence[str],
    error: str | None = None,
    audit_table: str | None = None,
) -> SlackMessage:
    """The thread reply after the remediate function ran: each step, its before and after, how
    to undo it (an Undo button when the remediation role can put it back itself, else the
    command to run with one's own credentials) or that it cannot be, and the error that
    stopped it, if one did."""
    from iamwatch.remediation import UNDO_IN_AWS

    who = " and ".join(mention(user) for user in approvers)
    head = (
        f"\u274c Remediation approved by {who} stopped: {neutralise(error, 1000)}"
        if error is not None
        else f"\U0001f6e0\ufe0f Remediation approved by {who} applied."
    )
    lines = [head]
    buttons: list[ButtonElement] = []
    for number, done in enumerate(applied, 1):
        if done.refused is not None:
            lines.append(f"\u2022 {neutralise(done.step.summary, _LINE_MAX)}: refused")
            lines.append(f"\u2003{neutralise(done.refused, _LINE_MAX)}")
            continue
        status = "done" if done.changed else "already in place, nothing changed"
        lines.append(f"\u2022 {neutralise(done.step.summary, _LINE_MAX)}: {status}")
        lines.append(f"\u2003before {_state(done.before)} \u2192 after {_state(done.after)}")
        valid = _UUID.match(done.action_id) is not None
        action_id = done.action_id if valid else "(invalid id)"
        if done.step.reversible and done.changed:
            lines.append(f"\u2003Undo: `{undo_command(action_id, audit_table)}`")
            if valid and done.step.action in UNDO_IN_AWS:
                buttons.append(_undo_button(number, done))
        elif not done.step.reversible:
            lines.append(f"\u2003Cannot be undone: {neutralise(done.step.undo, _LINE_MAX)}")
    text = "Remediation stopped" if error is not None else "Remediation applied"
    blocks: list[Block] = list(_sections(lines))
    if buttons:
        blocks.append(ActionsBlock(elements=buttons[:25]))
    return _message(text, blocks)


def _undo_button(number: int, done: AppliedAction) -> ButtonElement:
    label = {"deactivate-access-key": "reactivate the key", "quarantine-user": "lift quarantine"}
    what = label.get(done.step.action.value, "undo")
    dialog = truncate_plain(
        f"Undo step {number}: {single_line(done.step.summary)}. It {done.step.undo}. The "
        "remediate function applies it once approved.",
        300,
    )
    return ButtonElement(
        text=PlainTextObject(text=f"Undo {number}: {what}", emoji=False),
        action_id=UNDO_ACTION,
        value=done.action_id,
        confirm=ConfirmObject(
            title=PlainTextObject(text="Undo this step?", emoji=False),
            text=PlainTextObject(text=dialog, emoji=False),
            confirm=PlainTextObject(text="Undo", emoji=False),
            deny=PlainTextObject(text="Cancel", emoji=False),
        ),
    )


def undone(action: AppliedAction, approvers: Sequence[str]) -> SlackMessage:
    """The thread reply after an undo approved in Slack was applied."""
    who = " and ".join(mention(user) for user in approvers)
    status = "undone" if action.changed else "already back as it was, nothing changed"
    return notice(
        f"\u21a9\ufe0f Undo approved by {who}: {neutralise(action.step.summary, _LINE_MAX)}: "
        f"{status} (before {_state(action.before)} \u2192 after {_state(action.after)})."
    )


def _state(state: Mapping[str, Any]) -> str:
    # A saved inline policy document belongs in the audit trail, not in the channel.
    return neutralise(
        ", ".join(
            f"{key}={'(saved in the audit trail)' if key == 'document' else value}"
            for key, value in state.items()
        ),
        300,
    )
