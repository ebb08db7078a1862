"""The only live links in an alert (runbook, CloudTrail console) and the URL checks behind them."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit

BUTTON_URL_MAX = 3000

# Characters that have no business in a link Slack will open: they could end a mrkdwn link,
# start a new token, or hide where the link goes.
_UNSAFE_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>|\"'`{}\\^]")
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}$")
_EVENT_ID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# CloudTrail event history lives on a different console domain in each partition.
_CONSOLE_DOMAINS = (
    ("us-gov-", "console.amazonaws-us-gov.com"),
    ("cn-", "console.amazonaws.cn"),
)
_DEFAULT_CONSOLE_DOMAIN = "console.aws.amazon.com"


def http_url_problem(url: str, *, https_only_unless_loopback: bool = False) -> str | None:
    """Why ``url`` is not a safe http(s) URL to hand to Slack or to urllib, or ``None``."""
    if _UNSAFE_URL_CHARS.search(url):
        return "must not contain spaces, control characters or any of < > | \" ' ` { } \\ ^"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if https_only_unless_loopback and parts.scheme == "http" and not is_loopback(parts.hostname):
        return "must use https (http is only allowed for loopback hosts)"
    if len(url) > BUTTON_URL_MAX:
        return f"must be at most {BUTTON_URL_MAX} characters"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_safe_link(url: str) -> bool:
    return http_url_problem(url) is None


def cloudtrail_event_url(region: str | None, event_id: str | None) -> str | None:
    """The event in CloudTrail event history, when region and event id are genuine."""
    if region is None or event_id is None:
        return None
    if not _REGION.match(region) or not _EVENT_ID.match(event_id):
        return None
    domain = next(
        (name for prefix, name in _CONSOLE_DOMAINS if region.startswith(prefix)),
        _DEFAULT_CONSOLE_DOMAIN,
    )
    region_q = quote(region, safe="")
    return (
        f"https://{region_q}.{domain}/cloudtrailv2/home?region={region_q}"
        f"#/events/{quote(event_id.lower(), safe='')}"
    )
