"""``iamwatch backfill``: scan a window of a trail bucket's history on the deployed Step Functions
state machine (README "Backfill"), follow a run (``--status``), or run the same batches
in-process for a small prefix (``--local``).

Exit codes: 0 the run was started, or its status shown while it runs or after it succeeded
(``--local``: the scan completed); 2 usage error (bad window, option or run id); 3 findings may
be missing: the run failed, timed out or was aborted, some prefixes failed, or (``--local``)
an object could not be read or a detector raised; 5 AWS refused or failed a call (the stack,
the bucket listing, the plan, the execution).
"""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamwatch.cli import (
    EXIT_DETECTOR_ERROR,
    EXIT_OUTPUT_FAILED,
    AuditTrailOption,
    ConfigOption,
    _fail,
    _stderr_console,
    app,
)

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.aws.backfill_runs import RunStatus
    from iamwatch.settings import Settings

# The run failed, or parts of it: findings may be missing (the meaning of 3 for scan too).
EXIT_RUN_INCOMPLETE = EXIT_DETECTOR_ERROR
# AWS refused or failed a call.
EXIT_AWS_FAILED = EXIT_OUTPUT_FAILED


class StatusFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _day(option: str, value: str | None) -> date:
    if value is None:
        raise _fail(f"{option} is required (a UTC day, e.g. 2026-11-01)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{option}: {value!r} is not a day (YYYY-MM-DD)") from None


def _listed(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values alike."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@app.command()
def backfill(
    bucket: Annotated[
        str | None, typer.Option(help="The trail's S3 bucket.", show_default=False)
    ] = None,
    prefix: Annotated[
        str,
        typer.Option(
            help="Where the trail logs in the bucket (an organization trail: AWSLogs/o-.../)."
        ),
    ] = "AWSLogs/",
    since: Annotated[
        str | None, typer.Option(help="First UTC day, inclusive (YYYY-MM-DD).", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last UTC day, exclusive (YYYY-MM-DD).", show_default=False)
    ] = None,
    accounts: Annotated[
        list[str] | None,
        typer.Option(help="Account ids (repeat or comma-separate); default: all in the bucket."),
    ] = None,
    regions: Annotated[
        list[str] | None,
        typer.Option(help="Regions (repeat or comma-separate); default: all each account logs."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Log files per batch (one backfillBatch invocation).")
    ] = 50,
    max_concurrency: Annotated[
        int, typer.Option(help="Batches scanned at once, at most (also capped by the function).")
    ] = 100,
    tolerated_failure_percentage: Annotated[
        float, typer.Option(help="Failed batches (and prefixes) a run tolerates, in percent.")
    ] = 0.0,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Show a run's progress instead.", show_default=False),
    ] = None,
    status_format: Annotated[
        StatusFormat, typer.Option("--format", help="--status as text or json.")
    ] = StatusFormat.TEXT,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Run the same batches in this process (a small prefix: findings as JSON Lines "
            "on stdout, audited to the local trail), instead of on Step Functions.",
        ),
    ] = False,
    stack: Annotated[str, typer.Option(help="The deployed iamwatch stack.")] = "iamwatch-prod",
    stack_region: Annotated[str, typer.Option(help="Its region.")] = "us-east-1",
    config: ConfigOption = None,
    state: Annotated[
        Path | None, typer.Option(help="--local: detector state file, as for scan.")
    ] = None,
    audit: AuditTrailOption = None,
) -> None:
    """Scan a window of the trail bucket's history on Step Functions (README "Backfill").

    The same detectors, idempotency and audit as the real-time path; --status RUN follows a
    run, --local runs the same batches in this process for a small prefix."""
    if status is not None:
        _show_status(status, stack, stack_region, status_format)
        return
    if bucket is None:
        raise _fail("--bucket is required (the trail's S3 bucket)")
    first, end = _day("--since", since), _day("--until", until)
    from iamwatch.aws.backfill_runs import RunError, discover
    from iamwatch.backfill_plan import (
        PlanError,
        day_prefixes,
        new_run_id,
        prefixes,
        run_parameters,
    )

    errors = _stderr_console()
    run_id = new_run_id()
    try:
        # The window and parameters are checked before any AWS call.
        day_prefixes(first, end)
        run_parameters(
            **_run_arguments(
                run_id,
                bucket,
                first,
                end,
                batch_size,
                max_concurrency,
                tolerated_failure_percentage,
                results_bucket="-",
            )
        )
        import boto3

        s3 = boto3.client("s3")
        layout = discover(s3, bucket, prefix, _listed(accounts), _listed(regions))
        planned = prefixes(prefix, layout, first, end)
        if local:
            _run_local(
                s3,
                bucket,
                planned,
                run_id=run_id,
                batch_size=batch_size,
                settings=_local_settings(config, state, audit),
                errors=errors,
            )
            return
        from iamwatch.aws.backfill_runs import BackfillDeployment, start_run

        session = boto3.session.Session(region_name=stack_region)
        deployment = BackfillDeployment.from_stack(session.client("cloudformation"), stack)
        arguments = _run_arguments(
            run_id,
            bucket,
            first,
            end,
            batch_size,
            max_concurrency,
            tolerated_failure_percentage,
            results_bucket=deployment.results_bucket,
        )
        parameters = run_parameters(**{**arguments, "prefix_count": len(planned)})
        start_run(s3, session.client("stepfunctions"), deployment, parameters, planned)
    except PlanError as error:
        raise _fail(str(error)) from None
    except RunError as error:
        errors.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_AWS_FAILED) from None
    sys.stdout.write(run_id + "\n")
    errors.print(
        f"Started backfill run {run_id}: {len(planned):,} prefix(es) of s3://{bucket}/{prefix} "
        f"({len(layout)} account(s)), {first} to {end} (exclusive), batches of {batch_size}, "
        f"at most {parameters.prefix_concurrency * parameters.concurrency} at once. "
        f"Follow it with: iamwatch backfill --status {run_id}",
        markup=False,
        highlight=False,
    )


def _run_arguments(
    run_id: str,
    bucket: str,
    first: date,
    end: date,
    batch_size: int,
    max_concurrency: int,
    tolerated_failure_percentage: float,
    *,
    results_bucket: str,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "bucket": bucket,
        "since": first,
        "until": end,
        "prefix_count": 0,
        "batch_size": batch_size,
        "max_concurrency": max_concurrency,
        "tolerated_failure_percentage": tolerated_failure_percentage,
        "results_bucket": results_bucket,
    }


def _local_settings(config: Path | None, state: Path | None, audit: Path | None) -> Settings:
    from iamwatch.settings import SettingsError, load_settings

    try:
        return load_settings(config, state_path=state, audit_path=audit)
    except SettingsError as error:
        raise _fail(str(error)) from None


def _run_local(
    s3: Any,
    bucket: str,
    planned: list[str],
    *,
    run_id: str,
    batch_size: int,
    settings: Settings,
    errors: Console,
) -> None:
    """The state machine's work in this process: each prefix listed as its ItemReader lists
    it, batched as its ItemBatcher batches, each batch handed to the batch function's own
    ``ItemBatch.parse`` and ``scan_batch``; findings printed as ``scan --format jsonl``."""
    import time

    from iamwatch import audit as trail
    from iamwatch.aws.backfill import ItemBatch, scan_batch
    from iamwatch.aws.backfill_runs import list_items
    from iamwatch.backfill_plan import batches
    from iamwatch.cli.scan_report import ScanReport
    from iamwatch.composition import build_detection
    from iamwatch.detection import DetectorErrors
    from iamwatch.events import CloudTrailRecord
    from iamwatch.output import write_jsonl
    from iamwatch.terminal import printable

    audit_log = trail.BufferedAuditLog(trail.SQLiteAuditLog(settings.resolved_audit_path))
    out = sys.stdout.buffer
    unreadable: list[str] = []
    failures = 0
    started = time.perf_counter()
    try:
        detection = build_detection(settings, audit_log)

        def detect(record: CloudTrailRecord, where: str) -> None:
            outcome = detection.process(record, where)
            for finding in outcome.raised:
                write_jsonl(finding, out)
            for muted in outcome.suppressed:
                write_jsonl(muted.finding, out, suppressed_by=muted.rule)
            for failure in outcome.failures:
                errors.print(
                    f"error: detector {failure.detector} failed on {printable(where)}: "
                    f"{printable(failure.error)}",
                    markup=False,
                )
            if outcome.failures:
                raise DetectorErrors(outcome.failures)

        for prefix in planned:
            items: list[dict[str, object]] = list(list_items(s3, bucket, prefix))
            for chunk in batches(items, batch_size):
                event = {
                    "Items": chunk,
                    "BatchInput": {"run_id": run_id, "bucket": bucket, "prefix": prefix},
                }
                result = scan_batch(detection, detect, ItemBatch.parse(event))
                unreadable += result.unreadable
                failures += result.detector_failures
        out.flush()
        audit_log.flush()
    finally:
        audit_log.close()
    for key in unreadable:
        errors.print(f"error: s3://{printable(bucket)}/{printable(key)}: unreadable", markup=False)
    ScanReport(errors).summary(
        detection.stats, time.perf_counter() - started, detection.engine.registry
    )
    if unreadable or failures:
        raise typer.Exit(EXIT_RUN_INCOMPLETE)


def _show_status(run_id: str, stack: str, region: str, chosen: StatusFormat) -> None:
    from iamwatch.aws.backfill_runs import BackfillDeployment, RunError, run_status
    from iamwatch.aws.runs import RunProgress
    from iamwatch.backfill_plan import RUN_ID

    if not RUN_ID.match(run_id):
        raise _fail(f"--status: {run_id!r} is not a backfill run id (bf-YYYYMMDDTHHMMSSZ-xxxxxx)")
    errors = _stderr_console()
    try:
        import boto3

        session = boto3.session.Session(region_name=region)
        deployment = BackfillDeployment.from_stack(session.client("cloudformation"), stack)
        progress = RunProgress(session.client("dynamodb"), deployment.state_table)
        found = run_status(session.client("stepfunctions"), progress, deployment, run_id)
    except RunError as error:
        errors.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_AWS_FAILED) from None
    if chosen is StatusFormat.JSON:
        import orjson

        sys.stdout.write(orjson.dumps(found.as_dict()).decode() + "\n")
    else:
        sys.stdout.write("\n".join(status_lines(found, deployment.results_bucket)) + "\n")
    if not found.ok:
        raise typer.Exit(EXIT_RUN_INCOMPLETE)


def status_lines(found: RunStatus, results_bucket: str) -> list[str]:
    run = found.parameters
    lines = [
        f"run {found.run_id}: {found.status}"
        + (f" since {found.started}" if found.started else "")
        + (f", ended {found.stopped}" if found.stopped else ""),
        f"window: s3://{run.get('bucket', '?')}, {run.get('since', '?')} to "
        f"{run.get('until', '?')} (exclusive), {run.get('prefixes', '?')} prefix(es)",
    ]
    counts = found.prefixes
    if counts:
        lines.append(
            f"prefixes: {counts.get('succeeded', 0):,} done of {counts.get('total', 0):,}, "
            f"{counts.get('running', 0):,} running, {counts.get('failed', 0):,} failed, "
            f"{counts.get('timedOut', 0):,} timed out"
        )
    progress = found.progress
    if progress is None:
        lines.append("objects: no batch finished yet")
    else:
        by_detector = ", ".join(
            f"{name} {count:,}" for name, count in progress["findings_by_detector"].items()
        )
        lines += [
            f"objects: {progress['objects']:,} scanned in {progress['batches']:,} batch(es); "
            f"records {progress['records']:,}, examined {progress['examined']:,}, "
            f"malformed {progress['malformed']:,}",
            f"findings: {progress['findings']:,}"
            + (f" ({by_detector})" if by_detector else "")
            + f"; suppressed {progress['suppressed']:,}",
            f"failures: {progress['failed_attempts']:,} failed batch attempt(s), "
            f"{progress['unreadable_objects']:,} unreadable object(s), "
            f"{progress['detector_failures']:,} detector failure(s)",
        ]
    if found.error:
        lines.append(f"error: {found.error}")
    lines.append(
        f"plan: s3://{results_bucket}/{run.get('results_prefix', '')}plan.json; batch results: "
        f"s3://{results_bucket}/backfill/results/<map run id>/"
    )
    return lines
