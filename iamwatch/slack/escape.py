"""Neutralising event-derived text for Slack mrkdwn: no live mention, link or formatting survives.

Every string that comes from a CloudTrail record is attacker-controlled (IAM paths may contain
``<``, ``>``, ``&`` and ``!``; user agents and policy documents are free text). Layers, any one
of which stops the usual tricks:

* control characters, line breaks and invisible format characters are removed or collapsed, so
  a value cannot forge structure or hide a token from the checks below;
* ``&``, ``<`` and ``>`` become entities, so no ``<!channel>``, ``<@U...>``, ``<#C...>`` or
  ``<url|text>`` token can exist;
* mrkdwn formatting characters become look-alikes (``_`` only where it could format, so role
  names such as ``AWSReservedSSO_Admin_0123`` stay intact);
* ``://`` and the dots of host names get a zero-width space, so Slack does not auto-link bare
  URLs, domains or e-mail addresses; ``@here``-style words get a look-alike ``@``.

Messages are also sent with ``verbatim`` mrkdwn, ``parse=none`` and no ``link_names``.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "\u2026"
ZWSP = "\u200b"

_LOOKALIKES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "*": "\u2217",  # asterisk operator
    "~": "\u223c",  # tilde operator
    "`": "\u02cb",  # modifier letter grave accent
}
_UNDERSCORE_LOOKALIKE = "\u02cd"  # modifier letter low macron
_AT_LOOKALIKE = "\uff20"  # fullwidth commercial at
# Full stops that URL parsers (IDNA) treat as dots.
_DOTS = frozenset(".\u3002\uff0e\uff61")
_BROADCAST = re.compile(r"(?:here|channel|everyone|group)", re.IGNORECASE)
_SPACES = re.compile(r" {2,}")


def utf16_length(text: str) -> int:
    """Slack counts UTF-16 code units; counting them never undercounts a limit."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def single_line(text: str) -> str:
    """Drop invisible format characters and collapse control characters and line breaks."""
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        if category in ("Cc", "Zl", "Zp") or char.isspace():
            out.append(" ")
        elif category == "Cs":
            out.append("\ufffd")
        else:
            out.append(char)
    return _SPACES.sub(" ", "".join(out)).strip()


def _word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _pieces(text: str) -> list[str]:
    """One output piece per input character, so truncation never splits an escape."""
    pieces: list[str] = []
    last = len(text) - 1
    for index, char in enumerate(text):
        before = text[index - 1] if index > 0 else ""
        after = text[index + 1] if index < last else ""
        if char in _LOOKALIKES:
            pieces.append(_LOOKALIKES[char])
        elif char == "_":
            inside_word = _word_char(before) and _word_char(after)
            pieces.append("_" if inside_word else _UNDERSCORE_LOOKALIKE)
        elif char == ":" and text.startswith("//", index + 1):
            pieces.append(":" + ZWSP)
        elif char in _DOTS and after.isalpha():
            pieces.append(char + ZWSP)
        elif char == "@" and _BROADCAST.match(text, index + 1):
            pieces.append(_AT_LOOKALIKE)
        else:
            pieces.append(char)
    return pieces


def neutralise(text: str | None, limit: int, empty: str = "\u2014") -> str:
    """Event text made inert for mrkdwn, on one line, at most ``limit`` UTF-16 units long."""
    if text is None:
        return empty
    # Bounded work on hostile input: nothing past a few times the limit can be shown anyway.
    raw = text[: limit * 4 + 16]
    cleaned = single_line(raw)
    if not cleaned:
        return empty
    whole = "".join(_pieces(cleaned))
    if len(raw) == len(text) and utf16_length(whole) <= limit:
        return whole
    budget = limit - utf16_length(ELLIPSIS)
    used = 0
    kept = 0
    for piece in _pieces(cleaned):
        used += utf16_length(piece)
        if used > budget:
            break
        kept += 1
    # Re-escaped from the cut text, so an escape never depends on a character that was cut.
    return "".join(_pieces(cleaned[:kept])).rstrip() + ELLIPSIS


# What a command of a remediation plan is made of: validated IAM names, ARNs and options,
# shell-quoted. Nothing Slack treats specially inside a code block (no <, >, &, backtick).
_COMMAND = re.compile(r"^[A-Za-z0-9 _+=,.@:/'-]{1,2000}$")


def code_block(command: str, limit: int = 2000) -> str:
    """A command shown as it must be typed: in a code block, where Slack neither formats nor
    links, with its real characters (a look-alike or zero-width space in a pasted command
    names another principal). Anything but plain command characters is neutralised instead."""
    if _COMMAND.match(command) and len(command) <= limit:
        return f"```{command}```"
    return neutralise(command, limit)


def truncate_plain(text: str, limit: int) -> str:
    """Trusted text cut to ``limit`` UTF-16 units with a marker."""
    if utf16_length(text) <= limit:
        return text
    budget = limit - utf16_length(ELLIPSIS)
    out: list[str] = []
    used = 0
    for char in text:
        size = utf16_length(char)
        if used + size > budget:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + ELLIPSIS
