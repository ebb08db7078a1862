"""Fixtures several integration modules share: the Slack-buttons stack on moto and the loopback
Slack server (defined with its tests in test_handler_interactions.py)."""

from tests.integration.test_handler_interactions import managed_policies, stack

__all__ = ["managed_policies", "stack"]
