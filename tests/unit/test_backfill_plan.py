"""A backfill run's plan: the fewest date prefixes covering a window, per account and region,
in the order S3 lists keys; and the run's parameters as the state machine reads them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from iamwatch.backfill_plan import (
    RUN_ID,
    PlanError,
    batches,
    day_prefixes,
    execution_input,
    new_run_id,
    plan_key,
    prefixes,
    run_parameters,
    split_concurrency,
)


def covered_days(suffixes: list[str]) -> set[date]:
    """Every day a list of date suffixes stands for."""
    days: set[date] = set()
    for suffix in suffixes:
        parts = [int(part) for part in suffix.strip("/").split("/")]
        day = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        while True:
            days.add(day)
            day = date.fromordinal(day.toordinal() + 1)
            if (
                len(parts) == 3
                or (len(parts) == 2 and day.day == 1)
                or (len(parts) == 1 and day.timetuple().tm_yday == 1)
            ):
                break
    return days


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2026-11-02", "2026-11-04", ["2026/11/02/", "2026/11/03/"]),
        ("2026-11-01", "2026-12-01", ["2026/11/"]),
        ("2026-10-30", "2026-12-02", ["2026/10/30/", "2026/10/31/", "2026/11/", "2026/12/01/"]),
        ("2025-01-01", "2026-02-01", ["2025/", "2026/01/"]),
        ("2025-12-31", "2026-01-01", ["2025/12/31/"]),
    ],
    ids=["two_days", "a_whole_month", "month_between_partial_ones", "year_and_month", "new_year"],
)
def test_a_window_becomes_the_fewest_prefixes_covering_exactly_its_days(
    since: str, until: str, expected: list[str]
) -> None:
    first, end = date.fromisoformat(since), date.fromisoformat(until)
    found = day_prefixes(first, end)
    assert found == expected
    wanted = {date.fromordinal(n) for n in range(first.toordinal(), end.toordinal())}
    assert covered_days(found) == wanted


def test_a_ninety_day_window_needs_about_a_third_of_the_prefixes() -> None:
    found = day_prefixes(date(2026, 8, 15), date(2026, 11, 13))
    assert len(found) == 17 + 2 + 12
    assert sorted(found) == found


def test_an_empty_or_backwards_window_is_refused() -> None:
    with pytest.raises(PlanError, match="before"):
        day_prefixes(date(2026, 11, 3), date(2026, 11, 3))


def test_prefixes_are_per_account_and_region_in_listing_order() -> None:
    layout = {"444455556666": ["us-east-1"], "111122223333": ["us-east-1", "eu-west-1"]}
    found = prefixes("AWSLogs", layout, date(2026, 11, 2), date(2026, 11, 4))
    assert found == sorted(found)
    assert found[0] == "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/02/"
    assert len(found) == 3 * 2
    organization = prefixes("AWSLogs/o-abcdefghij/", layout, date(2026, 11, 2), date(2026, 11, 3))
    assert organization[0].startswith("AWSLogs/o-abcdefghij/111122223333/CloudTrail/")


@pytest.mark.parametrize(
    "layout",
    [{"12345": ["us-east-1"]}, {"111122223333": ["us-east-1/../x"]}, {"111122223333": ["*"]}],
    ids=["short_account", "path_in_region", "wildcard_region"],
)
def test_accounts_and_regions_that_are_not_names_are_refused(layout: dict[str, list[str]]) -> None:
    with pytest.raises(PlanError):
        prefixes("AWSLogs/", layout, date(2026, 11, 2), date(2026, 11, 3))


def test_run_ids_sort_by_start_and_name_an_execution() -> None:
    run_id = new_run_id(datetime(2026, 11, 22, 10, 15, tzinfo=UTC))
    assert RUN_ID.match(run_id)
    assert run_id.startswith("bf-20261122T101500Z-")
    assert len(run_id) <= 80  # a Step Functions execution name


def test_concurrency_is_split_between_prefixes_and_their_batches() -> None:
    assert split_concurrency(1) == (1, 1)
    assert split_concurrency(100) == (10, 10)
    assert split_concurrency(7) == (7, 1)
    for total in (1, 5, 10, 11, 99, 100, 10_000):
        outer, inner = split_concurrency(total)
        assert outer * inner <= total
    with pytest.raises(PlanError):
        split_concurrency(0)


def test_the_execution_input_holds_the_run_and_where_its_plan_is() -> None:
    parameters = run_parameters(
        run_id="bf-20261122T101500Z-abcdef",
        bucket="trail",
        since=date(2026, 11, 1),
        until=date(2026, 11, 8),
        prefix_count=21,
        batch_size=50,
        max_concurrency=40,
        tolerated_failure_percentage=5,
        results_bucket="results",
    )
    document = execution_input(parameters)
    assert document["plan"] == {"bucket": "results", "key": plan_key(parameters.run_id)}
    run = document["run"]
    assert isinstance(run, dict)
    assert run["results_prefix"] == "backfill/bf-20261122T101500Z-abcdef/"
    assert (run["prefix_concurrency"], run["concurrency"]) == (10, 4)
    for bad in ({"batch_size": 0}, {"tolerated_failure_percentage": 101}):
        with pytest.raises(PlanError):
            run_parameters(**{**_arguments(), **bad})


def _arguments() -> dict[str, Any]:
    return {
        "run_id": "bf-20261122T101500Z-abcdef",
        "bucket": "trail",
        "since": date(2026, 11, 1),
        "until": date(2026, 11, 8),
        "prefix_count": 1,
        "batch_size": 50,
        "max_concurrency": 10,
        "tolerated_failure_percentage": 0,
        "results_bucket": "results",
    }


def test_batches_keep_order_and_size() -> None:
    items: list[dict[str, object]] = [{"Key": str(n)} for n in range(7)]
    assert [[i["Key"] for i in b] for b in batches(items, 3)] == [
        ["0", "1", "2"], ["3", "4", "5"], ["6"],
    ]  # fmt: skip
