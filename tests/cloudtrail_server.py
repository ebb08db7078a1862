"""CloudTrail's event history (``LookupEvents``) on loopback, which moto does not serve.

Speaks the JSON 1.1 protocol botocore uses for CloudTrail, enough for ``LookupEvents`` by event
name in a time window, newest first, 50 a page with ``NextToken``. Point a client at it with
``AWS_ENDPOINT_URL_CLOUDTRAIL`` (botocore's per-service endpoint variable) or ``endpoint_url``.

    with CloudTrailHistory() as history:
        history.add(record)          # a CloudTrail record, as in a log file
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = 50


class CloudTrailHistory:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CloudTrailHistory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)

    def lookup(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            records = list(self.records)
        wanted = {
            (item["AttributeKey"], item["AttributeValue"])
            for item in body.get("LookupAttributes", [])
        }
        start = _time(body.get("StartTime"), datetime.min.replace(tzinfo=UTC))
        end = _time(body.get("EndTime"), datetime.max.replace(tzinfo=UTC))
        matching = [
            record
            for record in records
            if all(key != "EventName" or record["eventName"] == value for key, value in wanted)
            and start <= _parse(record["eventTime"]) <= end
        ]
        matching.sort(key=lambda record: record["eventTime"], reverse=True)
        offset = int(body.get("NextToken") or 0)
        page = matching[offset : offset + PAGE]
        answer: dict[str, Any] = {
            "Events": [
                {
                    "EventId": record["eventID"],
                    "EventName": record["eventName"],
                    "EventTime": _parse(record["eventTime"]).timestamp(),
                    "EventSource": record.get("eventSource"),
                    "CloudTrailEvent": json.dumps(record),
                }
                for record in page
            ]
        }
        if offset + PAGE < len(matching):
            answer["NextToken"] = str(offset + PAGE)
        return answer


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _time(value: Any, default: datetime) -> datetime:
    if value is None:
        return default
    return datetime.fromtimestamp(float(value), UTC)


def _handler_for(server: CloudTrailHistory) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            target = self.headers.get("X-Amz-Target", "")
            if target.endswith(".LookupEvents"):
                status, answer = 200, server.lookup(body)
            else:
                status, answer = 400, {"__type": "UnknownOperationException"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
