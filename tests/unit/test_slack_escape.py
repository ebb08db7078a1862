"""Neutralising event text for mrkdwn: inert, readable, on one line, and within a limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamwatch.slack.escape import ELLIPSIS, ZWSP, neutralise, single_line, utf16_length
from tests.slack_server import live_tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U024BE7LH|bob>", "&lt;@U024BE7LH|bob&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;!here&gt;", "&amp;lt;!here&amp;gt;"),
        ("*bold* ~strike~ `code`", "\u2217bold\u2217 \u223cstrike\u223c \u02cbcode\u02cb"),
        ("_italic_", "\u02cditalic\u02cd"),
        ("ping @here and @Channel", "ping \uff20here and \uff20Channel"),
        ("https://evil.example/x", f"https:{ZWSP}//evil.{ZWSP}example/x"),
        ("mail bob@evil.example", f"mail bob@evil.{ZWSP}example"),
        ("line1\nline2\r\nline3\u2028line4", "line1 line2 line3 line4"),
        ("tab\there", "tab here"),
        ("a\u200b.\u202ecom", "a.\u200bcom"),
    ],
)
def test_neutralise_makes_tokens_inert(text: str, expected: str) -> None:
    assert neutralise(text, 500) == expected


@pytest.mark.parametrize(
    "kept",
    [
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        "arn:aws:iam::123456789012:user/ci-deployer",
        "203.0.113.24",
        "2001:db8::1",
        "aws-cli/2.15.40 Python/3.11.8",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_ordinary_identifiers_are_left_readable(kept: str) -> None:
    assert neutralise(kept, 500) == kept


def test_empty_and_missing_values_show_a_dash() -> None:
    assert neutralise(None, 10) == "\u2014"
    assert neutralise(" \n\t\u200b", 10) == "\u2014"


def test_truncation_keeps_escapes_whole_and_marks_the_cut() -> None:
    out = neutralise("&" * 100, 23)
    assert out == "&amp;" * 4 + ELLIPSIS
    assert utf16_length(out) <= 23


def test_a_cut_never_leaves_a_formatting_underscore_or_a_url_scheme() -> None:
    # Kept as "_" inside the word, the underscore would end the cut text: it is re-escaped.
    assert neutralise("abc_defgh", 5) == "abc\u02cd" + ELLIPSIS
    assert neutralise("xx https://evil.example", 11) == "xx https:" + ELLIPSIS
    assert neutralise("see evil.example now", 15) == f"see evil.{ZWSP}exam" + ELLIPSIS


def test_astral_characters_count_as_two_units() -> None:
    out = neutralise("\U0001f600" * 10, 9)
    assert out == "\U0001f600" * 4 + ELLIPSIS
    assert utf16_length(out) == 9


def test_work_on_huge_input_is_bounded() -> None:
    out = neutralise("x" * 5_000_000, 100)
    assert len(out) == 100 and out.endswith(ELLIPSIS)


def test_single_line_replaces_lone_surrogates() -> None:
    assert single_line("a\ud83db") == "a\ufffdb"


@settings(max_examples=300, deadline=None)
@given(text=st.text(), limit=st.integers(min_value=2, max_value=400))
def test_neutralised_text_is_one_inert_line_within_the_limit(text: str, limit: int) -> None:
    out = neutralise(text, limit)
    assert utf16_length(out) <= limit
    assert "\n" not in out and "\r" not in out
    assert "<" not in out and ">" not in out
    assert live_tokens(out) == []
