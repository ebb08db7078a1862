"""The Lambda composition root: what each function is made of, built once per container.

Construction only: every adapter is built from the settings, the deployment (table names and
queue URLs) and the AWS clients, on first use, so a handler imports fast and builds only what
it needs. Tests build a ``Container`` with their own clients or Slack transport and ``install``
it; the handlers get theirs from ``container()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

# The deadline is light (time, math): needed at class definition.
from iamwatch.deadline import Deadline

if TYPE_CHECKING:
    from iamwatch.aws.alarm_relay import AlarmRelay
    from iamwatch.aws.audit import DynamoDBAuditLog
    from iamwatch.aws.backfill import RunTagger
    from iamwatch.aws.deployment import Deployment
    from iamwatch.aws.enrichment import IamEnricher
    from iamwatch.aws.export import DailyExporter
    from iamwatch.aws.idempotency import DetectOnce
    from iamwatch.aws.interactions import InteractivityOff
    from iamwatch.aws.rounds import DynamoDBApprovalRounds
    from iamwatch.aws.runs import RunProgress
    from iamwatch.aws.state import DynamoDBStateStore
    from iamwatch.aws.weekly_inventory import WeeklyInventory
    from iamwatch.delivery import DeliveryService
    from iamwatch.detection import DetectionService
    from iamwatch.settings import Settings
    from iamwatch.slack.interactions.approvals import ApprovalPolicy
    from iamwatch.slack.interactions.flow import Interactions
    from iamwatch.slack.interactions.remediate import QueuedRemediations
    from iamwatch.slack.notifier import SlackNotifier
    from iamwatch.slack.transport import SlackTransport
    from iamwatch.telemetry import Telemetry


class Clients:
    """boto3 clients, one per service, made on first use from one session; ``given`` ones
    (a test's, with its own endpoint or timeouts) are used instead."""

    def __init__(self, **given: Any) -> None:
        self._given: dict[str, Any] = dict(given)
        self._clients: dict[str, Any] = dict(given)

    def __call__(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self._session.client(service)
        return client

    def regional(self, service: str, region: str) -> Any:
        """A client of ``service`` in ``region`` (Roles Anywhere trust anchors are regional;
        the doctor reads the forwarders' regions); a ``given`` client of that service (a
        test's) is used in every region."""
        if service in self._given:
            return self._given[service]
        if region == self._session.region_name:
            return self(service)
        key = f"{service}@{region}"
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._session.client(service, region_name=region)
        return client

    @cached_property
    def _session(self) -> Any:
        import boto3

        return boto3.session.Session()


def _lambda_telemetry() -> Telemetry:
    from iamwatch.aws.telemetry import LambdaTelemetry

    return LambdaTelemetry()


@dataclass
class Container:
    settings: Settings
    deployment: Deployment
    clients: Clients = field(default_factory=Clients)
    # None: the webhook or Web API transport the settings ask for.
    slack_transport: SlackTransport | None = None
    telemetry: Telemetry = field(default_factory=_lambda_telemetry)
    # How Slack retries wait (tests record the waits instead of sleeping).
    sleep: Callable[[float], None] = time.sleep
    # The running invocation's time left: handlers start it from the Lambda context, and
    # whatever waits on Slack stops in time to audit what it could not send.
    deadline: Deadline = field(default_factory=Deadline)

    def client(self, service: str) -> Any:
        return self.clients(service)

    def regional_client(self, service: str, region: str) -> Any:
        return self.clients.regional(service, region)

    @cached_property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    @cached_property
    def audit(self) -> DynamoDBAuditLog:
        from iamwatch.aws.audit import DynamoDBAuditLog

        return DynamoDBAuditLog(self.client("dynamodb"), self.deployment.audit_table)

    @cached_property
    def interactions_audit(self) -> DynamoDBAuditLog:
        """The audit trail as the internet-facing interactions function writes it: to its own
        partitions, which the remediate function does not take findings or remediations from."""
        from iamwatch.aws.audit import DynamoDBAuditLog, Writer

        return DynamoDBAuditLog(
            self.client("dynamodb"), self.deployment.audit_table, writer=Writer.INTERACTIONS
        )

    @cached_property
    def state(self) -> DynamoDBStateStore:
        from iamwatch.aws.state import DynamoDBStateStore

        return DynamoDBStateStore(self.client("dynamodb"), self.deployment.state_table)

    # The detect and backfill functions ------------------------------------------------------

    @cached_property
    def enricher(self) -> IamEnricher | None:
        if not self.deployment.enrichment:
            return None
        from iamwatch import observability as obs
        from iamwatch.aws.enrichment import IamEnricher

        return IamEnricher(
            self.client("iam"),
            log=lambda message, keys: obs.logger.warning(message, extra=keys),
            account_id=self.account_id,
        )

    @cached_property
    def detection(self) -> DetectionService:
        from iamwatch.aws.alerts import SqsAlertQueue
        from iamwatch.composition import build_detection

        return build_detection(
            self.settings,
            self.audit,
            state=self.state,
            sink=SqsAlertQueue(self.client("sqs"), self.deployment.alert_queue_url),
            enricher=self.enricher,
            telemetry=self.telemetry,
        )

    @cached_property
    def detect_once(self) -> DetectOnce:
        from iamwatch.aws.idempotency import DetectOnce

        enricher = self.enricher
        return DetectOnce(
            self.detection,
            self.client("dynamodb"),
            self.deployment.idempotency_table,
            self.deployment.idempotency_ttl_seconds,
            on_invocation=enricher.reset if enricher is not None else None,
        )

    # The backfill state machine's batches: the same detection service and idempotency as the
    # detect function, with the findings marked with the run that raised them.

    @cached_property
    def run_tagger(self) -> RunTagger:
        from iamwatch.aws.backfill import RunTagger

        return RunTagger(self.enricher)

    @cached_property
    def backfill_detection(self) -> DetectionService:
        from iamwatch.aws.alerts import SqsAlertQueue
        from iamwatch.composition import build_detection

        return build_detection(
            self.settings,
            self.audit,
            state=self.state,
            sink=SqsAlertQueue(self.client("sqs"), self.deployment.alert_queue_url),
            enricher=self.run_tagger,
            telemetry=self.telemetry,
        )

    @cached_property
    def backfill_detect_once(self) -> DetectOnce:
        from iamwatch.aws.idempotency import DetectOnce

        enricher = self.enricher
        return DetectOnce(
            self.backfill_detection,
            self.client("dynamodb"),
            self.deployment.idempotency_table,
            self.deployment.idempotency_ttl_seconds,
            on_invocation=enricher.reset if enricher is not None else None,
        )

    @cached_property
    def run_progress(self) -> RunProgress:
        from iamwatch.aws.runs import RunProgress

        return RunProgress(self.client("dynamodb"), self.deployment.state_table)

    # The notifier function -------------------------------------------------------------------

    @cached_property
    def notifier(self) -> SlackNotifier:
        from datetime import timedelta

        from iamwatch.aws.dedup import DynamoDBDedupStore
        from iamwatch.aws.runs import DynamoDBRunSummaries
        from iamwatch.composition import build_notifier

        window = timedelta(seconds=self.settings.slack_dedup_window_seconds)
        table = self.deployment.state_table
        store = DynamoDBDedupStore(self.client("dynamodb"), table, window)
        return build_notifier(
            self.settings,
            store=store,
            transport=self.slack_transport,
            sleep=self.sleep,
            deadline=self.deadline,
            # Backfill runs' findings below critical go into one summary per run.
            runs=DynamoDBRunSummaries(self.client("dynamodb"), table),
        )

    @cached_property
    def delivery(self) -> DeliveryService:
        from iamwatch.aws.alerts import SqsDeadLetters
        from iamwatch.delivery import DeliveryService

        dlq = self.deployment.alert_dlq_url
        return DeliveryService(
            self.notifier,
            self.audit,
            dead_letters=SqsDeadLetters(self.client("sqs"), dlq) if dlq else None,
            max_attempts=self.deployment.max_receive_count,
            telemetry=self.telemetry,
        )

    # The Slack buttons: interactions endpoint and remediate function -------------------------

    @cached_property
    def approval_policy(self) -> ApprovalPolicy:
        from iamwatch.slack.interactions.approvals import ApprovalPolicy

        return ApprovalPolicy(
            frozenset(self.settings.slack_approvers), self.settings.slack_two_person_approval
        )

    @cached_property
    def approval_rounds(self) -> DynamoDBApprovalRounds:
        from iamwatch.aws.rounds import DynamoDBApprovalRounds

        return DynamoDBApprovalRounds(self.client("dynamodb"), self.deployment.state_table)

    @cached_property
    def interactions(self) -> Interactions | InteractivityOff:
        from iamwatch.aws.interactions import build_interactions

        return build_interactions(self)

    @cached_property
    def remediations(self) -> QueuedRemediations:
        from iamwatch.aws.interactions import build_queued_remediations

        return build_queued_remediations(self)

    # The alarm relay function ----------------------------------------------------------------

    @cached_property
    def alarm_relay(self) -> AlarmRelay:
        from iamwatch.aws.alarm_relay import AlarmRelay
        from iamwatch.composition import build_slack_transport
        from iamwatch.settings import SettingsError

        channel = self.settings.alarm_slack_channel
        if channel is None:
            raise SettingsError("IAMWATCH_ALARM_SLACK_CHANNEL: not set; the relay posts there")
        transport = self.slack_transport or build_slack_transport(
            self.settings, deadline=self.deadline
        )
        return AlarmRelay(transport, channel)

    # The daily export function ---------------------------------------------------------------

    @cached_property
    def exporter(self) -> DailyExporter:
        from iamwatch.aws.export import DailyExporter, ExportDestination
        from iamwatch.settings import SettingsError

        bucket, key = self.deployment.export_bucket, self.deployment.export_kms_key_arn
        if not bucket or not key:
            raise SettingsError(
                "the export needs IAMWATCH_EXPORT_BUCKET and IAMWATCH_EXPORT_KMS_KEY_ARN"
            )
        destination = ExportDestination(bucket=bucket, kms_key_arn=key)
        return DailyExporter(self.audit, self.client("s3"), destination)

    # The weekly inventory function ----------------------------------------------------------

    @cached_property
    def weekly_inventory(self) -> WeeklyInventory:
        from iamwatch.aws.inventory import LiveInventory
        from iamwatch.aws.weekly_inventory import WeeklyInventory
        from iamwatch.composition import build_inventory

        def transport() -> SlackTransport | None:
            if self.slack_transport is not None:
                return self.slack_transport
            if not self.settings.slack_configured:
                return None
            from iamwatch.composition import build_slack_transport

            return build_slack_transport(self.settings)

        return WeeklyInventory(
            self.settings,
            LiveInventory(self.client),
            build_inventory(self.settings, self.state),
            self.audit,
            self.detection,
            transport,
        )


_current: Container | None = None
_build: Callable[[], Container] | None = None


def container() -> Container:
    """This Lambda container's composition root, built on first use (from the environment,
    unless a test installed another way to build it)."""
    global _current
    if _current is None:
        from iamwatch import observability as obs

        obs.configure_tracing()
        _current = (_build or from_environment)()
    return _current


def from_environment() -> Container:
    # Imported here, on the first invocation: settings and deployment are pydantic models.
    from iamwatch.aws.deployment import load_deployment
    from iamwatch.settings import load_settings

    return Container(settings=load_settings(), deployment=load_deployment())


def reset() -> None:
    """Build the container again on next use (after a test changed the environment)."""
    global _current
    _current = None


def install(replacement: Container | Callable[[], Container] | None) -> None:
    """Use ``replacement`` from now on: a container, or how to build one on first use (after
    a test has set the environment); ``None`` builds afresh from the environment."""
    global _current, _build
    if isinstance(replacement, Container):
        _current, _build = replacement, None
    else:
        _current, _build = None, replacement


__all__ = ["Clients", "Container", "container", "from_environment", "install", "reset"]
