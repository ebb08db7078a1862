"""Observability of the detect handler: structured logs correlated by eventID, EMF metrics,
and OpenTelemetry spans exported over OTLP to a collector on loopback before it returns."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from handlers import events
from iamwatch.observability import logger
from tests.aws import Deployed, LambdaContext, deploy, eventbridge_event
from tests.conftest import detector_cases
from tests.otlp import Collector

CASE = next(c for c in detector_cases() if c.id.startswith("iam-user-created/positive"))


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    # One collector for the module: the process keeps one tracer provider and its exporter.
    running = Collector()
    yield running
    running.server.shutdown()


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, collector: Collector) -> Deployed:
    monkeypatch.setenv("IAMWATCH_OTLP_ENDPOINT", collector.url)
    return deploy(moto_endpoint, monkeypatch)


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(orjson.loads(line))
    return lines


def test_spans_are_exported_before_the_handler_returns(
    deployed: Deployed, collector: Collector
) -> None:
    record = CASE.records[0]
    events.handler(eventbridge_event(record), LambdaContext())
    spans = {span.name: span for span in collector.spans()}
    assert {"detect", "enrich", "queue"} <= set(spans)
    attributes = {a.key: a.value.string_value for a in spans["detect"].attributes}
    assert attributes["iamwatch.event_id"] == record["eventID"]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the powertools logger writes, exactly as Lambda would ship it to CloudWatch."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def test_logs_are_json_correlated_by_event_id(deployed: Deployed, log_output: io.StringIO) -> None:
    record = CASE.records[0]
    events.handler(eventbridge_event(record), LambdaContext())
    logs = _json_lines(log_output.getvalue())
    raised = [line for line in logs if line.get("message") == "finding raised"]
    assert raised and raised[0]["correlation_id"] == record["eventID"]
    assert raised[0]["detector"] == "iam-user-created"


def test_metrics_are_emf_with_detector_and_severity(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    events.handler(eventbridge_event(CASE.records[0]), LambdaContext())
    blobs = [line for line in _json_lines(capsys.readouterr().out) if "_aws" in line]
    findings = [b for b in blobs if "Findings" in b]
    assert findings
    assert findings[0]["detector"] == "iam-user-created"
    assert findings[0]["severity"] == "medium"
    assert any("DetectionLag" in b for b in blobs)


def test_malformed_events_are_counted(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    event = eventbridge_event(CASE.records[0])
    event["detail"] = {"eventSource": "iam.amazonaws.com"}
    events.handler(event, LambdaContext())
    blobs = [line for line in _json_lines(capsys.readouterr().out) if "_aws" in line]
    assert any(b.get("MalformedEvents") == [1.0] or b.get("MalformedEvents") == 1.0 for b in blobs)
