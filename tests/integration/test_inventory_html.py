"""The inventory's HTML page in a real headless Chromium: it renders, its script runs without
a single console message, the figures on the page equal what the JSON Lines add up to, the
table sorts and filters, and hostile names stay text."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.browser import render, screenshot
from tests.conftest import EXAMPLES_DIR, run_iamwatch

REPORT = EXAMPLES_DIR / "inventory" / "credential-report.csv"
DETAILS = EXAMPLES_DIR / "inventory" / "authorization-details.json"
AS_OF = "2026-11-06T18:02:00+00:00"


class _Page(HTMLParser):
    """The figures (data-figure), the table rows and whether each is hidden, and any element
    or attribute that would run script."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.rows: list[dict[str, Any]] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self._figure: str | None = None
        self.ready = False
        self.visible: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html" and values.get("data-ready") == "1":
            self.ready = True
        if tag == "script":
            self.scripts += 1
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if "data-figure" in values:
            self._figure = values["data-figure"]
        if "data-visible" in values:
            self.visible = values["data-visible"]
        if tag == "tr" and values.get("class") == "identity":
            self.rows.append({**values, "hidden": "hidden" in values})

    def handle_data(self, data: str) -> None:
        if self._figure is not None:
            self.figures[self._figure] = data.strip()
            self._figure = None


def parse(dom: str) -> _Page:
    page = _Page()
    page.feed(dom)
    return page


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("inventory")
    common = ("inventory", "--credential-report", str(REPORT), "--authorization-details",
              str(DETAILS), "--as-of", AS_OF)  # fmt: skip
    page = folder / "report.html"
    made = run_iamwatch(*common, "--format", "html", "--output", str(page))
    assert made.returncode == 0, made.stderr.decode()
    jsonl = run_iamwatch(*common, "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr.decode()
    return page, [orjson.loads(line) for line in jsonl.stdout.splitlines()]


def expected_figures(rows: list[dict[str, Any]]) -> dict[str, str]:
    """What the page must say, added up from the JSON Lines alone."""
    as_of = datetime.fromisoformat(AS_OF)
    figures = {"identities": len(rows), "failing": sum(1 for row in rows if row["checks"])}
    kinds = Counter(row["kind"] for row in rows)
    moves = Counter(row["recommendation"] for row in rows)
    for kind in ("human", "workload", "mixed", "dormant", "root"):
        figures[f"kind.{kind}"] = kinds[kind]
    for move in ("identity-center", "role", "split", "remove", "keep", "secure-root"):
        figures[f"recommendation.{move}"] = moves[move]
    for check, count in Counter(c for row in rows for c in row["checks"]).items():
        figures[f"checks.{check}"] = count
    ages: Counter[str] = Counter()
    for row in rows:
        for key in row["evidence"]["access_keys"]:
            if key["active"]:
                age = key["age_days"]
                ages["0-30" if age <= 30 else "31-90" if age <= 90 else "91-180" if age <= 180
                     else "181-365" if age <= 365 else "366+"] += 1  # fmt: skip
    for label in ("0-30", "31-90", "91-180", "181-365", "366+"):
        figures[f"key-age.{label}"] = ages[label]
    idle: Counter[str] = Counter()
    for row in rows:
        last = row["evidence"]["last_activity"]
        if last is None:
            idle["never"] += 1
            continue
        days = (as_of - datetime.fromisoformat(last)).days
        idle["0-7" if days <= 7 else "8-45" if days <= 45 else "46-90" if days <= 90
             else "91+"] += 1  # fmt: skip
    for label in ("0-7", "8-45", "46-90", "91+", "never"):
        figures[f"last-use.{label}"] = idle[label]
    return {key: str(value) for key, value in figures.items()}


def test_the_page_renders_runs_cleanly_and_its_figures_are_the_jsonls(made) -> None:
    page, rows = made
    rendered = render(page)
    assert rendered.console == [], "the page wrote to the console (an error, or a CSP block)"
    dom = parse(rendered.dom)
    assert dom.ready, "the page's script did not finish"
    assert dom.figures == expected_figures(rows)
    assert [(r["data-user"], r["data-kind"], r["data-recommendation"]) for r in dom.rows] == [
        (row["user"], row["kind"], row["recommendation"]) for row in rows
    ]
    assert dom.visible == str(len(rows)) and not any(r["hidden"] for r in dom.rows)
    # Every kind and every recommendation is on the sample account's page.
    assert all(dom.figures[f"kind.{k}"] != "0" for k in ("human", "workload", "mixed", "dormant"))


def test_the_page_is_self_contained(made) -> None:
    page, _ = made
    text = page.read_text(encoding="utf-8")
    assert "default-src 'none'" in text
    for reference in ("src=", "href=", "@import", "url("):
        assert reference not in text, reference


def test_filters_and_sorting_follow_the_url_fragment(made) -> None:
    page, rows = made
    dormant = [row["user"] for row in rows if row["kind"] == "dormant"]
    dom = parse(render(page, "#kind=dormant").dom)
    assert [r["data-user"] for r in dom.rows if not r["hidden"]] == dormant
    assert dom.visible == str(len(dormant))
    removed = {row["user"] for row in rows if row["recommendation"] == "remove"}
    dom = parse(render(page, "#recommendation=remove&q=contractor").dom)
    assert {r["data-user"] for r in dom.rows if not r["hidden"]} == {
        user for user in removed if "contractor" in user
    }
    dom = parse(render(page, "#sort=user:desc").dom)
    assert [r["data-user"] for r in dom.rows] == sorted(
        (row["user"] for row in rows), key=str.lower, reverse=True
    )
    dom = parse(render(page, "#sort=checks:desc").dom)
    counts = [int(r["data-count"]) for r in dom.rows]
    assert counts == sorted(counts, reverse=True)


def test_hostile_names_and_tags_stay_text(tmp_path: Path) -> None:
    report = REPORT.read_text().replace("alice", 'al"><img src=x onerror=alert(1)>ice')
    details = orjson.loads(DETAILS.read_bytes())
    for user in details["UserDetailList"]:
        if user["UserName"] == "alice":
            user["UserName"] = 'al"><img src=x onerror=alert(1)>ice'
            user["Tags"].append({"Key": "note", "Value": "</script><script>alert(2)</script>"})
    (tmp_path / "report.csv").write_text(report)
    (tmp_path / "details.json").write_bytes(orjson.dumps(details))
    page = tmp_path / "page.html"
    result = run_iamwatch(
        "inventory", "--credential-report", str(tmp_path / "report.csv"),
        "--authorization-details", str(tmp_path / "details.json"), "--format", "html",
        "--output", str(page),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    rendered = render(page)
    assert rendered.console == []
    dom = parse(rendered.dom)
    assert dom.scripts == 1 and dom.handlers == []
    assert 'al"><img src=x onerror=alert(1)>ice' in [r["data-user"] for r in dom.rows]


def test_a_screenshot_shows_the_page(made, tmp_path: Path) -> None:
    page, _ = made
    image = screenshot(page, tmp_path / "report.png")
    data = image.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000
