"""One logger, one metrics object and one OpenTelemetry tracer for the Lambda handlers.

Logs are structured JSON (powertools Logger) with the CloudTrail eventID as correlation id;
metrics are CloudWatch EMF (powertools Metrics); traces are OpenTelemetry spans, exported over
OTLP only when an endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
IAMWATCH_OTLP_ENDPOINT) and flushed before each handler returns.

Nothing here is imported or built until first used (the logger, the metrics, the tracer), so
that a handler module imports in a few milliseconds: Lambda's cold start then pays only for
what the first event needs, when it needs it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    # Built on first use by ``__getattr__`` below; typed here for callers.
    logger: Logger
    metrics: Metrics

SERVICE = "iamwatch"
NAMESPACE = "iamwatch"

P = ParamSpec("P")
R = TypeVar("R")

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _log_json(entry: dict[str, Any]) -> str:
    """powertools' JSON (compact, UTF-8 kept readable), with lone surrogates written as the
    text ``\\udXXX``: Lambda writes logs as UTF-8, which cannot encode them, and the whole
    line would be lost. Only a hostile event carries them (in an eventID, the correlation id)."""
    text = json.dumps(entry, default=str, separators=(",", ":"), ensure_ascii=False)
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub(lambda match: f"\\\\u{ord(match.group()):04x}", text)


def _logger() -> Logger:
    found: Logger | None = globals().get("logger")
    if found is None:
        from aws_lambda_powertools import Logger

        found = globals()["logger"] = Logger(service=SERVICE, json_serializer=_log_json)
    return found


def _metrics() -> Metrics:
    found: Metrics | None = globals().get("metrics")
    if found is None:
        from aws_lambda_powertools import Metrics

        found = globals()["metrics"] = Metrics(namespace=NAMESPACE, service=SERVICE)
    return found


def __getattr__(name: str) -> Any:
    """``logger`` and ``metrics``, made on first access (then plain module attributes)."""
    if name == "logger":
        return _logger()
    if name == "metrics":
        return _metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_provider: TracerProvider | None = None
# The endpoint spans are exported to, and by which processor (None: not exporting).
_exporter: tuple[str, SpanProcessor] | None = None


def otlp_endpoint() -> str | None:
    return os.environ.get("IAMWATCH_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")


def _switchable_exporter() -> Any:
    """The provider's one exporting span processor, whose target follows the configured
    endpoint: OpenTelemetry allows one provider per process and no removing of processors,
    and a processor left exporting to an endpoint no longer configured would wait on it at
    every flush."""
    from opentelemetry.sdk.trace import SpanProcessor

    class Exporting(SpanProcessor):
        def __init__(self) -> None:
            self.inner: SpanProcessor | None = None

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            if self.inner is not None:
                self.inner.on_start(span, parent_context)

        def on_end(self, span: Any) -> None:
            if self.inner is not None:
                self.inner.on_end(span)

        def shutdown(self) -> None:
            if self.inner is not None:
                self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True if self.inner is None else self.inner.force_flush(timeout_millis)

    return Exporting()


_exporting: Any = None


def configure_tracing() -> None:
    """Install the SDK tracer provider once, and export over OTLP/HTTP to the configured
    endpoint (a change of endpoint replaces the exporter; none stops exporting)."""
    global _provider, _exporter, _exporting
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        _provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
        _exporting = _switchable_exporter()
        _provider.add_span_processor(_exporting)
        trace.set_tracer_provider(_provider)
    endpoint = otlp_endpoint()
    current = _exporter[0] if _exporter is not None else None
    if endpoint == current:
        return
    if _exporting.inner is not None:
        _exporting.inner.shutdown()
        _exporting.inner, _exporter = None, None
    if endpoint:
        # Imported only when exporting: the exporter costs ~90 ms of cold start.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
        _exporting.inner = BatchSpanProcessor(exporter)
        _exporter = (endpoint, _exporting.inner)


def flush_traces() -> None:
    """Lambda freezes the process after return, so spans must leave before it does."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=3000)


def flushing(handler: Callable[P, R]) -> Callable[P, R]:
    """Flush spans when a handler returns or raises."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        finally:
            flush_traces()

    return wrapper


def lambda_handler(
    correlation_id_path: str | None = None,
) -> Callable[[Callable[P, R]], Callable[..., R]]:
    """The stack every handler shares: the Lambda context and a correlation id in each log
    line (state cleared between invocations), EMF metrics flushed, spans flushed. (The
    context is typed loosely, as Lambda and tests pass any object with its attributes.)"""

    def wrap(handler: Callable[P, R]) -> Callable[..., R]:
        stacked: Callable[..., R] | None = None

        # The powertools stack is built on the first invocation, not at import.
        @functools.wraps(handler)
        def entry(*args: Any, **kwargs: Any) -> R:
            nonlocal stacked
            if stacked is None:
                logged = _logger().inject_lambda_context(
                    correlation_id_path=correlation_id_path, clear_state=True
                )
                stacked = logged(_metrics().log_metrics(flushing(handler)))
            return stacked(*args, **kwargs)

        return entry

    return wrap


def tracer() -> trace.Tracer:
    from opentelemetry import trace

    return trace.get_tracer(SERVICE)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    with tracer().start_as_current_span(name) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(f"iamwatch.{key}", value)
        yield current


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """A count; with dimensions (e.g. detector and severity) it is emitted as its own EMF
    blob so that each combination is a separate CloudWatch metric."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    if not dimensions:
        _metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE
    ) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


def milliseconds(name: str, value: float) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    _metrics().add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
