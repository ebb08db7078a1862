"""Faults, nothing lost: the real Lambda handlers against moto and the loopback Slack server,
with Slack outages, permanent failures, a notifier dying mid-batch, duplicated events and
DynamoDB throttling and timeouts injected on the wire.

Every scenario reports one ``FAULTS`` line (events, faults injected, alerts expected,
delivered, duplicated, lost) and asserts on the same figures; SECURITY.md quotes them
(``pytest -s tests/integration/test_faults.py`` prints them).
"""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from handlers import events, notifier
from iamwatch.aws import container as aws_container
from iamwatch.composition import build_slack_transport
from iamwatch.finding import Finding
from tests.aws import (
    Deployed,
    LambdaContext,
    dead_letters,
    deploy,
    eventbridge_event,
    sqs_batches,
    use_slack,
)
from tests.conftest import detector_cases, run_records
from tests.slack_server import Fault, Message, SlackServer

POSITIVE = [c for c in detector_cases() if c.path.stem.startswith("positive_") and c.expect]
SINGLE = [c for c in POSITIVE if len(c.records) == 1]
RECORDS = [c.records[0] for c in SINGLE]
PASS = Fault("pass")  # not a fault: SlackServer handles the request normally


@dataclass
class Figures:
    scenario: str
    events: int
    faults: int
    expected: int
    delivered: int
    duplicated: int
    lost: int

    def line(self) -> str:
        return (
            f"FAULTS {self.scenario}: events={self.events} faults={self.faults} "
            f"expected={self.expected} delivered={self.delivered} "
            f"duplicated={self.duplicated} lost={self.lost}"
        )

    def report(self) -> None:
        print(self.line())
        assert (self.delivered, self.duplicated, self.lost) == (self.expected, 0, 0), self.line()


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> Deployed:
    deployed = deploy(moto_endpoint, monkeypatch)
    # Every retry is left to SQS, so an outage spans several deliveries of each message.
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN, max_retries="0")
    return deployed


def expected_findings(records: list[dict[str, Any]]) -> dict[str, Finding]:
    return {f.finding_id: f for f in run_records(records)}


def posted_ids(messages: list[Message]) -> list[str]:
    """The finding id of each posted message (top-level and thread replies), from its footer."""
    ids = []
    for message in messages:
        footer = message.blocks[-1]["elements"][0]["text"]
        ids.append(footer.split("Finding ", 1)[1].split(" ", 1)[0])
    return ids


def tally(
    scenario: str, events_sent: int, faults: int, expected: dict[str, Finding], slack: SlackServer
) -> Figures:
    counts = Counter(posted_ids(slack.messages))
    return Figures(
        scenario=scenario,
        events=events_sent,
        faults=faults,
        expected=len(expected),
        delivered=sum(1 for fid in expected if counts[fid] >= 1),
        duplicated=sum(n - 1 for n in counts.values() if n > 1)
        + sum(n for fid, n in counts.items() if fid not in expected),
        lost=sum(1 for fid in expected if counts[fid] == 0),
    )


def faults_answered(slack: SlackServer) -> int:
    """Requests Slack answered with a fault: dropped, 429 or 5xx."""
    return sum(1 for r in slack.requests if r.status is None or r.status in (429, 500, 503))


def detect(records: list[dict[str, Any]]) -> None:
    for record in records:
        events.handler(eventbridge_event(record), LambdaContext())


class Recording:
    """The notifier handler, noting which Slack messages each invocation posted."""

    def __init__(self, slack: SlackServer) -> None:
        self.slack = slack
        self.invocations: list[list[Message]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        before = len(self.slack.messages)
        try:
            return notifier.handler(event, context)
        finally:
            self.invocations.append(self.slack.messages[before:])


def test_a_sustained_slack_outage_loses_nothing_and_delivers_oldest_first(
    deployed: Deployed, slack: SlackServer
) -> None:
    records = RECORDS[:24]
    expected = expected_findings(records)
    waves = [records[i : i + 8] for i in range(0, len(records), 8)]
    # The outage: a rotating mix of 503s, 429s with Retry-After and dropped connections,
    # long enough to cover every request of the rounds below.
    mix = [
        Fault("status", status=503),
        Fault("status", status=429, retry_after=1),
        Fault("drop"),
        Fault("status", status=500),
    ]
    for index in range(200):
        slack.fail_next(1, mix[index % len(mix)])
    handler = Recording(slack)
    outage_rounds = 0
    for wave in waves:  # findings keep arriving while Slack is down
        detect(wave)
        outage_rounds += sqs_batches(deployed, deployed.alert_queue_url, handler, max_rounds=1)
    # One more round: the oldest alerts have now failed 4 of their 5 allowed deliveries
    # (maxReceiveCount), the most an outage may last before they are dead-lettered.
    outage_rounds += sqs_batches(deployed, deployed.alert_queue_url, handler, max_rounds=1)
    assert slack.messages == [], "Slack was down: nothing could be posted"
    faults = faults_answered(slack)
    assert faults >= len(records), "the outage met every alert"
    print(f"FAULTS slack-outage: {outage_rounds} SQS rounds of outage, {faults} faulted requests")
    while slack.pending_faults:  # Slack recovers
        slack._take_fault()
    sqs_batches(deployed, deployed.alert_queue_url, handler, max_rounds=20)
    assert dead_letters(deployed) == []
    # The notifier sorts each batch by event time: each invocation posts oldest first.
    for posted in handler.invocations:
        times = [expected[fid].event_time for fid in posted_ids(posted)]
        assert times == sorted(times)
    figures = tally("slack-outage", len(records), faults, expected, slack)
    figures.report()


def test_a_permanent_failure_is_dead_lettered_with_its_reason_and_nothing_else(
    deployed: Deployed, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAMWATCH_SLACK_CHANNEL_CRITICAL", "#deleted-channel")
    aws_container.reset()
    records = RECORDS[:20]
    expected = expected_findings(records)
    critical = {fid for fid, f in expected.items() if f.severity.value == "critical"}
    assert critical and len(critical) < len(expected)
    slack.fail_channel("#deleted-channel", "channel_not_found")
    slack.server_error_next(3)  # and a transient blip, which must not dead-letter anything
    detect(records)
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler)
    parked = dead_letters(deployed)
    parked_ids = {orjson.loads(m["Body"])["finding_id"] for m in parked}
    assert parked_ids == critical and len(parked) == len(critical)
    for message in parked:
        assert message["MessageAttributes"]["reason"]["StringValue"].startswith("channel_not_found")
    deliverable = {fid: f for fid, f in expected.items() if fid not in critical}
    figures = tally(
        "permanent-failure",
        len(records),
        faults_answered(slack) + len(critical),
        deliverable,
        slack,
    )
    print(f"FAULTS permanent-failure: dead-lettered={len(parked)} (all channel_not_found)")
    figures.report()


def test_a_notifier_dying_mid_batch_redelivers_only_the_unsent(
    deployed: Deployed, slack: SlackServer
) -> None:
    records = RECORDS[:10]  # one SQS batch
    expected = expected_findings(records)
    detect(records)
    # Slack takes three posts, then every connection drops: the rest fail in that invocation.
    slack.fail_next(3, PASS)
    slack.drop_next(7)
    handler = Recording(slack)
    sqs_batches(deployed, deployed.alert_queue_url, handler, max_rounds=1)
    assert len(handler.invocations[0]) == 3
    # The breaker tripped after three dropped connections: the rest of that batch failed at
    # once, without trying Slack (and waiting) once per alert.
    assert slack.pending_faults == 4
    sqs_batches(deployed, deployed.alert_queue_url, handler)
    assert sum(len(posted) for posted in handler.invocations[1:]) == len(expected) - 3
    assert dead_letters(deployed) == []
    tally("notifier-crash-mid-batch", len(records), 7, expected, slack).report()


def test_the_notifier_killed_after_posting_does_not_post_again(
    deployed: Deployed, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invocation dies outright (a Lambda timeout or out-of-memory kill) after some
    posts: the whole batch returns to the queue and only what was not posted is posted."""
    records = RECORDS[:10]
    expected = expected_findings(records)
    detect(records)

    class Killed(BaseException):
        pass

    class DyingTransport:
        """The real Slack transport, until the invocation is killed after four posts."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.posts = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def post(self, *args: Any, **kwargs: Any) -> Any:
            if self.posts == 4:
                raise Killed()
            self.posts += 1
            return self.inner.post(*args, **kwargs)

    deployed.install_container(
        lambda app: setattr(
            app, "slack_transport", DyingTransport(build_slack_transport(app.settings))
        )
    )

    def dying(event: dict[str, Any], context: Any) -> Any:
        try:
            return notifier.handler(event, context)
        except Killed:
            return {
                "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
            }

    sqs_batches(deployed, deployed.alert_queue_url, dying, max_rounds=1)
    assert len(slack.messages) == 4
    deployed.install_container()  # a new Lambda container, with the real transport
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler)
    tally("notifier-killed", len(records), 1, expected, slack).report()


def test_each_event_three_times_interleaved_posts_once(
    deployed: Deployed, slack: SlackServer
) -> None:
    records = RECORDS[:16]
    expected = expected_findings(records)
    deliveries = [record for record in records for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    detect(deliveries)
    # SQS is at-least-once too: every alert message arrives three times, interleaved.
    bodies = [orjson.dumps(body).decode() for body in deployed.alerts()]
    assert len(bodies) == len(expected), "detection was idempotent on eventID"
    copies = [body for body in bodies for _ in range(3)]
    random.Random(11).shuffle(copies)
    sqs = deployed.client("sqs")
    for body in copies:
        sqs.send_message(QueueUrl=deployed.alert_queue_url, MessageBody=body)
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler, max_rounds=30)
    figures = tally("duplicates-x3", len(deliveries), 0, expected, slack)
    print(
        f"FAULTS duplicates-x3: detect invocations={len(deliveries)}, alert messages={len(copies)}"
    )
    figures.report()


# DynamoDB faults on the wire ---------------------------------------------------------------


class DynamoDBFaultProxy:
    """A loopback HTTP proxy in front of moto. DynamoDB requests are answered with faults on a
    schedule: throttled (HTTP 400 ProvisionedThroughputExceededException, not forwarded), or
    forwarded and then answered too late for the client's read timeout (the write may have
    happened: the hazard a real timeout has). Everything else passes through."""

    THROTTLE = orjson.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded.",
        }
    )

    def __init__(self, upstream: str, schedule: Callable[[int, str], str | None]) -> None:
        self.upstream = upstream
        self.schedule = schedule
        self.dynamodb_requests = 0
        self.injected: Counter[str] = Counter()
        self.by_operation: Counter[str] = Counter()
        self.delay = 0.6
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target") or ""
                fault = None
                if target.startswith("DynamoDB_"):
                    with proxy._lock:
                        proxy.dynamodb_requests += 1
                        fault = proxy.schedule(proxy.dynamodb_requests, target.split(".")[-1])
                        if fault is not None:
                            proxy.injected[fault] += 1
                            proxy.by_operation[target.split(".")[-1]] += 1
                if fault == "throttle":
                    self._send(400, {"Content-Type": "application/x-amz-json-1.0"}, proxy.THROTTLE)
                    return
                status, headers, data = proxy.forward(self.command, self.path, self.headers, body)
                if fault == "timeout":
                    time.sleep(proxy.delay)  # past the client's read timeout
                    self.close_connection = True
                    return
                self._send(status, headers, data)

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                                "server", "date"):  # fmt: skip
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.upstream + path,
            data=body if method in ("POST", "PUT") else None,
            method=method,
            headers={k: v for k, v in headers.items() if k.lower() != "host"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def total(self) -> int:
        return sum(self.injected.values())


class ShortLambdaContext(LambdaContext):
    """An invocation with little time left: an idempotency record left in progress by a
    failed invocation expires quickly, as it does when a real Lambda times out."""

    def get_remaining_time_in_millis(self) -> int:
        return 300


def _short_timeout_clients(deployed: Deployed, proxy: DynamoDBFaultProxy) -> None:
    """The handlers' container with a DynamoDB client as built in production but with a 0.5 s
    read timeout (instead of 60 s), so the proxy's late answers time out quickly."""
    import boto3
    from botocore.config import Config

    dynamodb = boto3.session.Session().client(
        "dynamodb", endpoint_url=proxy.url, config=Config(read_timeout=0.5, connect_timeout=1)
    )
    deployed.install_container(
        lambda app: setattr(app, "clients", aws_container.Clients(dynamodb=dynamodb))
    )


def _detect_until_done(record: dict[str, Any]) -> int:
    """Invoke the detect handler as EventBridge does: a failed invocation is retried (up to
    185 times in AWS); returns how many invocations failed before one succeeded."""
    failed = 0
    while True:
        try:
            events.handler(eventbridge_event(record), ShortLambdaContext())
            return failed
        except Exception:
            failed += 1
            assert failed < 8, "EventBridge gives up eventually; the faults must not persist"
            time.sleep(0.35)  # the failed invocation's in-progress record expires


@pytest.fixture
def proxied(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[int, str], str | None]], DynamoDBFaultProxy]]:
    proxies: list[DynamoDBFaultProxy] = []

    def start(schedule: Callable[[int, str], str | None]) -> DynamoDBFaultProxy:
        proxy = DynamoDBFaultProxy(deployed.endpoint, schedule)
        proxies.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
        _short_timeout_clients(deployed, proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


def test_dynamodb_throttling_and_timeouts_are_absorbed_by_retries(
    deployed: Deployed,
    slack: SlackServer,
    proxied: Callable[[Callable[[int, str], str | None]], DynamoDBFaultProxy],
) -> None:
    """Every fourth DynamoDB request (idempotency, state, dedup and audit tables) is throttled
    and every eleventh times out, in detection and in delivery."""

    def schedule(number: int, operation: str) -> str | None:
        if number % 11 == 0:
            return "timeout"
        if number % 4 == 0:
            return "throttle"
        return None

    proxy = proxied(schedule)
    records = RECORDS[:5]
    expected = expected_findings(records)
    escaped = sum(_detect_until_done(record) for record in records)
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler)
    assert dead_letters(deployed) == []
    assert proxy.injected["throttle"] > 0 and proxy.injected["timeout"] > 0
    print(
        f"FAULTS dynamodb-faults: injected {dict(proxy.injected)} over "
        f"{proxy.dynamodb_requests} DynamoDB requests ({dict(proxy.by_operation)}); "
        f"detect invocations failed and retried: {escaped}"
    )
    tally("dynamodb-throttling-timeouts", len(records), proxy.total, expected, slack).report()


def test_a_dynamodb_fault_that_outlasts_the_retries_fails_the_invocation_then_alerts_once(
    deployed: Deployed,
    slack: SlackServer,
    proxied: Callable[[Callable[[int, str], str | None]], DynamoDBFaultProxy],
) -> None:
    throttled: dict[str, int] = {"left": 0}

    def schedule(number: int, operation: str) -> str | None:
        if throttled["left"] > 0:
            throttled["left"] -= 1
            return "throttle"
        return None

    proxy = proxied(schedule)
    records = RECORDS[:2]
    expected = expected_findings(records)
    failed_invocations = 0
    for index, record in enumerate(records):
        # Each event meets a throttling burst longer than botocore's 4 attempts, at a
        # different point of the path (idempotency claim, state, alert audit...).
        throttled["left"] = 4 + index % 2
        skip_ok = index  # requests allowed through before the burst

        def later(
            number: int, operation: str, start: int = proxy.dynamodb_requests + skip_ok
        ) -> str | None:
            return schedule(number, operation) if number > start else None

        proxy.schedule = later
        failed_invocations += _detect_until_done(record)
        proxy.schedule = schedule
    assert failed_invocations >= 1, "a burst escaped botocore's retries and failed the invocation"
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler)
    assert dead_letters(deployed) == []
    print(f"FAULTS dynamodb-escaped: failed detect invocations={failed_invocations}, retried")
    tally("dynamodb-fault-escapes-retries", len(records), proxy.total, expected, slack).report()


def test_dynamodb_faults_during_delivery_do_not_double_post(
    deployed: Deployed,
    slack: SlackServer,
    proxied: Callable[[Callable[[int, str], str | None]], DynamoDBFaultProxy],
) -> None:
    """Faults on the state table while the notifier records what it posted."""
    records = RECORDS[:3]
    expected = expected_findings(records)
    detect_only: dict[str, bool] = {"on": False}

    def schedule(number: int, operation: str) -> str | None:
        if not detect_only["on"]:
            return None
        if number % 7 == 0:
            return "timeout"
        return "throttle" if number % 3 == 0 else None

    proxy = proxied(schedule)
    for record in records:
        _detect_until_done(record)
    detect_only["on"] = True
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler)
    assert dead_letters(deployed) == []
    assert proxy.total > 0
    tally("dynamodb-faults-in-delivery", len(records), proxy.total, expected, slack).report()
