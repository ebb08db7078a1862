"""The Slack notifier: routing, dedup and delivery of findings, one result each.

Nothing is dropped silently: every finding handed in comes back as a ``DeliveryResult`` saying
it was posted, deduplicated (a repeat within the window, or a finding already delivered) or
failed (with Slack's reason and whether a retry could succeed). Whether a finding is
suppressed is decided before it gets here, once, by the detection service.

There is one delivery path, for a batch: delivering one finding is delivering a batch of one.

Findings of a backfill run (``backfill_run``) below critical are not posted one by one: they
are counted into the run's one summary message (``iamwatch.slack.runs``), posted once and then
updated; each comes back ``summarized``. Critical ones are posted as alerts like any other.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.slack.dedup import AlertRecord, DedupStore
from iamwatch.slack.render import (
    Repeat,
    render,
    render_links,
    render_repeat,
    render_repeats,
    render_run_summary,
)
from iamwatch.slack.runs import RunSummaries, RunSummary, summarized
from iamwatch.slack.transport import AUTH_ERRORS, DeliveryError, Posted, SlackTransport

logger = logging.getLogger("iamwatch.slack")

RepeatMode = Literal["thread", "update"]

# Errors that will fail the same way for every message to that channel, or to any channel:
# after the first, later findings of the same batch are failed without another request, with
# the same reason. Only within the batch: people fix channels and tokens, and a warm notifier
# that remembered them for its lifetime would send every later alert to the dead-letter queue.
CHANNEL_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"}
)


def _code(reason: str | None) -> str:
    return (reason or "").split(":", 1)[0].split(" ", 1)[0]


def needs_people(reason: str | None) -> bool:
    """A failure someone can fix in minutes (re-invite the bot, unarchive the channel, rotate
    the token): worth a few more tries before it is dead-lettered."""
    code = _code(reason)
    return code in CHANNEL_ERRORS or code in AUTH_ERRORS


WEBHOOK_REPEAT = "repeat counted; incoming webhooks cannot thread or update messages"
# chat.update cannot edit the first message any more: post a fresh alert instead.
UPDATE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


class Outcome(StrEnum):
    POSTED = "posted"
    DEDUPLICATED = "deduplicated"
    ALREADY_DELIVERED = "already-delivered"
    # Counted into its backfill run's summary message (iamwatch.slack.runs).
    SUMMARIZED = "summarized"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    finding_id: str
    detector: str
    severity: Severity
    outcome: Outcome
    channel: str | None = None
    ts: str | None = None
    reason: str | None = None
    retryable: bool = False
    repeat_count: int | None = None


@dataclass(slots=True)
class DeliverySummary:
    results: list[DeliveryResult] = field(default_factory=list)

    def add(self, result: DeliveryResult) -> None:
        self.results.append(result)

    @property
    def counts(self) -> Counter[Outcome]:
        return Counter(result.outcome for result in self.results)

    @property
    def failures(self) -> list[DeliveryResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class Routing:
    """A channel per severity, falling back to the default channel."""

    default: str | None
    by_severity: Mapping[Severity, str] = field(default_factory=dict)

    def channel_for(self, severity: Severity) -> str | None:
        return self.by_severity.get(severity) or self.default


class SlackNotifier:
    def __init__(
        self,
        transport: SlackTransport,
        store: DedupStore,
        *,
        routing: Routing,
        dedup_window: timedelta = timedelta(hours=1),
        repeats: RepeatMode = "thread",
        interactive: bool = False,
        runs: RunSummaries | None = None,
    ) -> None:
        self.transport = transport
        # None: backfill findings are delivered like any other (no run summaries).
        self.runs = runs
        self.interactive = interactive
        self.store = store
        self.routing = routing
        self.dedup_window = dedup_window
        self.repeats = repeats
        # Permanent failures remembered for the batch being delivered, by channel (None: all).
        self._blocked: dict[str | None, str] = {}

    def begin_batch(self) -> None:
        """A new queued batch (a new Lambda invocation): Slack gets a fresh chance, however
        the last batch went."""
        self.transport.breaker.answered()

    def deliver_all(self, findings: Iterable[Finding]) -> DeliverySummary:
        """Deliver a batch, one result per finding in input order.

        Repeats of one alert within the batch are folded into one Slack write (one thread
        reply, or one update with the final count) made after the batch has been read; the
        dedup store and every result end as if each repeat had been written on its own.
        """
        batch = list(findings)
        self._blocked = {}
        results: list[DeliveryResult | None] = [None] * len(batch)
        folds: dict[str, _Fold] = {}
        # Finding id -> dedup key of the fold it went into.
        folded: dict[str, str] = {}
        # Backfill runs this batch touches: their new findings, and every finding of theirs.
        counted: dict[str, list[_Pending]] = {}
        touched: dict[str, list[_Pending]] = {}
        for index, finding in enumerate(batch):
            key = folded.get(finding.finding_id)
            if key is not None and key in folds and folds[key].holds(finding.finding_id):
                # The same finding twice: delivered one by one, the first copy would already
                # be written (and the second already-delivered), so write it now.
                self._flush(folds.pop(key), results)
            run = finding.backfill_run if self.runs is not None and summarized(finding) else None
            if run is not None:
                touched.setdefault(run, []).append(_Pending(index, finding))
            if self.store.seen(finding.finding_id):
                results[index] = self._result(finding, Outcome.ALREADY_DELIVERED)
                continue
            if run is not None:
                if finding.finding_id not in {p.finding.finding_id for p in counted.get(run, [])}:
                    counted.setdefault(run, []).append(_Pending(index, finding))
                else:
                    results[index] = self._result(finding, Outcome.ALREADY_DELIVERED)
                continue
            if self._route(_Pending(index, finding), folds, results):
                folded[finding.finding_id] = finding.dedup_key
        for fold in folds.values():
            self._flush(fold, results)
        for run, items in touched.items():
            self._summarize(run, counted.get(run, []), items, results)
        summary = DeliverySummary()
        for result in results:
            assert result is not None, "every finding gets a result"
            summary.add(result)
        return summary

    def _summarize(
        self,
        run_id: str,
        new: list[_Pending],
        touched: list[_Pending],
        results: list[DeliveryResult | None],
    ) -> None:
        """Count a run's new findings into its summary, then bring its Slack message up to
        date. The counts are kept even when Slack fails (each finding is counted once); the
        failure is the result of every finding of the run in this batch, so the queue
        delivers them again and the retry refreshes the message."""
        assert self.runs is not None
        summary = self.runs.add(run_id, [item.finding for item in new]) if new else None
        for item in new:
            self.store.mark_seen(item.finding.finding_id, f"backfill-run:{run_id}")
        try:
            summary = self._refresh(summary or self.runs.get(run_id))
        except DeliveryError as error:
            channel = error.channel or self._summary_channel()
            if not error.retryable:
                self._remember(channel, error.reason)
            for item in touched:
                results[item.index] = self._failed(item.finding, error, channel)
            return
        for item in new:
            results[item.index] = self._result(
                item.finding, Outcome.SUMMARIZED, channel=summary.channel, ts=summary.ts
            )

    def _refresh(self, summary: RunSummary) -> RunSummary:
        """Post the run's message (by the one notifier that claims it) or update it, when it
        shows fewer findings than were counted."""
        assert self.runs is not None
        if not summary.stale:
            return summary
        message = render_run_summary(
            summary.run_id, summary.total, summary.by_severity, summary.by_detector
        )
        if summary.ts is None or summary.channel is None:
            if not self.runs.claim(summary.run_id):
                return summary  # another notifier is posting it, with these counts
            channel = self._summary_channel()
            if channel is None:
                self.runs.release(summary.run_id)
                raise DeliveryError("no Slack channel for backfill run summaries", retryable=False)
            try:
                self._check_blocked(channel)
                posted = self.transport.post(channel, message)
            except DeliveryError:
                self.runs.release(summary.run_id)  # so the retry can post it
                raise
            if posted.ts is None:  # an incoming webhook: nothing to update later
                self.runs.shown(summary.run_id, summary.total)
                return summary
            latest = self.runs.posted(summary.run_id, posted.channel, posted.ts, summary.total)
            logger.info("slack backfill run summary posted", extra={"run": summary.run_id})
            # Counted while it was being posted: show those too.
            return self._refresh(latest)
        if not self.transport.supports_threads:
            return summary  # incoming webhooks cannot update a message
        self._check_blocked(summary.channel)
        self.transport.update(summary.channel, summary.ts, message)
        self.runs.shown(summary.run_id, summary.total)
        return summary

    def _summary_channel(self) -> str | None:
        return (
            self.transport.fixed_channel
            or self.routing.default
            or self.routing.channel_for(Severity.HIGH)
        )

    def deliver(self, finding: Finding) -> DeliveryResult:
        """Deliver one finding: a batch of one. Never raises for a Slack problem."""
        (result,) = self.deliver_all([finding]).results
        return result

    def _route(
        self, item: _Pending, folds: dict[str, _Fold], results: list[DeliveryResult | None]
    ) -> bool:
        """Fold a repeat into its alert's pending write (True), or post the finding now."""
        finding = item.finding
        fold = folds.get(finding.dedup_key)
        if fold is not None:
            if self._within_window(fold.record, finding):
                fold.add(item)
                return True
            # Outside the window of the alert as the fold leaves it: one by one, the earlier
            # repeats were written before this becomes a new alert, so write them first.
            self._flush(folds.pop(finding.dedup_key), results)
        existing = self.store.get(finding.dedup_key)
        if existing is not None and self._within_window(existing, finding):
            fold = folds[finding.dedup_key] = _Fold(existing)
            fold.add(item)
            return True
        results[item.index] = self._post_or_fail(finding)
        return False

    def _post_or_fail(self, finding: Finding) -> DeliveryResult:
        """Post the finding as a new alert; a Slack error becomes a failed result."""
        try:
            return self._post(finding)
        except DeliveryError as error:
            channel = error.channel or self._channel(finding)
            if not error.retryable:
                self._remember(channel, error.reason)
            return self._failed(finding, error, channel)

    def _failed(
        self, finding: Finding, error: DeliveryError, channel: str | None
    ) -> DeliveryResult:
        logger.warning(
            "slack delivery failed",
            extra={
                "finding_id": finding.finding_id,
                "channel": channel,
                "reason": error.reason,
                "retryable": error.retryable,
            },
        )
        return self._result(
            finding,
            Outcome.FAILED,
            channel=channel,
            reason=error.reason,
            retryable=error.retryable,
        )

    def _flush(self, fold: _Fold, results: list[DeliveryResult | None]) -> None:
        """Make the one Slack write for a fold, then record each folded finding."""
        existing = fold.existing
        if existing.ts is None or not self.transport.supports_threads:
            # Incoming webhooks can neither thread nor edit: the repeats are counted, not sent.
            self._record(fold, results, reason=WEBHOOK_REPEAT)
            return
        try:
            self._check_blocked(existing.channel)
            self._write_repeats(fold)
        except DeliveryError as error:
            if error.reason.split(" ", 1)[0] in UPDATE_GONE_ERRORS:
                # As one by one: the first repeat becomes a fresh alert, the others repeat it.
                head, *rest = fold.items
                results[head.index] = self._post_or_fail(head.finding)
                folds: dict[str, _Fold] = {}
                for item in rest:
                    self._route(item, folds, results)
                for again in folds.values():
                    self._flush(again, results)
                return
            if not error.retryable:
                self._remember(existing.channel, error.reason)
            # Nothing is marked seen, so a re-run retries every folded finding.
            for item in fold.items:
                results[item.index] = self._failed(item.finding, error, existing.channel)
            return
        self._record(fold, results)
        if len(fold.items) > 1:
            logger.info(
                "slack repeats folded",
                extra={"channel": existing.channel, "repeats": len(fold.items)},
            )

    def _record(
        self, fold: _Fold, results: list[DeliveryResult | None], reason: str | None = None
    ) -> None:
        """The fold's repeats were written (or counted): store the alert and each finding."""
        existing = fold.existing
        self.store.put(fold.record)
        for item, count in zip(fold.items, fold.counts, strict=True):
            self.store.mark_seen(item.finding.finding_id, item.finding.dedup_key)
            results[item.index] = self._result(
                item.finding,
                Outcome.DEDUPLICATED,
                channel=existing.channel,
                ts=existing.ts,
                reason=reason,
                repeat_count=count,
            )

    def _write_repeats(self, fold: _Fold) -> None:
        existing, record = fold.existing, fold.record
        assert existing.ts is not None
        if self.repeats == "thread":
            findings = [item.finding for item in fold.items]
            first_count = existing.count + 1
            reply = (
                render_repeat(findings[0], first_count)
                if len(findings) == 1
                else render_repeats(findings, first_count)
            )
            self.transport.post(existing.channel, reply, thread_ts=existing.ts)
        else:
            first = Finding.model_validate_json(existing.finding_json)
            message = render(
                first,
                repeat=Repeat(record.count, record.first_seen, record.last_seen),
                interactive=self.interactive,
            )
            self.transport.update(existing.channel, existing.ts, message)

    def _channel(self, finding: Finding) -> str | None:
        return self.transport.fixed_channel or self.routing.channel_for(finding.severity)

    def _remember(self, channel: str | None, reason: str) -> None:
        code = _code(reason)
        # Keep the first reason: later ones already carry "an earlier message failed".
        if code in AUTH_ERRORS:
            self._blocked.setdefault(None, reason)
        elif code in CHANNEL_ERRORS and channel is not None:
            self._blocked.setdefault(channel, reason)

    def _check_blocked(self, channel: str) -> None:
        reason = self._blocked.get(None) or self._blocked.get(channel)
        if reason is not None:
            raise DeliveryError(
                f"{reason} (an earlier message failed the same way)", retryable=False
            )

    def _post(self, finding: Finding) -> DeliveryResult:
        """Post the finding as a new alert, which later repeats of its dedup key refer to."""
        channel = self._channel(finding)
        if channel is None:
            raise DeliveryError(
                f"no Slack channel for {finding.severity.value} findings", retryable=False
            )
        self._check_blocked(channel)
        posted = self.transport.post(channel, render(finding, interactive=self.interactive))
        self.store.put(
            AlertRecord(
                dedup_key=finding.dedup_key,
                channel=posted.channel,
                ts=posted.ts,
                first_seen=finding.event_time,
                last_seen=finding.event_time,
                count=1,
                finding_json=finding.model_dump_json(),
            )
        )
        self.store.mark_seen(finding.finding_id, finding.dedup_key)
        logger.info(
            "slack alert posted", extra={"finding_id": finding.finding_id, "channel": channel}
        )
        if finding.links and posted.ts is not None and self.transport.supports_threads:
            self._thread_links(finding, posted)
        return self._result(finding, Outcome.POSTED, channel=posted.channel, ts=posted.ts)

    def _thread_links(self, finding: Finding, posted: Posted) -> None:
        """A sequence alert threads the alerts of the events it links: one reply naming each
        event and its own finding. The alert itself already lists the events, so a reply that
        fails is logged, not retried (the alert was delivered)."""
        assert posted.ts is not None
        try:
            self.transport.post(
                posted.channel, render_links(finding, self.store.seen), thread_ts=posted.ts
            )
        except DeliveryError as error:
            logger.warning(
                "slack linked alerts reply failed",
                extra={"finding_id": finding.finding_id, "reason": error.reason},
            )

    def _within_window(self, record: AlertRecord, finding: Finding) -> bool:
        if self.dedup_window <= timedelta(0):
            return False
        return abs(finding.event_time - record.first_seen) < self.dedup_window

    @staticmethod
    def _result(
        finding: Finding,
        outcome: Outcome,
        *,
        channel: str | None = None,
        ts: str | None = None,
        reason: str | None = None,
        retryable: bool = False,
        repeat_count: int | None = None,
    ) -> DeliveryResult:
        return DeliveryResult(
            finding_id=finding.finding_id,
            detector=finding.detector,
            severity=finding.severity,
            outcome=outcome,
            channel=channel,
            ts=ts,
            reason=reason,
            retryable=retryable,
            repeat_count=repeat_count,
        )


def _counted(record: AlertRecord, finding: Finding) -> AlertRecord:
    """The alert's record once ``finding`` is counted as one more repeat of it."""
    return replace(
        record,
        count=record.count + 1,
        first_seen=min(record.first_seen, finding.event_time),
        last_seen=max(record.last_seen, finding.event_time),
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    """A finding of a batch not delivered before, at its position in the batch."""

    index: int
    finding: Finding


@dataclass(slots=True)
class _Fold:
    """Repeats of one posted alert waiting for their single Slack write.

    ``record`` is the alert as the repeats so far leave it, so each further finding is checked
    against the same window it would meet if the earlier ones had already been written.
    """

    existing: AlertRecord
    items: list[_Pending] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    record: AlertRecord = field(init=False)

    def __post_init__(self) -> None:
        self.record = self.existing

    def add(self, item: _Pending) -> None:
        self.record = _counted(self.record, item.finding)
        self.items.append(item)
        self.counts.append(self.record.count)
        self.ids.add(item.finding.finding_id)

    def holds(self, finding_id: str) -> bool:
        return finding_id in self.ids
