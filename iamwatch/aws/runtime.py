"""The Lambda composition root: settings, clients and the pipeline, built once per container.

Built on first use rather than at import, so a handler module imports fast and tests can
point the environment at local servers before anything connects. ``reset()`` drops the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from iamwatch import observability as obs
from iamwatch.audit import AuditKind, AuditRecord
from iamwatch.aws.deployment import Deployment, load_deployment
from iamwatch.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from iamwatch.aws.audit import DynamoDBAuditLog
    from iamwatch.aws.export import DailyExporter
    from iamwatch.aws.interactions import InteractivityOff
    from iamwatch.aws.state import DynamoDBStateStore
    from iamwatch.events import CloudTrailRecord
    from iamwatch.pipeline import DetectionPipeline
    from iamwatch.slack.interactions.approvals import ApprovalPolicy
    from iamwatch.slack.interactions.flow import Interactions
    from iamwatch.slack.interactions.remediate import QueuedRemediations
    from iamwatch.slack.notifier import SlackNotifier

# The detection engine is imported where detection happens, so the notifier, which never
# detects, does not load it at cold start; the detect and backfill handlers import it at theirs.

IDEMPOTENCY_KEY_PREFIX = "iamwatch.detect"  # shared by every handler, so a record alerts once


class DeliveryPending(RuntimeError):
    """Slack could not take the alert yet; the SQS message returns to the queue for a retry."""


@dataclass
class Runtime:
    settings: Settings
    deployment: Deployment

    @cached_property
    def _session(self) -> Any:
        import boto3

        return boto3.session.Session()

    def client(self, service: str) -> Any:
        return self._clients.setdefault(service, self._session.client(service))

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    @cached_property
    def audit(self) -> DynamoDBAuditLog:
        from iamwatch.aws.audit import DynamoDBAuditLog

        return DynamoDBAuditLog(self.client("dynamodb"), self.deployment.audit_table)

    @cached_property
    def state(self) -> DynamoDBStateStore:
        from iamwatch.aws.state import DynamoDBStateStore

        return DynamoDBStateStore(self.client("dynamodb"), self.deployment.state_table)

    @cached_property
    def approval_policy(self) -> ApprovalPolicy:
        from iamwatch.slack.interactions.approvals import ApprovalPolicy

        return ApprovalPolicy(
            frozenset(self.settings.slack_approvers), self.settings.slack_two_person_approval
        )

    @cached_property
    def interactions(self) -> Interactions | InteractivityOff:
        """The Slack buttons endpoint (handlers/interactions.py)."""
        from iamwatch.aws.interactions import build_interactions

        return build_interactions(self)

    @cached_property
    def remediations(self) -> QueuedRemediations:
        """Applies remediations approved in Slack (handlers/remediate.py)."""
        from iamwatch.aws.interactions import build_queued_remediations

        return build_queued_remediations(self)

    @cached_property
    def pipeline(self) -> DetectionPipeline:
        from iamwatch.aws.alerts import SqsAlertQueue
        from iamwatch.aws.enrichment import IamEnricher
        from iamwatch.aws.state import DynamoDBStateStore
        from iamwatch.composition import build_engine
        from iamwatch.pipeline import DetectionPipeline

        state = DynamoDBStateStore(self.client("dynamodb"), self.deployment.state_table)
        enricher = (
            IamEnricher(
                self.client("iam"),
                log=lambda m, k: obs.logger.warning(m, extra=k),
                account_id=self.client("sts").get_caller_identity()["Account"],
            )
            if self.deployment.enrichment
            else None
        )
        from iamwatch.slack.suppress import RuleSuppressor

        return DetectionPipeline(
            engine=build_engine(self.settings, state=state),
            sink=SqsAlertQueue(self.client("sqs"), self.deployment.alert_queue_url),
            audit=self.audit,
            enricher=enricher,
            suppressor=RuleSuppressor(self.settings.suppressions),
        )

    @cached_property
    def notifier(self) -> SlackNotifier:
        from datetime import timedelta

        from iamwatch.aws.dedup import DynamoDBDedupStore
        from iamwatch.composition import build_notifier

        window = timedelta(seconds=self.settings.slack_dedup_window_seconds)
        store = DynamoDBDedupStore(self.client("dynamodb"), self.deployment.state_table, window)
        return build_notifier(self.settings, store=store)

    @cached_property
    def exporter(self) -> DailyExporter:
        from iamwatch.aws.export import DailyExporter, ExportDestination

        bucket, key = self.deployment.export_bucket, self.deployment.export_kms_key_arn
        if not bucket or not key:
            raise SettingsError(
                "the export needs IAMWATCH_EXPORT_BUCKET and IAMWATCH_EXPORT_KMS_KEY_ARN"
            )
        destination = ExportDestination(bucket=bucket, kms_key_arn=key)
        return DailyExporter(self.audit, self.client("s3"), destination)

    def notify(self, body: str, receive_count: int) -> None:
        """Deliver one queued finding. A transient Slack failure raises, so the message goes
        back to the queue; a permanent one, or the last allowed attempt, goes to the
        dead-letter queue with its reason, and is audited either way."""
        from pydantic import ValidationError

        from iamwatch.finding import Finding
        from iamwatch.slack.notifier import Outcome

        try:
            finding = Finding.model_validate_json(body)
        except ValidationError as error:
            self.dead_letter(body, f"unreadable alert message: {error.error_count()} errors")
            return
        obs.logger.set_correlation_id(finding.event_id)
        with obs.span("deliver", finding_id=finding.finding_id, detector=finding.detector):
            result = self.notifier.deliver(finding)
        self.audit.append(
            AuditRecord.about(
                AuditKind.DELIVERY_ATTEMPTED,
                finding,
                outcome=result.outcome.value,
                channel=result.channel,
                reason=result.reason,
                attempt=receive_count,
            )
        )
        if result.outcome is not Outcome.FAILED:
            return
        reason = result.reason or "unknown"
        obs.count("SlackDeliveryFailures", reason=reason.split(" ", 1)[0])
        if result.retryable and receive_count < self.deployment.max_receive_count:
            raise DeliveryPending(f"{finding.finding_id}: {reason}")
        self.dead_letter(body, reason, finding_id=finding.finding_id)
        self.audit.append(
            AuditRecord.about(
                AuditKind.DELIVERY_FAILED, finding, reason=reason, attempts=receive_count
            )
        )

    @staticmethod
    def oldest_first(event: dict[str, Any]) -> dict[str, Any]:
        """Deliver a batch in event-time order, so a backlog after an outage reads in order."""
        import orjson

        def event_time(record: dict[str, Any]) -> str:
            try:
                return str(orjson.loads(record.get("body", "")).get("event_time", ""))
            except (orjson.JSONDecodeError, AttributeError):
                return ""

        return {**event, "Records": sorted(event.get("Records", []), key=event_time)}

    def dead_letter(self, body: str, reason: str, finding_id: str | None = None) -> None:
        """Park a message with the reason it could not be delivered, for people to redrive."""
        if self.deployment.alert_dlq_url is None:
            raise DeliveryPending(f"no dead-letter queue configured; {reason}")
        attributes: dict[str, Any] = {"reason": {"DataType": "String", "StringValue": reason}}
        if finding_id is not None:
            attributes["finding_id"] = {"DataType": "String", "StringValue": finding_id}
        self.client("sqs").send_message(
            QueueUrl=self.deployment.alert_dlq_url,
            MessageBody=body,
            MessageAttributes=attributes,
        )
        obs.logger.error("alert dead-lettered", extra={"reason": reason, "finding_id": finding_id})

    @cached_property
    def process_once(self) -> Callable[..., dict[str, object]]:
        """``pipeline.process`` made idempotent on the record's eventID (powertools, DynamoDB)."""
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(
            table_name=self.deployment.idempotency_table,
            boto3_client=self.client("dynamodb"),
        )
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="event_id",
            expires_after_seconds=self.deployment.idempotency_ttl_seconds,
            raise_on_no_idempotency_key=True,
        )

        def process(record: CloudTrailRecord) -> dict[str, object]:
            return self.pipeline.process(record).as_dict()

        once: Callable[..., dict[str, object]] = idempotent_function(
            data_keyword_argument="record",
            config=self.idempotency_config,
            persistence_store=persistence,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )(process)
        return once

    def detect(self, record: CloudTrailRecord, context: LambdaContext | None) -> dict[str, object]:
        _ = self.process_once  # builds the idempotency config on first use
        if context is not None:
            self.idempotency_config.register_lambda_context(context)
        if self.pipeline.enricher is not None and hasattr(self.pipeline.enricher, "reset"):
            self.pipeline.enricher.reset()
        obs.logger.set_correlation_id(record.event_id)
        return self.process_once(record=record)

    def backfill(self, notification: str, context: LambdaContext | None) -> int:
        """Scan every CloudTrail log file an S3 notification announces; returns records
        examined. A file that cannot be read (an S3 or I/O error) raises, so SQS retries it and
        then dead-letters it; what a file holds that cannot be read (a malformed record, a
        corrupt or non-JSON file) is audited with its place and skipped, as reading it again
        would not change it."""
        from urllib.parse import unquote_plus

        import orjson

        from iamwatch.engine import MalformedRecordError
        from iamwatch.pipeline import DetectorErrors
        from iamwatch.sources import Problem, Skipped, Source, read_source

        body = orjson.loads(notification)
        examined = 0
        failures = []
        for entry in body.get("Records", []):  # absent for s3:TestEvent
            bucket = entry["s3"]["bucket"]["name"]
            key = unquote_plus(entry["s3"]["object"]["key"])
            if "/CloudTrail/" not in f"/{key}" or not key.endswith((".json.gz", ".json")):
                continue  # digests, Insights and anything else in the bucket
            source = Source(
                name=f"s3://{bucket}/{key}", size=None, kind="s3", bucket=bucket, key=key
            )
            with obs.span("backfill", object=source.name):
                engine = self.pipeline.engine
                for item in read_source(source, prefilter=engine.prefilter):
                    if isinstance(item, Skipped):
                        continue  # no detector wants these; counted, never built
                    if isinstance(item, Problem):
                        if item.transient:
                            raise OSError(f"{item.location}: {item.reason}")
                        self.malformed(str(item.location), item.reason)
                        continue
                    try:
                        if not engine.wants(item.data):
                            continue
                    except MalformedRecordError as error:
                        self.malformed(str(item.location), str(error))
                        continue
                    record = self.parse_raw(item.data, str(item.location))
                    if record is None:
                        continue
                    examined += 1
                    try:
                        self.detect(record, context)
                    except DetectorErrors as error:
                        failures.extend(error.failures)
        if failures:
            raise DetectorErrors(failures)
        return examined

    def parse_raw(self, raw: Mapping[str, Any], where: str) -> CloudTrailRecord | None:
        """A malformed record is logged, counted and audited, never retried (it cannot heal)."""
        from iamwatch.engine import MalformedRecordError, parse_record

        try:
            return parse_record(raw)
        except MalformedRecordError as error:
            self.malformed(where, str(error))
            return None

    def malformed(self, where: str, reason: str) -> None:
        obs.logger.warning("malformed event skipped", extra={"where": where, "reason": reason})
        obs.count("MalformedEvents")
        self.audit.append(
            AuditRecord(kind=AuditKind.MALFORMED_EVENT, data={"where": where, "reason": reason})
        )


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        obs.configure_tracing()
        _runtime = Runtime(settings=load_settings(), deployment=load_deployment())
    return _runtime


def reset() -> None:
    """Forget the cached runtime, e.g. after tests change the environment."""
    global _runtime
    _runtime = None


__all__ = ["Runtime", "reset", "runtime"]
