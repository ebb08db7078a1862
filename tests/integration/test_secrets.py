"""Secrets never leak: a full run with a known fake Slack token (from an SSM SecureString on
moto) and a known incoming-webhook secret, through the detect and notify handlers (with
Slack failing: 5xx, then invalid_auth) and the CLI (``iamwatch scan --slack`` and
``iamwatch slack test``, in subprocesses), and with a known signing secret through the
interactions and remediate handlers (signed, forged, stale, replayed and malformed clicks),
capturing every log, span, audit record, dead letter, queued message, Slack request body and
error message: no secret appears anywhere, in plain, URL-encoded, JSON-escaped, repr() or
base64 form."""

from __future__ import annotations

import base64
import io
import logging
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
import pytest

from handlers import events, notifier
from iamwatch.delivery import FIXABLE_ATTEMPTS
from iamwatch.observability import logger as powertools_logger
from tests.aws import (
    Deployed,
    LambdaContext,
    dead_letters,
    deploy,
    eventbridge_event,
    sqs_batches,
    use_slack,
)
from tests.conftest import ROOT, detector_cases
from tests.otlp import Collector
from tests.slack_server import SlackServer

MARKER = uuid.uuid4().hex
TOKEN = f"xoxb-4242-{MARKER}"
WEBHOOK_SECRET = f"whsecret{uuid.uuid4().hex}"
WEBHOOK_PATH = f"/services/T0000000/B0000000/{WEBHOOK_SECRET}"
SIGNING_SECRET = f"signing{uuid.uuid4().hex}"
SECRETS = (TOKEN, WEBHOOK_SECRET, SIGNING_SECRET)
RECORDS = [
    c.records[0]
    for c in detector_cases()
    if c.path.stem.startswith("positive_") and c.expect and len(c.records) == 1
][:8]


def forms(secret: str) -> list[str]:
    unique = secret.split("-")[-1] if secret.startswith("xoxb-") else secret
    return [
        secret,
        unique,  # any fragment that carries the secret part
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret),
        orjson.dumps(secret).decode(),
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode(),
        secret.encode().hex(),
    ]


def assert_clean(where: str, text: str | bytes) -> None:
    haystack = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in haystack, f"a secret ({form[:12]}...) leaked into {where}"


class Everything(logging.Handler):
    """Every log record, rendered with its arguments, extras and exception text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(
            f"{record.name} {record.getMessage()} {record.__dict__!r} {record.exc_text or ''}"
        )
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.append(repr(record.exc_info[1]))


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.server.shutdown()


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer(token=TOKEN)
    server.WEBHOOK_PATH = WEBHOOK_PATH
    with server:
        yield server


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, Everything]]:
    stream_handler = powertools_logger.registered_handler
    assert isinstance(stream_handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = stream_handler.setStream(buffer)
    everything = Everything()
    root = logging.getLogger()
    root.addHandler(everything)
    logging.getLogger(powertools_logger.name).addHandler(everything)
    try:
        yield buffer, everything
    finally:
        stream_handler.setStream(previous)
        root.removeHandler(everything)
        logging.getLogger(powertools_logger.name).removeHandler(everything)


@pytest.fixture
def deployed(
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    slack: SlackServer,
    collector: Collector,
) -> Deployed:
    monkeypatch.setenv("IAMWATCH_OTLP_ENDPOINT", collector.url)
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, TOKEN)
    return deployed


def test_the_lambda_path_never_exposes_the_token(
    deployed: Deployed,
    slack: SlackServer,
    collector: Collector,
    captured: tuple[io.StringIO, Everything],
    capsys: pytest.CaptureFixture[str],
) -> None:
    buffer, everything = captured
    errors: list[str] = []
    for record in RECORDS:
        events.handler(eventbridge_event(record), LambdaContext())
    # Slack fails: 5xx (retried by the SDK, then by SQS), then invalid_auth (retried on the
    # first receives, with the token read again, then dead-lettered).
    slack.server_error_next(4, status=503)
    slack.error_next(FIXABLE_ATTEMPTS * 2, "invalid_auth")

    def handler(event: dict[str, Any], context: Any) -> Any:
        try:
            return notifier.handler(event, context)
        except Exception as error:  # what Lambda would log as the invocation's error
            errors.extend([str(error), repr(error)])
            raise

    sqs_batches(deployed, deployed.alert_queue_url, handler)
    parked = dead_letters(deployed)
    assert parked, "the invalid_auth failures were dead-lettered"
    reasons = [m["MessageAttributes"]["reason"]["StringValue"] for m in parked]
    assert any(reason.startswith("invalid_auth") for reason in reasons)
    assert any(r.status == 503 for r in slack.requests)
    # The token was really used (the server checks it), just never written anywhere.
    assert any(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in slack.requests)

    assert_clean("the powertools log stream", buffer.getvalue())
    assert buffer.getvalue().count("alert dead-lettered") >= 1
    assert any("slack delivery failed" in line for line in everything.lines)
    assert_clean("Python logging", "\n".join(everything.lines))
    out = capsys.readouterr()
    assert_clean("stdout", out.out)
    assert_clean("stderr", out.err)
    assert_clean("invocation errors", "\n".join(errors))
    assert "deliver" in {span.name for span in collector.spans()}
    for request in collector.requests:
        assert_clean("exported OTLP spans", request.SerializeToString())
        assert_clean("exported OTLP spans", str(request))
    dynamodb = deployed.client("dynamodb")
    for table in ("IAMWATCH_AUDIT_TABLE", "IAMWATCH_STATE_TABLE", "IAMWATCH_IDEMPOTENCY_TABLE"):
        items = dynamodb.scan(TableName=deployed.env[table])["Items"]
        assert items or table != "IAMWATCH_AUDIT_TABLE"
        assert_clean(f"the {table} items", orjson.dumps(items))
    assert_clean("dead letters", orjson.dumps(parked))
    assert_clean("alert queue", orjson.dumps(deployed.alerts()))
    for sent in slack.requests:
        assert_clean("Slack request bodies", orjson.dumps(sent.body))


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iamwatch", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IAMWATCH_", "AWS_", "OTEL_"))
    }
    env.update(
        {
            "IAMWATCH_AUDIT_PATH": str(tmp_path / "audit.sqlite"),
            "IAMWATCH_SLACK_MAX_RETRIES": "1",
            "IAMWATCH_SLACK_MAX_RETRY_WAIT_SECONDS": "1",
            "PYTHONWARNINGS": "default",
            **extra,
        }
    )
    return env


def test_the_cli_never_exposes_the_token_or_the_webhook(tmp_path: Path, slack: SlackServer) -> None:
    trail = tmp_path / "trail.json"
    trail.write_bytes(orjson.dumps({"Records": RECORDS}))
    outputs: list[str] = []
    token_env = _cli_env(
        tmp_path,
        IAMWATCH_SLACK_TOKEN=TOKEN,
        IAMWATCH_SLACK_API_URL=slack.api_url,
        IAMWATCH_SLACK_CHANNEL="#security-alerts",
    )
    webhook_env = _cli_env(tmp_path, IAMWATCH_SLACK_WEBHOOK_URL=slack.webhook_url)

    ok = _cli(["scan", str(trail), "--slack"], token_env)
    outputs += [ok.stdout, ok.stderr]
    assert ok.returncode in (0, 1), ok.stderr
    assert slack.top_level("#security-alerts")

    # Slack refuses the token, then is down: errors are reported, the token is not.
    slack.error_next(1, "invalid_auth")
    refused = _cli(["slack", "test"], token_env)
    outputs += [refused.stdout, refused.stderr]
    assert refused.returncode == 4 and "invalid_auth" in refused.stderr
    slack.server_error_next(10, status=503)
    down = _cli(["slack", "test"], token_env)
    outputs += [down.stdout, down.stderr]
    assert down.returncode == 4
    while slack.pending_faults:
        slack._take_fault()

    second = tmp_path / "more.json"
    second.write_bytes(orjson.dumps({"Records": RECORDS[:3]}))
    slack.fail_channel("#security-alerts", "invalid_auth")
    failing_scan = _cli(
        ["scan", str(second), "--slack", "--state", str(tmp_path / "s.db")], token_env
    )
    outputs += [failing_scan.stdout, failing_scan.stderr]

    # The incoming webhook: its URL is the secret.
    hooked = _cli(["slack", "test"], webhook_env)
    outputs += [hooked.stdout, hooked.stderr]
    assert hooked.returncode == 0, hooked.stderr
    slack.fail_channel("incoming-webhook", "invalid_token")
    refused_hook = _cli(["slack", "test"], webhook_env)
    outputs += [refused_hook.stdout, refused_hook.stderr]
    assert refused_hook.returncode == 4
    slack.server_error_next(10, status=500)
    down_hook = _cli(["slack", "test"], webhook_env)
    outputs += [down_hook.stdout, down_hook.stderr]
    assert down_hook.returncode == 4

    for number, text in enumerate(outputs):
        assert_clean(f"CLI output #{number}", text)
    for path in tmp_path.iterdir():
        if path.suffix in (".sqlite", ".db"):
            with sqlite3.connect(path) as db:
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                    rows = db.execute(f'SELECT * FROM "{name}"').fetchall()
                    assert_clean(f"{path.name}:{name}", repr(rows))
            assert_clean(path.name, path.read_bytes())


def test_the_slack_buttons_never_expose_the_signing_secret_or_the_token(
    deployed: Deployed,
    monkeypatch: pytest.MonkeyPatch,
    slack: SlackServer,
    collector: Collector,
    captured: tuple[io.StringIO, Everything],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from handlers import interactions, remediate
    from iamwatch.slack.interactions.messages import CONFIRM_ACTION
    from iamwatch.slack.render import ACKNOWLEDGE_ACTION, REMEDIATE_ACTION
    from tests.interactions import click, form, http_event, signed_headers

    buffer, everything = captured
    parameter = f"/iamwatch/{uuid.uuid4().hex[:8]}/slack-signing-secret"
    deployed.client("ssm").put_parameter(Name=parameter, Value=SIGNING_SECRET, Type="SecureString")
    sqs = deployed.client("sqs")
    queue = sqs.create_queue(QueueName=f"iamwatch-remediation-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for name, value in {
        "IAMWATCH_SLACK_CHANNEL": "C0ALERTS01",
        "IAMWATCH_SLACK_INTERACTIVITY": "true",
        "IAMWATCH_SLACK_SIGNING_SECRET_SSM_PARAMETER": parameter,
        "IAMWATCH_SLACK_APPROVERS": "U0APPROVE1",
        "IAMWATCH_REMEDIATION_QUEUE_URL": queue,
    }.items():
        monkeypatch.setenv(name, value)
    record = next(r for r in RECORDS if r["eventName"] == "CreateAccessKey")
    events.handler(eventbridge_event(record), LambdaContext())
    sqs_batches(deployed, deployed.alert_queue_url, notifier.handler)
    (alert,) = [m for m in slack.top_level("C0ALERTS01") if "iamwatch.remediate" in str(m.blocks)]
    finding = next(
        e["value"]
        for b in alert.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ACKNOWLEDGE_ACTION
    )
    answers: list[Any] = []

    def send(body: bytes, headers: dict[str, str]) -> None:
        answers.append(interactions.handler(http_event(body, headers), LambdaContext()))

    ack = form(click(ACKNOWLEDGE_ACTION, finding, alert=alert))
    signed = signed_headers(ack, secret=SIGNING_SECRET)
    send(ack, signed)
    send(ack, signed)  # replayed
    send(ack, signed_headers(ack, secret="a-forger-guessing"))
    send(ack, signed_headers(ack, secret=SIGNING_SECRET, age=600))
    send(b"payload=%7B", signed_headers(b"payload=%7B", secret=SIGNING_SECRET))
    url = slack.response_url()
    show = form(click(REMEDIATE_ACTION, finding, user="U0APPROVE1", alert=alert, response_url=url))
    send(show, signed_headers(show, secret=SIGNING_SECRET))
    (plan,) = slack.responses(url)
    value = next(
        e["value"]
        for b in plan.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == CONFIRM_ACTION
    )
    yes = form(
        click(CONFIRM_ACTION, value, user="U0APPROVE1", channel="C0ALERTS01", ephemeral_ts=plan.ts)
    )
    send(yes, signed_headers(yes, secret=SIGNING_SECRET))
    assert [a["statusCode"] for a in answers] == [200, 401, 401, 401, 400, 200, 200]
    # The remediation itself fails (the user is not in moto's IAM): its error is reported too.
    sqs_batches(deployed, queue, remediate.handler)

    assert_clean("the powertools log stream", buffer.getvalue())
    assert "slack interaction refused" in buffer.getvalue()
    assert_clean("Python logging", "\n".join(everything.lines))
    out = capsys.readouterr()
    assert_clean("stdout", out.out)
    assert_clean("stderr", out.err)
    assert_clean("handler answers", orjson.dumps(answers))
    for request in collector.requests:
        assert_clean("exported OTLP spans", request.SerializeToString())
    dynamodb = deployed.client("dynamodb")
    for table in ("IAMWATCH_AUDIT_TABLE", "IAMWATCH_STATE_TABLE"):
        items = dynamodb.scan(TableName=deployed.env[table])["Items"]
        assert_clean(f"the {table} items", orjson.dumps(items))
    kinds = {item["kind"]["S"] for item in dynamodb.scan(
        TableName=deployed.env["IAMWATCH_AUDIT_TABLE"])["Items"] if "kind" in item}  # fmt: skip
    assert {"finding-acknowledged", "interaction-refused", "remediation-approved"} <= kinds
    for sent in slack.requests:
        assert_clean("Slack request bodies", orjson.dumps(sent.body))
        assert_clean("Slack request headers", orjson.dumps(
            {k: v for k, v in sent.headers.items() if k != "authorization"}))  # fmt: skip
