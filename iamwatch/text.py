"""Attacker-controlled text made safe to store and send: encodable as UTF-8, and bounded.

Lone surrogates cannot come out of a JSON file (orjson refuses them) but can out of an
EventBridge event, which the Lambda runtime decodes with ``json``; no store or wire format
(SQLite, DynamoDB, SQS, CSV, OCSF) can encode them. And one record may carry a 256 KB string,
which a finding repeats in several fields: bounded, a finding always fits an SQS message and a
DynamoDB item, and a key always fits DynamoDB's 2,048-byte key limit.
"""

from __future__ import annotations

import hashlib
from typing import Any

# Characters kept of one free-text field of a finding (a name, an ARN, a user agent); a summary
# quotes several of them.
MAX_TEXT = 2048
MAX_SUMMARY = 4096
# UTF-8 bytes of a key (dedup keys, state keys); longer ones keep a readable head and a digest.
MAX_KEY_BYTES = 512


def encodable(text: str) -> str:
    """``text`` with lone surrogates as ``\\udXXX`` escapes, so every encoder accepts it."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` encodable and at most ``limit`` characters, saying how much was cut."""
    text = encodable(text)
    if len(text) <= limit:
        return text
    marker = f"…[{len(text) - limit} more characters]"
    return text[: limit - len(marker)] + marker


def bounded_key(text: str, limit: int = MAX_KEY_BYTES) -> str:
    """``text`` encodable and at most ``limit`` UTF-8 bytes; a longer one becomes its head and
    a digest of the whole, so equal keys stay equal and different ones different."""
    text = encodable(text)
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    digest = hashlib.sha256(data).hexdigest()
    head = data[: limit - len(digest) - 1].decode("utf-8", "ignore")
    return f"{head}#{digest}"


def encodable_tree(value: Any) -> Any:
    """``value`` with every string in it (keys included) made encodable."""
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {encodable_tree(key): encodable_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(encodable_tree(item) for item in value)
    return value
