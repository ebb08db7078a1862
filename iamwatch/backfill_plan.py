"""What a backfill run reads: the trail bucket's date-partitioned prefixes for a window, and the
run's parameters, as the CLI hands them to the Step Functions state machine (or runs them
in-process with ``--local``).

CloudTrail files each log under ``<prefix><account>/CloudTrail/<region>/YYYY/MM/DD/``, the day
being the UTC day it delivered the file. A window of days becomes the fewest prefixes that
cover exactly those days: a whole year is one ``YYYY/`` prefix, a whole month one ``YYYY/MM/``,
any other day its own ``YYYY/MM/DD/``. Each prefix is one listing (``s3:listObjectsV2``) by
the state machine, so fewer prefixes means fewer child workflows for the same objects.

Pure: no AWS here (the CLI discovers accounts and regions and writes the plan).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

ACCOUNT = re.compile(r"^\d{12}$")
ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
RUN_ID = re.compile(r"^bf-\d{8}T\d{6}Z-[0-9a-f]{6}$")
# Step Functions' own ceilings: a Distributed Map runs at most 10,000 child workflows at once;
# a batch is one Lambda invocation (which must finish within its 15 minutes).
MAX_CONCURRENCY = 10_000
MAX_BATCH_SIZE = 1_000
# Prefixes (child workflows of the outer map) listed at once; the rest of the concurrency
# goes to the batches of each prefix.
MAX_PREFIX_CONCURRENCY = 10


class PlanError(ValueError):
    """The window, accounts, regions or parameters cannot make a run."""


def day_prefixes(since: date, until: date) -> list[str]:
    """The fewest date suffixes (``YYYY/``, ``YYYY/MM/``, ``YYYY/MM/DD/``) covering the days
    ``since`` (inclusive) to ``until`` (exclusive), in key order."""
    if since >= until:
        raise PlanError("--since must be before --until")
    found: list[str] = []
    day = since
    while day < until:
        year_end = date(day.year + 1, 1, 1)
        if day.month == 1 and day.day == 1 and year_end <= until:
            found.append(f"{day:%Y}/")
            day = year_end
            continue
        month_end = _next_month(day)
        if day.day == 1 and month_end <= until:
            found.append(f"{day:%Y/%m}/")
            day = month_end
            continue
        found.append(f"{day:%Y/%m/%d}/")
        day += timedelta(days=1)
    return found


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def log_prefix(base: str, account: str, region: str) -> str:
    """Where one account's trail logs one region, under ``base`` (``AWSLogs/`` or an
    organization trail's ``AWSLogs/o-.../``)."""
    return f"{normalized_base(base)}{account}/CloudTrail/{region}/"


def normalized_base(base: str) -> str:
    base = base.strip().lstrip("/")
    return base if not base or base.endswith("/") else base + "/"


def prefixes(base: str, layout: Mapping[str, Iterable[str]], since: date, until: date) -> list[str]:
    """Every prefix of the run for ``layout`` (each account's regions), sorted as S3 lists
    keys, so a local run reads files in the order ``iamwatch scan`` walks the same tree."""
    days = day_prefixes(since, until)
    found = []
    for account, regions in layout.items():
        if not ACCOUNT.match(account):
            raise PlanError(f"{account!r} is not a 12-digit AWS account id")
        for region in set(regions):
            if not REGION.match(region):
                raise PlanError(f"{region!r} is not an AWS region name")
            found += [f"{log_prefix(base, account, region)}{day}" for day in days]
    return sorted(found)


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time and names the Step Functions execution."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"bf-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class RunParameters:
    """The run as the state machine reads it (``$.run``): every path in the definition that
    starts with ``$.run.`` names one of these fields (a test checks it)."""

    run_id: str
    bucket: str
    since: str
    until: str
    prefixes: int
    batch_size: int
    # Batches of one prefix at a time, and prefixes at a time: their product bounds the
    # backfill function's concurrency (as does its reserved concurrency).
    concurrency: int
    prefix_concurrency: int
    tolerated_failure_percentage: float
    results_bucket: str
    results_prefix: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def split_concurrency(total: int) -> tuple[int, int]:
    """(prefixes at a time, batches per prefix at a time) for at most ``total`` batches."""
    if not 1 <= total <= MAX_CONCURRENCY:
        raise PlanError(f"--max-concurrency must be between 1 and {MAX_CONCURRENCY}")
    outer = min(total, MAX_PREFIX_CONCURRENCY)
    return outer, max(1, total // outer)


def run_parameters(
    *,
    run_id: str,
    bucket: str,
    since: date,
    until: date,
    prefix_count: int,
    batch_size: int,
    max_concurrency: int,
    tolerated_failure_percentage: float,
    results_bucket: str,
) -> RunParameters:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise PlanError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}")
    if not 0 <= tolerated_failure_percentage <= 100:
        raise PlanError("--tolerated-failure-percentage must be between 0 and 100")
    outer, inner = split_concurrency(max_concurrency)
    return RunParameters(
        run_id=run_id,
        bucket=bucket,
        since=since.isoformat(),
        until=until.isoformat(),
        prefixes=prefix_count,
        batch_size=batch_size,
        concurrency=inner,
        prefix_concurrency=outer,
        tolerated_failure_percentage=tolerated_failure_percentage,
        results_bucket=results_bucket,
        results_prefix=results_prefix(run_id),
    )


def results_prefix(run_id: str) -> str:
    return f"backfill/{run_id}/"


def plan_key(run_id: str) -> str:
    """The plan (a JSON array of ``{"prefix": ...}``) the outer map reads with s3:getObject."""
    return f"{results_prefix(run_id)}plan.json"


def execution_input(parameters: RunParameters) -> dict[str, object]:
    """The state machine's input: the run, and where its plan is."""
    return {
        "run": parameters.as_dict(),
        "plan": {"bucket": parameters.results_bucket, "key": plan_key(parameters.run_id)},
    }


def plan_items(run_prefixes: Iterable[str]) -> list[dict[str, str]]:
    return [{"prefix": prefix} for prefix in run_prefixes]


def batches(items: list[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    """Items in batches of ``size``, in order, as the ItemBatcher hands them out."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
