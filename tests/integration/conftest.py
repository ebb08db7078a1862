"""Fixtures several integration modules share: the Slack-buttons stack on moto and the loopback
Slack server (defined with its tests in test_handler_interactions.py), and the log stream."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from iamwatch.observability import logger
from tests.integration.test_handler_interactions import stack

__all__ = ["log_lines", "stack"]


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the powertools logger writes, exactly as Lambda ships them; each call
    returns the lines since the last."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)

    def lines() -> list[dict[str, Any]]:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]

    yield lines
    handler.setStream(previous)
