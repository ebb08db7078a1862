"""Parsing the messy shapes real CloudTrail records come in."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv6Address, ip_address
from typing import Any

import pytest

from iamwatch.engine import MalformedRecordError, parse_record
from iamwatch.events import CloudTrailRecord, EventBridgeEvent, parse_timestamp
from tests.conftest import Case, base_record, messy_cases, run_records

MESSY = messy_cases()


@pytest.mark.parametrize("case", MESSY, ids=[case.id for case in MESSY])
def test_messy_fixture_parses_and_detects_as_expected(case: Case) -> None:
    for raw in case.records:
        record = parse_record(raw)
        assert record.event_id == raw["eventID"]
    raised = {(f.detector, f.severity.value, f.event_id) for f in run_records(case.records)}
    assert raised == case.expected_set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-04T10:00:00Z", datetime(2026, 11, 4, 10, tzinfo=UTC)),
        ("2026-11-04T10:00:00.123Z", datetime(2026, 11, 4, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2026-11-04T11:00:00+01:00", datetime(2026, 11, 4, 10, tzinfo=UTC)),
        ("2026-11-04T10:00:00", datetime(2026, 11, 4, 10, tzinfo=UTC)),
        ("2026-11-04 10:00:00 UTC", datetime(2026, 11, 4, 10, tzinfo=UTC)),
        (1793786400, datetime(2026, 11, 4, 10, tzinfo=UTC)),
        (1793786400000, datetime(2026, 11, 4, 10, tzinfo=UTC)),
        ("1793786400", datetime(2026, 11, 4, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_in_every_format(text: object, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("bad", ["yesterday", "", True, None, {"t": 1}])
def test_unparseable_timestamp_is_a_clear_error(bad: object) -> None:
    record = {**base_record(), "eventTime": bad}
    with pytest.raises(MalformedRecordError, match="eventTime"):
        parse_record(record)


@pytest.mark.parametrize("value", [None, "null", "", [], "a string"])
def test_free_form_parts_that_are_not_objects_become_empty(value: object) -> None:
    record = parse_record({**base_record(), "requestParameters": value})
    assert record.request.get_str("userName") is None
    assert len(record.request) == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        ("false", False),
        (False, False),
        ("null", None),
        (None, None),
        ("maybe", None),
    ],
)
def test_booleans_as_strings(value: object, expected: bool | None) -> None:
    assert parse_record({**base_record(), "readOnly": value}).read_only is expected


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("192.0.2.10", ip_address("192.0.2.10")),
        (" 192.0.2.10 ", ip_address("192.0.2.10")),
        ("2001:db8::1", IPv6Address("2001:db8::1")),
        ("AWS Internal", None),
        ("iam.amazonaws.com", None),
        ("192.0.2.999", None),
        ("<script>", None),
    ],
)
def test_odd_source_addresses_are_kept_as_text(address: str, parsed: object) -> None:
    record = parse_record({**base_record(), "sourceIPAddress": address})
    assert record.source_ip_address == address
    assert record.source_ip == parsed


def test_unknown_fields_and_missing_optional_fields_are_fine() -> None:
    raw: dict[str, Any] = {**base_record(), "someFutureField": {"x": 1}, "tlsDetails": None}
    for optional in ("userAgent", "requestID", "awsRegion", "responseElements", "readOnly"):
        raw.pop(optional, None)
    record = parse_record(raw)
    assert record.user_agent is None and record.aws_region is None


def test_missing_event_id_gets_a_stable_synthetic_one() -> None:
    raw = base_record()
    raw.pop("eventID")
    first, second = parse_record(raw), parse_record(dict(raw))
    assert first.event_id.startswith("synthetic-")
    assert first.event_id == second.event_id
    assert parse_record({**raw, "eventName": "CreateRole"}).event_id != first.event_id


def test_missing_event_id_with_unencodable_text_still_gets_an_id() -> None:
    raw = {**base_record(), "userAgent": "agent \ud800 with a lone surrogate"}
    raw.pop("eventID")
    assert parse_record(raw).event_id.startswith("synthetic-")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eventSource": None}, "eventSource"),
        ({"eventName": ""}, "eventName"),
        ({"eventName": ["CreateUser"]}, "eventName"),
        ({"userIdentity": "root"}, "userIdentity"),
    ],
)
def test_records_missing_what_every_record_has_are_malformed(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedRecordError, match=message):
        parse_record({**base_record(), **change})


def test_null_user_identity_is_an_unknown_principal() -> None:
    record = parse_record({**base_record(), "userIdentity": None})
    assert record.principal.kind.value == "unknown"


def test_eventbridge_envelope() -> None:
    detail = base_record()
    event = EventBridgeEvent.model_validate(
        {
            "version": "0",
            "id": "6f4ea2fc-0d1b-4c1a-9d36-6a1f0b1c2d3e",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.iam",
            "account": "123456789012",
            "time": "2026-11-03T14:22:07Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )
    assert event.detail.event_id == detail["eventID"]
    assert event.detail_type == "AWS API Call via CloudTrail"


# --- failure as sign-in events report it: no errorCode -------------------------------------------

FAILED_SIGN_INS = [
    ("responseElements", {"ConsoleLogin": "Failure"}),
    ("responseElements", {"PasswordUpdated": "Failure"}),
    ("responseElements", {"CheckMfa": "failure"}),
    ("serviceEventDetails", {"UserAuthentication": "Failure"}),
    ("serviceEventDetails", {"CredentialVerification": "Failure"}),
]


@pytest.mark.parametrize(("field", "outcome"), FAILED_SIGN_INS)
def test_a_failure_reported_without_an_error_code_is_a_failed_call(
    field: str, outcome: dict[str, str]
) -> None:
    record = CloudTrailRecord.model_validate({**base_record(), field: outcome})
    assert record.error_code is None and record.failed


@pytest.mark.parametrize(
    ("field", "outcome"),
    [
        ("responseElements", {"ConsoleLogin": "Success"}),
        ("serviceEventDetails", {"UserAuthentication": "Success"}),
        ("responseElements", {"user": {"status": "Failure"}}),
        ("serviceEventDetails", None),
        ("serviceEventDetails", "Failure"),
    ],
)
def test_success_or_nested_words_are_not_failures(field: str, outcome: object) -> None:
    record = CloudTrailRecord.model_validate({**base_record(), field: outcome})
    assert not record.failed


@pytest.mark.parametrize(("field", "outcome"), FAILED_SIGN_INS)
def test_a_failed_sign_in_by_root_is_not_root_use(field: str, outcome: dict[str, str]) -> None:
    """Every detector skips failed calls, root-account-used included: a failed root sign-in
    is somebody trying root, which the sign-in failure detector counts."""
    root = base_record("root-account-used")
    signin = {
        **root,
        "eventSource": "signin.amazonaws.com",
        "eventName": next(iter(outcome)),
        field: outcome,
        "eventID": "3f7d9a52-6c1e-4b8f-9d2a-0e5c4b3a2f10",
    }
    assert [f.detector for f in run_records([signin]) if f.detector == "root-account-used"] == []
    succeeded = {**signin, field: {next(iter(outcome)): "Success"}}
    raised = [f.detector for f in run_records([succeeded]) if f.detector == "root-account-used"]
    assert raised == ["root-account-used"]
