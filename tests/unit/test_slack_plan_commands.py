"""Plan commands in Slack are the real commands (issue 12, defect 12): shown in code blocks
with the exact characters, so a command pasted from Slack names the principal the plan names.

Prose from events is neutralised with look-alikes and zero-width spaces (iamwatch/slack/
escape.py); a command is not prose: every name in it was validated as an IAM name, and in a
code block Slack neither formats nor links. ``svc.deploy`` with a zero-width space after the
dot is another user, or none.
"""

from __future__ import annotations

import re

from iamwatch.remediation import plan_remediation
from iamwatch.slack.escape import code_block
from iamwatch.slack.interactions import messages
from iamwatch.slack.samples import sample_finding
from tests.slack_server import live_tokens, message_texts, payload_problems

CODE = re.compile(r"```(.*?)```", re.DOTALL)


def test_each_command_is_shown_verbatim_in_a_code_block() -> None:
    finding = sample_finding("access-key-created").model_copy(
        update={"target": "svc.deploy", "details": {"accessKeyId": "AKIAIOSFODNN7EXAMPLE"}}
    )
    plan = plan_remediation(finding)
    assert plan.steps
    payload = messages.plan_message(finding, plan, "1715000001.000001", 1).payload()
    shown = [block for text, _ in message_texts(payload) for block in CODE.findall(text)]
    assert shown == [step.command for step in plan.steps]
    assert any("--user-name svc.deploy " in command for command in shown)
    assert payload_problems(payload) == []
    for text, _ in message_texts(payload):
        assert live_tokens(text) == [], text


def test_only_plain_command_characters_reach_a_code_block() -> None:
    assert code_block("aws iam detach-user-policy --user-name a.b+c=d,e@f_g-h") == (
        "```aws iam detach-user-policy --user-name a.b+c=d,e@f_g-h```"
    )
    for unsafe in ("a<!channel>", "a```b", "a`b", "a&b", "a\nb", "a\u200bb", "<https://x|y>"):
        rendered = code_block(unsafe)
        assert "```" not in rendered, unsafe
        assert live_tokens(rendered) == [], unsafe
