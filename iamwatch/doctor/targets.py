"""What the doctor checks: the deployment's tables, dead-letter queues, alarm topic, EventBridge
rules (here and, as forwarders, in the sign-in and Identity Center regions) and Slack channels.

In AWS the doctor function is told them in its environment; the CLI reads them from the stack
(CloudFormation ``ListStackResources``, read-only), by the logical ids serverless.yml gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iamwatch.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

HOME_REGION = "us-east-1"  # IAM's events arrive here only; the stack runs here
TABLES = {"audit": "AuditTable", "state": "StateTable", "idempotency": "IdempotencyTable"}
DEAD_LETTERS = {
    "alert dead letters": "AlertDeadLetterQueue",
    "failed events": "FailedEventsQueue",
    "backfill dead letters": "BackfillDeadLetterQueue",
    "remediation dead letters": "RemediationDeadLetterQueue",
}
_ENVIRONMENT = {
    "audit": "IAMWATCH_AUDIT_TABLE",
    "state": "IAMWATCH_STATE_TABLE",
    "idempotency": "IAMWATCH_IDEMPOTENCY_TABLE",
    "alert dead letters": "IAMWATCH_ALERT_DLQ_URL",
    "failed events": "IAMWATCH_FAILED_EVENTS_QUEUE_URL",
    "backfill dead letters": "IAMWATCH_BACKFILL_DLQ_URL",
    "remediation dead letters": "IAMWATCH_REMEDIATION_DLQ_URL",
}


class TargetsError(ValueError):
    """The deployment could not be found or read; the message says which part."""


@dataclass(frozen=True, slots=True)
class Targets:
    stage: str
    # Names of the deployment's rules in the home region (the detect rules, the schedules).
    rules: tuple[str, ...]
    # Regions that need a forwarder, and the rule it deploys there.
    forwarder_regions: tuple[str, ...]
    tables: Mapping[str, str]
    dead_letters: Mapping[str, str]
    alarm_topic: str | None
    channels: tuple[str, ...]

    @property
    def forwarder_rule(self) -> str:
        return f"iamwatch-forwarder-{self.stage}"


def _forwarder_regions(settings: Settings) -> tuple[str, ...]:
    regions = [*settings.signin_regions]
    if settings.identity_center_region:
        regions.append(settings.identity_center_region)
    return tuple(r for r in dict.fromkeys(regions) if r != HOME_REGION)


def _channels(settings: Settings) -> tuple[str, ...]:
    routed = [settings.slack_channel, *settings.slack_channels.values()]
    routed.append(settings.alarm_slack_channel)
    return tuple(dict.fromkeys(c for c in routed if c))


def _stage(prefix: str) -> str:
    """``iamwatch-prod-`` (the deployed self prefix) -> ``prod``."""
    return prefix.removeprefix("iamwatch-").strip("-_") or "prod"


def from_environment(settings: Settings, environ: Mapping[str, str]) -> Targets:
    """The doctor function's targets, from the environment serverless.yml gives it."""
    missing = [name for name in _ENVIRONMENT.values() if not environ.get(name)]
    if missing:
        raise TargetsError(f"the doctor needs {', '.join(missing)}")
    rules = tuple(r for r in environ.get("IAMWATCH_DOCTOR_RULES", "").split(",") if r)
    return Targets(
        stage=_stage(settings.self_prefix),
        rules=rules,
        forwarder_regions=_forwarder_regions(settings),
        tables={label: environ[_ENVIRONMENT[label]] for label in TABLES},
        dead_letters={label: environ[_ENVIRONMENT[label]] for label in DEAD_LETTERS},
        alarm_topic=environ.get("IAMWATCH_ALARM_TOPIC_ARN") or None,
        channels=_channels(settings),
    )


def from_stack(client: CloudFormationClient, stack: str, settings: Settings) -> Targets:
    """The targets of the deployed stack ``stack`` (``iamwatch-<stage>``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    physical: dict[str, str] = {}
    rules: list[str] = []
    try:
        for page in client.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page["StackResourceSummaries"]:
                identifier = resource.get("PhysicalResourceId")
                if not identifier:
                    continue
                physical[resource["LogicalResourceId"]] = identifier
                if resource["ResourceType"] == "AWS::Events::Rule":
                    rules.append(identifier)
    except (BotoCoreError, ClientError) as error:
        raise TargetsError(f"cannot read stack {stack}: {_reason(error)}") from None
    logical = {**TABLES, **DEAD_LETTERS}
    missing = sorted(name for name in logical.values() if name not in physical)
    if missing:
        raise TargetsError(f"stack {stack} has no {', '.join(missing)}: is it iamwatch's?")
    return Targets(
        stage=stack.removeprefix("iamwatch-") or "prod",
        rules=tuple(sorted(rules)),
        forwarder_regions=_forwarder_regions(settings),
        tables={label: physical[name] for label, name in TABLES.items()},
        dead_letters={label: physical[name] for label, name in DEAD_LETTERS.items()},
        alarm_topic=physical.get("AlarmTopic"),
        channels=_channels(settings),
    )


def _reason(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__
