"""Powertools parser models for the events the handlers receive."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from iamwatch.events import CloudTrailRecord


class CloudTrailEventBridgeEvent(EventBridgeModel):
    """ "AWS API Call via CloudTrail" / "AWS Console Sign In via CloudTrail"."""

    detail: CloudTrailRecord
    # Only the detail matters; some senders (replays, test buses) omit the envelope account.
    account: str | None = None  # type: ignore[assignment]
