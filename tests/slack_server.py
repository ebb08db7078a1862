"""A real HTTP server on loopback that speaks enough of the Slack Web API for tests.

It serves ``POST /api/chat.postMessage``, ``POST /api/chat.update`` (JSON or form bodies, with
the bot token checked), ``auth.test``, ``conversations.info`` and ``conversations.list`` (over
the channels registered with ``add_conversation``, for ``iamwatch doctor``), an incoming-webhook
path and interaction ``response_url`` paths
(``/actions/...``: ephemeral replies to whoever clicked, made by ``response_url()``);
validates every message the way Slack does (block count and text limits: ``invalid_blocks``);
records every request; and can be scripted to answer the next requests, or every request for a
channel, with 429 + Retry-After, 5xx, a dropped connection or an ``ok: false`` error.
``live_tokens`` says what Slack would turn into a live mention or link in a piece of mrkdwn.

    with SlackServer() as slack:
        slack.rate_limit_next(1, retry_after=2)
        ...post to slack.api_url with SlackServer.TOKEN...
        assert slack.top_level("#alerts")[0].blocks[0]["type"] == "header"
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
URL_MAX = 3000
MESSAGE_TEXT_MAX = 40_000
_KNOWN_BLOCKS = {"header", "section", "context", "actions", "divider", "image", "rich_text"}
# Webhooks answer errors as plain text with these statuses.
_WEBHOOK_STATUS = {
    "invalid_blocks": 400,
    "invalid_payload": 400,
    "no_text": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "channel_not_found": 404,
    "no_service": 404,
    "channel_is_archived": 410,
}


@dataclass(frozen=True)
class Fault:
    """How to answer a request instead of handling it."""

    kind: str  # "status", "drop" or "error"
    status: int = 200
    retry_after: int | None = None
    error: str | None = None


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int | None = None  # None: the connection was dropped
    answer: Any = None

    @property
    def method(self) -> str:
        if self.path.startswith("/actions/"):
            return "response_url"
        return self.path.rsplit("/", 1)[-1] if self.path.startswith("/api/") else "webhook"


@dataclass
class Conversation:
    """A channel as conversations.info describes it to the bot."""

    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False
    is_private: bool = False

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_private": self.is_private,
            "is_member": self.is_member,
            "is_archived": self.is_archived,
        }


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    via: str = "api"
    updates: int = 0
    body: dict[str, Any] = field(default_factory=dict)


class SlackServer:
    TOKEN = "xoxb-iamwatch-loopback-token"
    WEBHOOK_PATH = "/services/T0000000/B0000000/loopbackwebhooksecret"
    ACTIONS_PREFIX = "/actions/"

    def __init__(self, token: str = TOKEN, channels: set[str] | None = None) -> None:
        self.token = token
        # None: every channel exists; otherwise only these do.
        self.channels = channels
        self.requests: list[RecordedRequest] = []
        self.messages: list[Message] = []
        self.conversations: dict[str, Conversation] = {}
        # Scopes the token lacks: conversations.* answer missing_scope.
        self.missing_scopes: set[str] = set()
        self._faults: list[Fault] = []
        self._channel_faults: dict[str, tuple[str, int | None]] = {}
        self._lock = threading.Lock()
        self._counter = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # Lifecycle -------------------------------------------------------------------------------
    def start(self) -> SlackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{self.WEBHOOK_PATH}"

    # Scripting -------------------------------------------------------------------------------
    def fail_next(self, count: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    def rate_limit_next(self, count: int, retry_after: int = 1) -> None:
        self.fail_next(count, Fault("status", status=429, retry_after=retry_after))

    def server_error_next(self, count: int, status: int = 503) -> None:
        self.fail_next(count, Fault("status", status=status))

    def drop_next(self, count: int) -> None:
        self.fail_next(count, Fault("drop"))

    def error_next(self, count: int, error: str) -> None:
        self.fail_next(count, Fault("error", error=error))

    def fail_channel(self, channel: str, error: str, times: int | None = None) -> None:
        """Answer ``ok: false`` with ``error`` for posts to ``channel`` (``times`` or forever)."""
        with self._lock:
            self._channel_faults[channel] = (error, times)

    def add_conversation(self, conversation: Conversation) -> Conversation:
        with self._lock:
            self.conversations[conversation.id] = conversation
        return conversation

    def heal_channel(self, channel: str) -> None:
        """The channel works again (unarchived, the bot re-invited)."""
        with self._lock:
            self._channel_faults.pop(channel, None)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # Inspection ------------------------------------------------------------------------------
    def top_level(self, channel: str | None = None) -> list[Message]:
        with self._lock:
            return [
                m
                for m in self.messages
                if m.thread_ts is None and (channel is None or m.channel == channel)
            ]

    def replies(self, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.thread_ts == ts]

    def requests_for(self, method: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def response_url(self) -> str:
        """A fresh interaction response URL on this server, as Slack puts in a payload."""
        with self._lock:
            self._counter += 1
            number = self._counter
        return f"{self.base_url}{self.ACTIONS_PREFIX}T0000000/{number}/responsesecret{number:04d}"

    def responses(self, response_url: str | None = None) -> list[Message]:
        """Messages sent to response URLs (all, or to one), oldest first."""
        path = None if response_url is None else response_url[len(self.base_url) :]
        with self._lock:
            return [
                m
                for m in self.messages
                if m.via == "response_url" and (path is None or m.channel == path)
            ]

    # Handling --------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        self._counter += 1
        return f"{1_715_000_000 + self._counter}.{self._counter:06d}"

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _channel_fault(self, channel: str) -> str | None:
        with self._lock:
            entry = self._channel_faults.get(channel)
            if entry is None:
                return None
            error, times = entry
            if times is not None:
                if times <= 1:
                    del self._channel_faults[channel]
                else:
                    self._channel_faults[channel] = (error, times - 1)
            return error

    def handle_api(self, method: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        expected = f"Bearer {self.token}"
        auth = headers.get("authorization")
        if auth is None:
            return {"ok": False, "error": "not_authed"}
        if auth != expected:
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": "U0IAMWATCH",
                "team_id": "T0TESTTEAM",
                "user": "iamwatch",
            }
        if method.startswith("conversations."):
            return self._conversations(method, body)
        if method not in ("chat.postMessage", "chat.update"):
            return {"ok": False, "error": "unknown_method"}
        channel = body.get("channel")
        if not isinstance(channel, str) or not channel:
            return {"ok": False, "error": "channel_not_found"}
        if self.channels is not None and channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if (error := self._channel_fault(channel)) is not None:
            return {"ok": False, "error": error}
        problems = payload_problems(body)
        if problems:
            return {"ok": False, "error": problems[0][0], "errors": [p[1] for p in problems]}
        with self._lock:
            if method == "chat.update":
                target = next(
                    (m for m in self.messages if m.channel == channel and m.ts == body.get("ts")),
                    None,
                )
                if target is None:
                    return {"ok": False, "error": "message_not_found"}
                target.text = str(body.get("text") or "")
                target.blocks = list(body.get("blocks") or [])
                target.updates += 1
                target.body = body
                return {"ok": True, "channel": channel, "ts": target.ts, "text": target.text}
            thread_ts = body.get("thread_ts")
            if thread_ts is not None and not any(
                m.channel == channel and m.ts == thread_ts for m in self.messages
            ):
                return {"ok": False, "error": "thread_not_found"}
            message = Message(
                channel=channel,
                ts=self._next_ts(),
                text=str(body.get("text") or ""),
                blocks=list(body.get("blocks") or []),
                thread_ts=thread_ts if isinstance(thread_ts, str) else None,
                body=body,
            )
            self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": {"ts": message.ts}}

    def _conversations(self, method: str, body: dict[str, Any]) -> Any:
        if "channels:read" in self.missing_scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:read"}
        with self._lock:
            known = list(self.conversations.values())
        if method == "conversations.info":
            found = next((c for c in known if c.id == body.get("channel")), None)
            if found is None or (found.is_private and not found.is_member):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": found.info()}
        if method == "conversations.list":
            offset = int(body.get("cursor") or 0)
            visible = [c for c in known if not c.is_private or c.is_member]
            page = visible[offset : offset + 2]  # small pages, so paging is exercised
            cursor = str(offset + 2) if offset + 2 < len(visible) else ""
            return {
                "ok": True,
                "channels": [c.info() for c in page],
                "response_metadata": {"next_cursor": cursor},
            }
        return {"ok": False, "error": "unknown_method"}

    def handle_webhook(self, body: dict[str, Any]) -> tuple[int, str]:
        if (error := self._channel_fault("incoming-webhook")) is not None:
            return _WEBHOOK_STATUS.get(error, 400), error
        problems = payload_problems(body)
        if problems:
            code = problems[0][0]
            return _WEBHOOK_STATUS.get(code, 400), code
        with self._lock:
            self.messages.append(
                Message(
                    channel="incoming-webhook",
                    ts=self._next_ts(),
                    text=str(body.get("text") or ""),
                    blocks=list(body.get("blocks") or []),
                    via="webhook",
                    body=body,
                )
            )
        return 200, "ok"

    def handle_response_url(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        problems = payload_problems(body)
        if problems:
            return 400, {"ok": False, "error": problems[0][0]}
        with self._lock:
            self.messages.append(
                Message(
                    channel=path,
                    ts=self._next_ts(),
                    text=str(body.get("text") or ""),
                    blocks=list(body.get("blocks") or []),
                    via="response_url",
                    body=body,
                )
            )
        return 200, {"ok": True}


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests assert on recorded requests instead

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            body = _parse_body(headers.get("content-type", ""), raw)
            record = RecordedRequest(path=self.path, headers=headers, body=body)
            with server._lock:
                server.requests.append(record)
            fault = server._take_fault()
            if fault is not None and fault.kind == "drop":
                # Slack never saw it: the connection closes with no response at all.
                self.close_connection = True
                return
            webhook = self.path == server.WEBHOOK_PATH
            if fault is not None and fault.kind == "status":
                text = "rate_limited" if fault.status == 429 else "service_unavailable"
                answer: Any = text if webhook else {"ok": False, "error": text}
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                self._answer(record, fault.status, answer, extra)
                return
            if fault is not None and fault.kind == "error":
                status = _WEBHOOK_STATUS.get(fault.error or "", 400) if webhook else 200
                answer = fault.error if webhook else {"ok": False, "error": fault.error}
                self._answer(record, status, answer)
                return
            if webhook:
                status, text = server.handle_webhook(body)
                self._answer(record, status, text)
            elif self.path.startswith(server.ACTIONS_PREFIX):
                status, answer = server.handle_response_url(self.path, body)
                self._answer(record, status, answer)
            elif self.path.startswith("/api/"):
                method = self.path[len("/api/") :].split("?", 1)[0]
                self._answer(record, 200, server.handle_api(method, headers, body))
            else:
                self._answer(record, 404, "no_service")

        def _answer(
            self,
            record: RecordedRequest,
            status: int,
            answer: Any,
            headers: dict[str, str] | None = None,
        ) -> None:
            record.status = status
            record.answer = answer
            if isinstance(answer, str):
                data = answer.encode()
                content_type = "text/plain; charset=utf-8"
            else:
                data = json.dumps(answer).encode()
                content_type = "application/json; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        try:
            data = json.loads(raw)
        except ValueError:
            return {"__invalid__": raw.decode(errors="replace")}
        return data if isinstance(data, dict) else {"__invalid__": data}
    form = {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
    body: dict[str, Any] = dict(form)
    for key in ("blocks", "attachments"):
        if key in form:
            try:
                body[key] = json.loads(form[key])
            except ValueError:
                body[key] = form[key]
    return body


def _texts(value: Any) -> Iterator[tuple[str, str | None]]:
    """Every text object in a block tree, as (text, type)."""
    if isinstance(value, dict):
        if isinstance(value.get("text"), str) and value.get("type") in ("mrkdwn", "plain_text"):
            yield value["text"], value["type"]
        for child in value.values():
            yield from _texts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _texts(child)


def payload_problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    """What Slack would reject in a message body, as (error code, detail) pairs."""
    if "__invalid__" in body:
        return [("invalid_payload", "body is not a JSON object")]
    text = body.get("text")
    blocks = body.get("blocks")
    if not text and not blocks:
        return [("no_text", "a message needs text or blocks")]
    if text is not None and (not isinstance(text, str) or len(text) > MESSAGE_TEXT_MAX):
        return [("msg_too_long", "text is not a string of at most 40,000 characters")]
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [("invalid_blocks_format", "blocks must be an array")]
    problems: list[tuple[str, str]] = []

    def bad(where: str, what: str) -> None:
        problems.append(("invalid_blocks", f"[ERROR] {what} [json-pointer:{where}]"))

    if len(blocks) > MAX_BLOCKS:
        bad("/blocks", f"must contain at most {MAX_BLOCKS} blocks")
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict) or block.get("type") not in _KNOWN_BLOCKS:
            bad(where, "unknown block type")
            continue
        kind = block["type"]
        if kind == "header":
            header = block.get("text") or {}
            if header.get("type") != "plain_text":
                bad(f"{where}/text", "header text must be plain_text")
            if not header.get("text") or len(header.get("text", "")) > HEADER_MAX:
                bad(f"{where}/text", f"must be 1 to {HEADER_MAX} characters")
        elif kind == "section":
            section_text = block.get("text")
            fields = block.get("fields")
            if section_text is None and not fields:
                bad(where, "section needs text or fields")
            if section_text is not None and (
                not section_text.get("text") or len(section_text["text"]) > SECTION_TEXT_MAX
            ):
                bad(f"{where}/text", f"must be 1 to {SECTION_TEXT_MAX} characters")
            if fields is not None:
                if len(fields) > FIELDS_MAX:
                    bad(f"{where}/fields", f"must contain at most {FIELDS_MAX} items")
                for number, item in enumerate(fields):
                    if not item.get("text") or len(item["text"]) > FIELD_TEXT_MAX:
                        bad(f"{where}/fields/{number}", f"must be 1 to {FIELD_TEXT_MAX} characters")
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > CONTEXT_ELEMENTS_MAX:
                bad(f"{where}/elements", f"must contain 1 to {CONTEXT_ELEMENTS_MAX} elements")
            for number, item in enumerate(elements):
                if item.get("type") in ("mrkdwn", "plain_text") and (
                    not item.get("text") or len(item["text"]) > SECTION_TEXT_MAX
                ):
                    bad(f"{where}/elements/{number}", "text must be 1 to 3000 characters")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > ACTIONS_ELEMENTS_MAX:
                bad(f"{where}/elements", f"must contain 1 to {ACTIONS_ELEMENTS_MAX} elements")
            for number, item in enumerate(elements):
                label = (item.get("text") or {}).get("text", "")
                if item.get("type") == "button" and not 0 < len(label) <= BUTTON_TEXT_MAX:
                    bad(f"{where}/elements/{number}/text", "button text must be 1 to 75 chars")
                url = item.get("url")
                if url is not None and (not isinstance(url, str) or len(url) > URL_MAX):
                    bad(f"{where}/elements/{number}/url", f"url must be at most {URL_MAX} chars")
    return problems


# What Slack turns into live tokens in mrkdwn (and in a message's top-level text).
_ANGLE_TOKEN = re.compile(r"<[^>\n]*>?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_WWW = re.compile(r"(?i)\bwww[.\u3002\uff0e\uff61][A-Za-z0-9]")
_DOMAIN = re.compile(r"[A-Za-z0-9-][.\u3002\uff0e\uff61][A-Za-z]")
_BROADCAST = re.compile(r"(?i)@(?:here|channel|everyone|group)\b")


_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)


def live_tokens(text: str) -> list[str]:
    """Mentions, links and auto-linkable URLs, domains or e-mail addresses in ``text``.

    Slack's own linkifier is not public; this errs on the side of calling things live: any
    ``<...>`` token (even in a code block), any ``scheme://``, ``www.host``, any dot between a
    word character and a letter (a host name or an e-mail domain), and ``@here``-style
    broadcasts, except inside a ```code block```, where Slack neither links nor formats.
    """
    found = [match.group() for match in _ANGLE_TOKEN.finditer(text)]
    prose = _CODE_BLOCK.sub(" ", text)
    for pattern in (_SCHEME, _WWW, _DOMAIN, _BROADCAST):
        found.extend(match.group() for match in pattern.finditer(prose))
    return found


def message_texts(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The top-level text and every text object in the blocks, as (text, type)."""
    texts: list[tuple[str, str | None]] = []
    if isinstance(body.get("text"), str):
        texts.append((body["text"], "mrkdwn"))
    texts.extend(_texts(body.get("blocks") or []))
    return texts


def button_urls(body: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    for block in body.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("url"), str):
                urls.append(element["url"])
    return urls
