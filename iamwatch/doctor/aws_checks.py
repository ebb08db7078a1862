"""The doctor's AWS checks, each reading one part of the deployment (read-only calls only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from iamwatch.doctor.model import Check

if TYPE_CHECKING:
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

_NOT_FOUND = frozenset({"ResourceNotFoundException", "NotFoundException", "NotFound"})


def reason(error: Exception) -> str:
    """AWS's error code (AccessDenied, ...), never a message that might echo data."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "error")
    return type(error).__name__


def _guarded(name: str, read: Callable[[], Check]) -> Check:
    try:
        return read()
    except (BotoCoreError, ClientError) as error:
        return Check.unreadable(name, f"could not read: {reason(error)}")


# CloudTrail -------------------------------------------------------------------------------------


def _logs_management_events(selectors: Mapping[str, Any]) -> bool:
    """Write management events at least (what the detectors need), by basic or advanced
    event selectors."""
    for selector in selectors.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents", True) and selector.get(
            "ReadWriteType", "All"
        ) in ("All", "WriteOnly"):
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in advanced.get("FieldSelectors") or []}
        category = fields.get("eventCategory", {})
        read_only = fields.get("readOnly", {})
        if "Management" in (category.get("Equals") or []) and "true" not in (
            read_only.get("Equals") or []
        ):
            return True
    return False


def check_trail(client: CloudTrailClient) -> Check:
    """A multi-region trail that is logging management events."""
    name = "trail"

    def read() -> Check:
        trails = client.describe_trails(includeShadowTrails=True).get("trailList", [])
        problems: list[str] = []
        for trail in trails:
            label = trail.get("Name") or trail.get("TrailARN") or "?"
            arn = trail.get("TrailARN") or label
            if not trail.get("IsMultiRegionTrail"):
                problems.append(f"{label}: single-region")
                continue
            if not client.get_trail_status(Name=arn).get("IsLogging"):
                problems.append(f"{label}: not logging")
                continue
            if not _logs_management_events(client.get_event_selectors(TrailName=arn)):
                problems.append(f"{label}: no management (write) events")
                continue
            return Check.passed(name, f"{label} logs management events in every region")
        if not trails:
            return Check.failed(name, "no trail: CloudTrail records nothing iamwatch can see")
        return Check.failed(
            name, "no multi-region trail logging management events (" + "; ".join(problems) + ")"
        )

    return _guarded(name, read)


# EventBridge rules ------------------------------------------------------------------------------


def check_rules(client: EventBridgeClient, region: str, rules: Iterable[str]) -> Check:
    """Each rule exists, is enabled and has a target."""
    name = f"rules {region}"

    def read() -> Check:
        problems: list[str] = []
        names = list(rules)
        for rule in names:
            try:
                described = client.describe_rule(Name=rule)
            except ClientError as error:
                if reason(error) in _NOT_FOUND:
                    problems.append(f"{rule} missing")
                    continue
                raise
            if described.get("State") != "ENABLED":
                problems.append(f"{rule} {str(described.get('State', '?')).lower()}")
            elif not client.list_targets_by_rule(Rule=rule).get("Targets"):
                problems.append(f"{rule} has no target")
        if problems:
            return Check.failed(name, "; ".join(problems))
        return Check.passed(name, f"{', '.join(names)} enabled, with targets")

    return _guarded(name, read)


# Queues, topic, tables --------------------------------------------------------------------------


def check_dead_letters(client: SQSClient, label: str, url: str) -> Check:
    name = f"queue {label}"

    def read() -> Check:
        attributes = client.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        waiting = sum(int(attributes.get(key, 0)) for key in attributes)
        if waiting:
            return Check.failed(name, f"{waiting} message(s) waiting: see README, Dead letters")
        return Check.passed(name, "empty")

    return _guarded(name, read)


def check_alarm_topic(client: SNSClient, topic: str | None) -> Check:
    name = "alarm topic"
    if topic is None:
        return Check.failed(name, "the deployment has no alarm topic")

    def read() -> Check:
        subscriptions = [
            s
            for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
            for s in page.get("Subscriptions", [])
        ]
        confirmed = [
            s["Protocol"] for s in subscriptions if s.get("SubscriptionArn", "").startswith("arn:")
        ]
        if not confirmed:
            pending = len(subscriptions)
            why = f"{pending} pending confirmation" if pending else "none"
            return Check.failed(name, f"no confirmed subscriber ({why}): alarms reach nobody")
        return Check.passed(name, f"subscribers: {', '.join(sorted(confirmed))}")

    return _guarded(name, read)


def check_table(client: DynamoDBClient, label: str, table: str) -> Check:
    name = f"table {label}"

    def read() -> Check:
        try:
            status = client.describe_table(TableName=table)["Table"].get("TableStatus")
        except ClientError as error:
            if reason(error) in _NOT_FOUND:
                return Check.failed(name, f"{table} does not exist")
            raise
        if status not in ("ACTIVE", "UPDATING"):
            return Check.failed(name, f"{table} is {str(status).lower()}")
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            return Check.failed(name, f"{table}: TTL is off, so records never expire")
        return Check.passed(name, f"{table} active, TTL on {ttl.get('AttributeName')}")

    return _guarded(name, read)
