"""A flood of requests Slack did not sign costs iamwatch no writes (issue 12, defect 12).

Every refused request used to be written to the audit table: anyone who found the URL could
make iamwatch write as fast as the stage's throttle allowed. Requests that Slack did not sign
(and replays of ones it did) are now only logged, at most a few per source address a minute
(each container keeps the count), counted in the SlackInteractions metric, and answered 429
once a source is over its budget; Slack's own requests are verified and handled as before.
"""

from __future__ import annotations

from typing import Any

from iamwatch.slack.render import ACKNOWLEDGE_ACTION
from tests.integration.test_handler_interactions import (
    Stack,
    button,
    iam_user_with_key,
    key_created,
)
from tests.interactions import click, form, signed_headers


def refused_records(stack: Stack) -> list[Any]:
    return stack.audit("interaction-refused")


def test_a_flood_of_forged_requests_writes_nothing_and_is_cut_off_per_source(
    stack: Stack, log_lines: Any
) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    value = button(alert, ACKNOWLEDGE_ACTION)["value"]
    body = form(click(ACKNOWLEDGE_ACTION, value, alert=alert, user="U0MALLORY1"))
    forged = signed_headers(body, secret="not-the-apps-signing-secret")
    log_lines()

    flood = [stack.send(body, forged, source_ip="203.0.113.66")["statusCode"] for _ in range(60)]
    other = [stack.send(body, {}, source_ip="198.51.100.23")["statusCode"] for _ in range(3)]

    assert refused_records(stack) == [], "an unverified request cost an audit write"
    assert flood[:10] == [401] * 10
    assert set(flood[30:]) == {429}
    assert other == [401, 401, 401], "one source's flood does not cut off another"
    logged = [line["message"] for line in log_lines()]
    assert logged.count("slack interaction refused") == 10 + 3, logged
    assert logged.count("slack interaction source over its budget") == 1

    # Slack's own click, from yet another address, is verified and acted on as ever.
    real = form(click(ACKNOWLEDGE_ACTION, value, alert=alert))
    assert stack.send(real, signed_headers(real), source_ip="3.3.3.3")["statusCode"] == 200
    assert len(stack.audit("finding-acknowledged")) == 1


def test_a_replayed_signed_request_is_refused_without_a_write(stack: Stack) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    body = form(click(ACKNOWLEDGE_ACTION, button(alert, ACKNOWLEDGE_ACTION)["value"], alert=alert))
    headers = signed_headers(body)
    assert stack.send(body, headers)["statusCode"] == 200
    assert [stack.send(body, headers)["statusCode"] for _ in range(5)] == [401] * 5
    assert refused_records(stack) == []
    assert len(stack.audit("finding-acknowledged")) == 1
