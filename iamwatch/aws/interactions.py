"""The Slack interactions endpoint and the remediate function on AWS: API Gateway HTTP API
events in and out, and their cores built from the container's clients and settings."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from iamwatch.slack.interactions.flow import Answer, InteractionRequest

if TYPE_CHECKING:
    from iamwatch.aws.container import Container
    from iamwatch.slack.interactions.flow import Interactions
    from iamwatch.slack.interactions.remediate import QueuedRemediations

# Slack gives up on an interaction after 3 seconds; each Slack call gets at most this long,
# and the endpoint makes one or two.
INTERACTION_SLACK_TIMEOUT = 1


def request_from_api_gateway(event: dict[str, Any]) -> InteractionRequest:
    """An HTTP API (payload 2.0) event: headers are lower-cased, the body may be base64."""
    headers = event.get("headers") or {}
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = b""  # cannot be what was signed; refused as a bad signature
    else:
        body = raw.encode("utf-8", "surrogateescape")
    source = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
    return InteractionRequest(
        body=body,
        timestamp=headers.get("x-slack-request-timestamp"),
        signature=headers.get("x-slack-signature"),
        source_ip=source if isinstance(source, str) else None,
    )


def api_gateway_answer(answer: Answer) -> dict[str, Any]:
    return {
        "statusCode": answer.status,
        "headers": {"content-type": "text/plain; charset=utf-8"},
        "body": answer.text,
    }


class InteractivityOff:
    """The endpoint of a deployment with Slack interactivity off (the HTTP API is always
    deployed): every request is turned away without reading secrets, so stray traffic neither
    fails the function nor wakes its error alarm."""

    def handle(self, request: InteractionRequest) -> Answer:
        return Answer(
            status=404,
            outcome="refused:interactivity-off",
            text="Slack interactivity is not enabled for this iamwatch deployment.",
        )


def build_interactions(runtime: Container) -> Interactions | InteractivityOff:
    from iamwatch.aws.remediation_queue import SqsRemediationQueue
    from iamwatch.composition import slack_signing_secret_source, slack_token_source
    from iamwatch.slack.interactions.flow import Interactions
    from iamwatch.slack.interactions.replies import WebApiReplies
    from iamwatch.slack.interactions.verify import RequestVerifier

    settings = runtime.settings
    if not settings.slack_interactivity:
        return InteractivityOff()
    secret = slack_signing_secret_source(settings)
    secret()  # unreadable: fail at cold start, naming the setting
    queue_url = runtime.deployment.remediation_queue_url
    return Interactions(
        verifier=RequestVerifier(secret),
        state=runtime.state,
        audit=runtime.interactions_audit,
        replies=WebApiReplies(
            slack_token_source(settings),
            api_url=settings.slack_api_url,
            timeout=INTERACTION_SLACK_TIMEOUT,
        ),
        queue=SqsRemediationQueue(runtime.client("sqs"), queue_url) if queue_url else None,
        policy=runtime.approval_policy,
        rounds=runtime.approval_rounds,
        protected=settings.protected,
    )


def build_queued_remediations(runtime: Container) -> QueuedRemediations:
    from iamwatch.composition import slack_token_source
    from iamwatch.remediation import Remediator
    from iamwatch.remediation.history import CloudTrailGrantHistory
    from iamwatch.slack.interactions.remediate import QueuedRemediations
    from iamwatch.slack.interactions.replies import WebApiReplies
    from iamwatch.slack.transport import RetryPolicy

    settings = runtime.settings
    account = runtime.account_id
    remediator = Remediator(
        runtime.client("iam"),
        runtime.audit,
        account=account,
        history=CloudTrailGrantHistory(runtime.client("cloudtrail")),
        protected=settings.protected,
        rolesanywhere=lambda region: runtime.clients.regional("rolesanywhere", region),
    )
    return QueuedRemediations(
        audit=runtime.audit,
        remediator=remediator,
        protected=settings.protected,
        replies=WebApiReplies(
            slack_token_source(settings),
            api_url=settings.slack_api_url,
            timeout=settings.slack_timeout_seconds,
            policy=RetryPolicy(
                max_retries=settings.slack_max_retries,
                max_wait=float(settings.slack_max_retry_wait_seconds),
            ),
            deadline=runtime.deadline,
        ),
        policy=runtime.approval_policy,
        rounds=runtime.approval_rounds,
        audit_table=runtime.deployment.audit_table,
    )
