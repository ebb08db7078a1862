"""The scheduled inventory: read the account live, audit every row, raise posture findings for
checks newly failed (through the one detection path, so suppression and the alert queue apply),
post the Slack digest, then store the snapshot the next run compares with and the event stream
keeps current.

The snapshot is stored last: a run that fails before (Slack down) is retried by Lambda against
the same previous snapshot, and its posture findings have the same ids (the day is in them),
so they are alerted once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from iamwatch import audit
from iamwatch import observability as obs
from iamwatch.audit import AuditLog
from iamwatch.aws.inventory import LiveInventory
from iamwatch.inventory.model import Row
from iamwatch.inventory.report import assess, build_identities
from iamwatch.inventory.tracker import StateInventory
from iamwatch.inventory.weekly import compare, digest, posture_findings
from iamwatch.settings import Settings

if TYPE_CHECKING:
    from iamwatch.detection import DetectionService
    from iamwatch.slack.transport import SlackTransport


class InventoryRun(BaseModel):
    """What a run did; also the ``data`` of its ``inventory-taken`` audit record."""

    model_config = ConfigDict(frozen=True)

    account: str | None
    as_of: datetime
    identities: int
    first: bool
    posture_findings: int
    digest: str
    notes: list[str]


class DigestFailed(RuntimeError):
    """Slack refused the digest: the run fails (and is retried) after auditing why."""


class WeeklyInventory:
    def __init__(
        self,
        settings: Settings,
        reader: LiveInventory,
        tracker: StateInventory,
        audit_log: AuditLog,
        detection: DetectionService,
        transport: Callable[[], SlackTransport | None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._reader = reader
        self._tracker = tracker
        self._audit = audit_log
        self._detection = detection
        self._transport = transport
        self._clock = clock

    def run(self, event: Mapping[str, Any] | None = None) -> InventoryRun:
        settings = self._settings
        read = self._reader.read(
            lambda step: obs.logger.info("inventory reading", extra={"step": step})
        )
        identities = build_identities(
            read.report, read.details, services=read.services,
            identity_center=read.identity_center, key_ids=read.key_ids,
        )  # fmt: skip
        now = self._clock()
        inventory = assess(
            identities, settings.inventory_thresholds, now, settings.protected,
            as_of_source="scheduled", report_generated=read.report.generated, notes=read.notes,
        )  # fmt: skip
        first = self._tracker.last_taken(inventory.account) is None

        def before(row: Row) -> Mapping[str, Any] | None:
            stored = self._tracker.stored(row.account, row.user)
            return None if stored is None else stored.get("snapshot")

        changes = compare(inventory, before, settings.access_key_max_age_days, first)
        for row in inventory.rows:
            self._audit.append(audit.inventory_row(row.as_json(), now))
        findings = posture_findings(inventory, changes, settings.runbook_base_url)
        if findings:
            self._detection.raise_findings(findings, now=now)
        outcome = self._post(digest(inventory, changes, settings.access_key_max_age_days))
        self._tracker.take(identities, inventory.rows, now)
        result = InventoryRun(
            account=inventory.account,
            as_of=now,
            identities=len(inventory.rows),
            first=first,
            posture_findings=len(findings),
            digest=outcome,
            notes=list(inventory.notes),
        )
        self._audit.append(audit.inventory_taken(result.model_dump(mode="json")))
        obs.logger.info("inventory taken", extra=result.model_dump(mode="json"))
        obs.count("InventoryIdentities", len(inventory.rows))
        obs.count("PostureFindings", len(findings))
        return result

    def _post(self, message: Any) -> str:
        from iamwatch.slack.transport import DeliveryError

        transport = self._transport()
        channel = self._settings.slack_channel
        if transport is None or (channel is None and transport.fixed_channel is None):
            return "not-configured"
        target = transport.fixed_channel or channel or ""
        try:
            transport.post(target, message)
        except DeliveryError as error:
            self._audit.append(audit.inventory_digest("failed", target, error.reason))
            obs.logger.error("inventory digest failed", extra={"reason": error.reason})
            raise DigestFailed(f"Slack refused the inventory digest: {error.reason}") from None
        self._audit.append(audit.inventory_digest("posted", target, None))
        return "posted"
