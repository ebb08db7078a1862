"""The doctor's pure parts: what counts as logging management events (advanced selectors,
which moto does not keep, included), the exit code, and where it looks."""

from __future__ import annotations

from typing import Any

import pytest

from iamwatch.doctor.aws_checks import _logs_management_events
from iamwatch.doctor.model import Check, Report, Status
from iamwatch.doctor.targets import TargetsError, from_environment
from iamwatch.settings import load_settings


def advanced(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"AdvancedEventSelectors": [{"Name": "s", "FieldSelectors": list(fields)}]}


@pytest.mark.parametrize(
    ("selectors", "logs"),
    [
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "WriteOnly"}]}, True),
        (
            {"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]},
            False,
        ),
        ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, False),
        (advanced({"Field": "eventCategory", "Equals": ["Management"]}), True),
        (
            advanced(
                {"Field": "eventCategory", "Equals": ["Management"]},
                {"Field": "readOnly", "Equals": ["true"]},
            ),
            False,
        ),
        (advanced({"Field": "eventCategory", "Equals": ["Data"]}), False),
        ({}, False),
    ],
)
def test_what_counts_as_logging_management_events(selectors: dict[str, Any], logs: bool) -> None:
    assert _logs_management_events(selectors) is logs


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([Status.PASS, Status.SKIP], 0),
        ([Status.PASS, Status.FAIL, Status.ERROR], 1),
        ([Status.PASS, Status.ERROR], 5),
    ],
)
def test_the_exit_code(statuses: list[Status], code: int) -> None:
    report = Report([Check(f"c{n}", status, "") for n, status in enumerate(statuses)])
    assert report.exit_code == code


def test_the_forwarder_regions_are_the_sign_in_regions_and_identity_centers(
    no_ambient_settings: None,
) -> None:
    settings = load_settings(
        signin_regions="us-east-2,us-east-1,eu-north-1", identity_center_region="eu-west-1",
        self_prefix="iamwatch-staging-", slack_channel="#a", alarm_slack_channel="#ops",
        slack_token="xoxb-1",
    )  # fmt: skip
    names = (
        "IAMWATCH_AUDIT_TABLE", "IAMWATCH_STATE_TABLE", "IAMWATCH_IDEMPOTENCY_TABLE",
        "IAMWATCH_ALERT_DLQ_URL", "IAMWATCH_FAILED_EVENTS_QUEUE_URL",
        "IAMWATCH_BACKFILL_DLQ_URL", "IAMWATCH_REMEDIATION_DLQ_URL",
    )  # fmt: skip
    environ = dict.fromkeys(names, "x")
    targets = from_environment(settings, environ)
    assert targets.forwarder_regions == ("us-east-2", "eu-north-1", "eu-west-1")
    assert targets.forwarder_rule == "iamwatch-forwarder-staging"
    assert targets.channels == ("#a", "#ops")
    with pytest.raises(TargetsError, match="IAMWATCH_AUDIT_TABLE"):
        from_environment(settings, {})
