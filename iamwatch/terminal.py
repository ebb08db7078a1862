"""Making event-derived text safe to print on a terminal.

Record fields are attacker-controlled; an escape sequence in a user agent must not repaint or
retitle the on-call engineer's terminal. Control characters are shown as visible escapes.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str | None) -> str:
    if text is None:
        return ""
    return _CONTROL.sub(
        lambda match: (
            f"\\x{ord(match.group()):02x}"
            if ord(match.group()) < 256
            else f"\\u{ord(match.group()):04x}"
        ),
        text,
    )
