"""Slack buttons: the signed-request endpoint (Acknowledge, Remediate, Confirm) and the
application of remediations approved there (docs/slack.md, "Buttons and approvals")."""
