"""The composition root shared by the entry points: the engine, the detection service, the
Slack notifier and its transport, built from settings. The CLI wires them here; the Lambda
functions in ``iamwatch.aws.container`` (with their AWS adapters)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from iamwatch.deadline import NO_DEADLINE, Deadline
from iamwatch.engine import Engine
from iamwatch.registry import DetectionContext
from iamwatch.settings import Settings, SettingsError
from iamwatch.severity import Severity
from iamwatch.state import EventLedger, SQLiteStateStore, StateStore

if TYPE_CHECKING:
    from iamwatch.audit import AuditLog
    from iamwatch.detection import AlertSink, DetectionService, Enricher
    from iamwatch.inventory.tracker import StateInventory
    from iamwatch.inventory.view import InventoryView
    from iamwatch.slack.dedup import DedupStore
    from iamwatch.slack.notifier import SlackNotifier
    from iamwatch.slack.runs import RunSummaries
    from iamwatch.slack.secrets import SecretSource, TokenSource
    from iamwatch.slack.transport import SlackTransport
    from iamwatch.telemetry import Telemetry


def build_inventory(settings: Settings, state: StateStore) -> StateInventory:
    """The inventory kept in the state store: detectors read it, the event stream updates it."""
    from iamwatch.inventory.tracker import StateInventory

    return StateInventory(state, settings.inventory_thresholds, settings.protected)


def build_engine(
    settings: Settings, state: StateStore | None = None, inventory: InventoryView | None = None
) -> Engine:
    from detectors import REGISTRY

    store = state if state is not None else SQLiteStateStore(settings.state_path)
    context = DetectionContext(
        state=store,
        settings=settings.detection,
        inventory=inventory if inventory is not None else build_inventory(settings, store),
    )
    return Engine(REGISTRY, context, runbook_base_url=settings.runbook_base_url)


def check_suppressions(settings: Settings, detector_ids: tuple[str, ...]) -> None:
    """A rule naming a detector that does not exist would silently never match: refuse it."""
    for index, rule in enumerate(settings.suppressions, start=1):
        if rule.detector is not None and not any(
            fnmatchcase(detector_id, rule.detector) for detector_id in detector_ids
        ):
            raise SettingsError(
                f"IAMWATCH_SUPPRESSIONS: rule {index}, detector: {rule.detector!r} matches no "
                "detector id"
            )


def build_detection(
    settings: Settings,
    audit: AuditLog,
    *,
    state: StateStore | None = None,
    sink: AlertSink | None = None,
    enricher: Enricher | None = None,
    min_severity: Severity = Severity.INFO,
    telemetry: Telemetry | None = None,
    ledger: EventLedger | None = None,
) -> DetectionService:
    """The detection service every entry point runs records through; they differ only in the
    adapters passed here."""
    from iamwatch.detection import DetectionService
    from iamwatch.telemetry import NULL_TELEMETRY

    store = state if state is not None else SQLiteStateStore(settings.state_path)
    inventory = build_inventory(settings, store)
    engine = build_engine(settings, store, inventory)
    check_suppressions(settings, engine.registry.ids)
    return DetectionService(
        engine,
        audit,
        sink=sink,
        enricher=enricher,
        suppressions=settings.suppressions,
        min_severity=min_severity,
        telemetry=telemetry or NULL_TELEMETRY,
        ledger=ledger,
        observer=inventory,
    )


def slack_token_source(settings: Settings) -> TokenSource:
    from iamwatch.slack import secrets

    max_age = settings.slack_token_cache_seconds
    if settings.slack_token is not None:
        return secrets.static_token(settings.slack_token)
    if settings.slack_token_ssm_parameter is not None:
        return secrets.ssm_token(settings.slack_token_ssm_parameter, max_age)
    if settings.slack_token_secret_id is not None:
        return secrets.secrets_manager_token(settings.slack_token_secret_id, max_age)
    raise SettingsError("IAMWATCH_SLACK_TOKEN: not set")


def slack_signing_secret_source(settings: Settings) -> SecretSource:
    """The app's signing secret, from the same three kinds of place as the bot token."""
    from iamwatch.slack import secrets

    max_age = settings.slack_token_cache_seconds
    if settings.slack_signing_secret is not None:
        return secrets.static_secret(settings.slack_signing_secret)
    if settings.slack_signing_secret_ssm_parameter is not None:
        return secrets.ssm_secret(
            settings.slack_signing_secret_ssm_parameter,
            max_age,
            setting="IAMWATCH_SLACK_SIGNING_SECRET_SSM_PARAMETER",
            check=secrets.signing_secret_problem,
        )
    if settings.slack_signing_secret_secret_id is not None:
        return secrets.secrets_manager_secret(
            settings.slack_signing_secret_secret_id,
            max_age,
            setting="IAMWATCH_SLACK_SIGNING_SECRET_SECRET_ID",
            keys=secrets.SIGNING_SECRET_KEYS,
            check=secrets.signing_secret_problem,
        )
    raise SettingsError(
        "IAMWATCH_SLACK_SIGNING_SECRET: not set; the interactions endpoint needs the Slack "
        "app's signing secret (or IAMWATCH_SLACK_SIGNING_SECRET_SSM_PARAMETER / _SECRET_ID)"
    )


def build_slack_transport(
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
    deadline: Deadline = NO_DEADLINE,
) -> SlackTransport:
    """The webhook or Web API adapter the settings ask for; the token is read once here so a
    missing or unreadable one fails at start-up, then again (cached) for each message."""
    from iamwatch.slack.secrets import TokenError
    from iamwatch.slack.transport import RetryPolicy, WebApiTransport, WebhookTransport

    policy = RetryPolicy(
        max_retries=settings.slack_max_retries,
        max_wait=float(settings.slack_max_retry_wait_seconds),
    )
    if settings.slack_webhook_url is not None:
        return WebhookTransport(
            settings.slack_webhook_url,
            policy=policy,
            sleep=sleep,
            timeout=settings.slack_timeout_seconds,
            deadline=deadline,
        )
    if not settings.slack_token_configured:
        raise SettingsError(
            "IAMWATCH_SLACK_TOKEN: Slack is not configured; set IAMWATCH_SLACK_TOKEN (or "
            "IAMWATCH_SLACK_TOKEN_SSM_PARAMETER / IAMWATCH_SLACK_TOKEN_SECRET_ID) with "
            "IAMWATCH_SLACK_CHANNEL, or IAMWATCH_SLACK_WEBHOOK_URL"
        )
    token = slack_token_source(settings)
    try:
        token()
    except TokenError as error:
        raise SettingsError(str(error)) from None
    return WebApiTransport(
        token,
        base_url=settings.slack_api_url,
        policy=policy,
        sleep=sleep,
        timeout=settings.slack_timeout_seconds,
        deadline=deadline,
    )


def build_notifier(
    settings: Settings,
    *,
    store: DedupStore | None = None,
    transport: SlackTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: Deadline = NO_DEADLINE,
    runs: RunSummaries | None = None,
) -> SlackNotifier:
    from iamwatch.slack.dedup import SQLiteDedupStore
    from iamwatch.slack.notifier import Routing, SlackNotifier

    chosen = (
        transport if transport is not None else build_slack_transport(settings, sleep, deadline)
    )
    return SlackNotifier(
        chosen,
        store if store is not None else SQLiteDedupStore(settings.state_path),
        routing=Routing(default=settings.slack_channel, by_severity=settings.slack_channels),
        dedup_window=timedelta(seconds=settings.slack_dedup_window_seconds),
        repeats=settings.slack_repeats,
        interactive=settings.slack_interactivity,
        runs=runs,
    )
