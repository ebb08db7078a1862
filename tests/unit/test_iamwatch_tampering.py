"""iamwatch-tampering beyond its fixtures: what is iamwatch's own comes from the settings (the
deployed name prefix, the Slack token's parameter or secret), names arrive in every form AWS
accepts them in, and the severity says how the change was made."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from iamwatch.composition import build_engine
from iamwatch.engine import Engine
from iamwatch.finding import Finding
from iamwatch.settings import SettingsError, load_settings
from tests.conftest import EVENTS_DIR, new_engine, run_records

DETECTOR = "iamwatch-tampering"
ACCOUNT = "123456789012"


def fixture(name: str, index: int = 0) -> dict[str, Any]:
    data = orjson.loads((EVENTS_DIR / DETECTOR / f"{name}.json").read_bytes())
    record: dict[str, Any] = copy.deepcopy(data["records"][index])
    return record


def tampering(records: list[dict[str, Any]], engine: Engine | None = None) -> list[Finding]:
    return [f for f in run_records(records, engine) if f.detector == DETECTOR]


def with_request(record: dict[str, Any], **request: Any) -> dict[str, Any]:
    return {**record, "requestParameters": request}


CONCURRENCY = fixture("positive_put_function_concurrency_zero_silences_detect")
TOKEN = fixture("positive_slack_token_parameter_overwritten")
QUEUE = fixture("positive_purge_alert_queue_by_url")
TABLE = fixture("positive_delete_state_table_by_arn")
RULE = fixture("positive_disable_main_rule")
ROLE = fixture("positive_notify_role_trusts_another_account")
STACK = fixture("positive_delete_stack_by_arn_then_its_rule_goes")
CFN_CHANGE = fixture("positive_stack_deployment_is_medium_and_its_changes_low", 1)


# The prefix: IAMWATCH_SELF_PREFIX, iamwatch-<stage>- when deployed ---------------------------


def test_the_deployed_stage_is_what_counts(
    no_ambient_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAMWATCH_SELF_PREFIX", "iamwatch-staging-")
    engine = build_engine(load_settings())
    prod = CONCURRENCY
    staging = with_request(
        prod, functionName="iamwatch-staging-detect", reservedConcurrentExecutions=0
    )
    assert tampering([prod], engine) == []
    (finding,) = tampering([staging], engine)
    assert finding.severity.value == "critical"
    assert finding.target == "iamwatch-staging-detect"
    assert finding.summary.endswith(": it no longer runs.")


@pytest.mark.parametrize("prefix", ["", "iamwatch prod-", "*", "-iamwatch", "x" * 65])
def test_an_invalid_prefix_stops_start_up_naming_the_setting(
    no_ambient_settings: None, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    monkeypatch.setenv("IAMWATCH_SELF_PREFIX", prefix)
    with pytest.raises(SettingsError, match=r"^IAMWATCH_SELF_PREFIX: "):
        load_settings()


PROD = {"self_prefix": "iamwatch-prod-"}


@pytest.mark.parametrize(
    ("record", "target"),
    [
        (with_request(CONCURRENCY, functionName="iamwatch-prod-detect"), "iamwatch-prod-detect"),
        (with_request(CONCURRENCY, functionName="iamwatch-prod-detect:$LATEST"), None),
        (with_request(CONCURRENCY, functionName=f"{ACCOUNT}:function:iamwatch-prod-detect"), None),
        (
            with_request(
                CONCURRENCY,
                functionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:iamwatch-prod-detect:7",
            ),
            None,
        ),
        (
            with_request(
                QUEUE, queueUrl=f"https://queue.amazonaws.com/{ACCOUNT}/iamwatch-prod-AlertQueue-X"
            ),
            "iamwatch-prod-AlertQueue-X",
        ),
        (
            with_request(
                QUEUE, queueUrl=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/iamwatch-prod-Q/"
            ),
            "iamwatch-prod-Q",
        ),
        (
            with_request(TABLE, tableName="iamwatch-prod-AuditTable-9Z"),
            "iamwatch-prod-AuditTable-9Z",
        ),
        (
            with_request(
                RULE,
                name=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/default/iamwatch-prod-detect-rule-2",
            ),
            "iamwatch-prod-detect-rule-2",
        ),
        # IAM names are case-insensitive.
        (with_request(ROLE, roleName="IAMWATCH-PROD-DetectRole-7Q"), "IAMWATCH-PROD-DetectRole-7Q"),
        (with_request(STACK, stackName="iamwatch-prod"), "iamwatch-prod"),
    ],
    ids=[
        "function-name",
        "function-qualified",
        "function-partial-arn",
        "function-arn-with-version",
        "legacy-queue-url",
        "queue-url-trailing-slash",
        "table-name",
        "rule-arn-on-a-bus",
        "role-name-in-capitals",
        "stack-name",
    ],
)
def test_every_form_of_an_own_name_is_recognised(
    record: dict[str, Any], target: str | None
) -> None:
    (finding,) = tampering([record], new_engine(**PROD))
    assert finding.target == (target or "iamwatch-prod-detect")
    assert finding.severity.value == "critical"


@pytest.mark.parametrize(
    "record",
    [
        with_request(CONCURRENCY, functionName="iamwatch-staging-detect"),
        with_request(
            CONCURRENCY,
            functionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders-iamwatch-prod-detect",
        ),
        with_request(
            QUEUE, queueUrl=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/iamwatch-prodq"
        ),
        with_request(STACK, stackName="iamwatch-production"),
        with_request(STACK, stackName="iamwatch-forwarder-prod"),
        with_request(RULE, name="iamwatch-prod"),
        with_request(CONCURRENCY),  # no function named at all
    ],
    ids=[
        "another-stage",
        "prefix-not-at-the-start",
        "prefix-without-its-hyphen",
        "longer-stack-name",
        "forwarder-stack",
        "rule-named-like-the-stack",
        "no-name",
    ],
)
def test_names_that_are_not_ours_are_not_findings(record: dict[str, Any]) -> None:
    assert tampering([record], new_engine(**PROD)) == []


# The Slack token: IAMWATCH_SLACK_TOKEN_SSM_PARAMETER or IAMWATCH_SLACK_TOKEN_SECRET_ID ---------


def test_the_token_parameter_is_the_configured_one(
    no_ambient_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameter = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/team/alerts/slack"
    monkeypatch.setenv("IAMWATCH_SLACK_TOKEN_SSM_PARAMETER", parameter)
    monkeypatch.setenv("IAMWATCH_SLACK_CHANNEL", "#security-alerts")
    engine = build_engine(load_settings())
    assert tampering([TOKEN], engine) == [], "the default name is not the token any more"
    overwritten = {**TOKEN, "requestParameters": {**TOKEN["requestParameters"]}}
    overwritten["requestParameters"]["name"] = "/team/alerts/slack"
    deleted = {
        **TOKEN,
        "eventName": "DeleteParameters",
        "eventID": "5b3f8f5e-7d0e-4d55-9b1e-2c8a7e6d0f41",
        "requestParameters": {"names": ["/team/alerts/other", "/team/alerts/slack"]},
    }
    findings = tampering([overwritten, deleted], engine)
    assert [(f.target, f.severity.value) for f in findings] == [
        ("/team/alerts/slack", "critical"),
        ("/team/alerts/slack", "critical"),
    ]


def secret_call(name: str, secret_id: str, event_id: str) -> dict[str, Any]:
    return {
        **TOKEN,
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": name,
        "eventID": event_id,
        "requestParameters": {"secretId": secret_id},
        "responseElements": None,
    }


def test_the_token_secret_is_the_configured_one_in_any_form(
    no_ambient_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAMWATCH_SLACK_TOKEN_SECRET_ID", "iamwatch/slack-token")
    monkeypatch.setenv("IAMWATCH_SLACK_CHANNEL", "#security-alerts")
    engine = build_engine(load_settings())
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:iamwatch/slack-token"
    ours = [
        secret_call("PutSecretValue", f"{arn}-a1B2c3", "0f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910"),
        secret_call("UpdateSecret", "iamwatch/slack-token", "1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b"),
        secret_call("DeleteSecret", arn, "2a3b4c5d-6e7f-4809-8a1b-2c3d4e5f6a7b"),
    ]
    others = [
        secret_call("PutSecretValue", f"{arn}-old-Z9y8X7", "3b4c5d6e-7f80-4912-9b2c-3d4e5f6a7b8c"),
        secret_call("UpdateSecret", "orders/stripe-key", "4c5d6e7f-8091-4a23-8c3d-4e5f6a7b8c9d"),
    ]
    findings = tampering(ours + others, engine)
    assert [f.event_id for f in findings] == [r["eventID"] for r in ours]
    assert all(f.severity.value == "critical" for f in findings)


def test_a_token_change_made_through_cloudformation_is_still_critical() -> None:
    """No iamwatch deployment touches the token, so a stack that does is not iamwatch's."""
    record = {**TOKEN, "userIdentity": CFN_CHANGE["userIdentity"]}
    (finding,) = tampering([record])
    assert finding.severity.value == "critical"


# How the change was made ------------------------------------------------------------------


def test_the_changes_of_one_deployment_thread_under_one_key() -> None:
    records = [
        fixture("positive_stack_deployment_is_medium_and_its_changes_low", index)
        for index in range(3)
    ]
    stack_update, code, configuration = tampering(records)
    assert stack_update.severity.value == "medium"
    assert code.severity.value == configuration.severity.value == "low"
    assert code.dedup_key == configuration.dedup_key != stack_update.dedup_key
    assert code.details["via"] == "cloudformation"
    assert code.summary.startswith("CloudFormation, deploying for GitHubActions via ")


def test_the_same_change_made_directly_is_critical() -> None:
    direct = {**CFN_CHANGE, "userIdentity": {**CFN_CHANGE["userIdentity"]}}
    del direct["userIdentity"]["invokedBy"]
    (finding,) = tampering([direct])
    assert finding.severity.value == "critical" and "via" not in finding.details


def test_put_rule_that_disables_says_so() -> None:
    record = {**RULE, "eventName": "PutRule"}
    record["requestParameters"] = {"name": "iamwatch-prod-detect-rule-1", "state": "DISABLED"}
    (finding,) = tampering([record])
    assert " disabled iamwatch's EventBridge rule iamwatch-prod-detect-rule-1 " in finding.summary


def test_a_queue_trigger_named_only_by_its_uuid_is_unknown() -> None:
    """DeleteEventSourceMapping names the mapping's UUID; only the response says which
    function and queue it joined. Without it there is nothing to attribute."""
    trigger = fixture("positive_disable_notify_queue_trigger")
    record = {**trigger, "eventName": "DeleteEventSourceMapping20150331"}
    record["requestParameters"] = {"uUID": trigger["requestParameters"]["uUID"]}
    assert tampering([{**record, "responseElements": None}]) == []
    (finding,) = tampering([record])
    assert finding.target == "iamwatch-prod-notify"
    assert finding.details["eventSourceMapping"] == trigger["requestParameters"]["uUID"]


# Whose iamwatch: only the deployment's own account and its stack's region (defect 8) -------


OWN_ACCOUNT = ACCOUNT


def in_account(record: dict[str, Any], account: str, region: str = "us-east-1") -> dict[str, Any]:
    changed = copy.deepcopy(record)
    changed["recipientAccountId"] = account
    changed["userIdentity"]["accountId"] = account
    changed["awsRegion"] = region
    return changed


@pytest.fixture
def deployed_engine(no_ambient_settings: None, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The engine as the deployment configures it: its account and region are settings."""
    monkeypatch.setenv("IAMWATCH_SELF_ACCOUNT", OWN_ACCOUNT)
    monkeypatch.setenv("IAMWATCH_SELF_REGIONS", "us-east-1")
    return build_engine(load_settings())


@pytest.mark.parametrize(
    "record", [CONCURRENCY, QUEUE, TABLE, RULE, ROLE, TOKEN], ids=lambda r: r["eventName"]
)
def test_a_member_account_naming_its_resources_like_iamwatch_raises_nothing(
    deployed_engine: Engine, record: dict[str, Any]
) -> None:
    """With organization forwarding, any member account's events reach the central bus: one
    that names a function iamwatch-prod-detect and disables it is not iamwatch."""
    assert tampering([in_account(record, "444455556666")], deployed_engine) == []
    assert tampering([in_account(record, OWN_ACCOUNT)], deployed_engine) != []


def test_a_regional_resource_counts_only_in_the_stacks_region(deployed_engine: Engine) -> None:
    elsewhere = in_account(CONCURRENCY, OWN_ACCOUNT, region="eu-north-1")
    assert tampering([elsewhere], deployed_engine) == []
    # IAM is global: its events arrive in us-east-1 whatever the stack's region.
    (role,) = tampering([in_account(ROLE, OWN_ACCOUNT)], deployed_engine)
    assert role.severity.value == "critical"


@pytest.mark.parametrize(
    ("name", "value"),
    [("IAMWATCH_SELF_ACCOUNT", "12345"), ("IAMWATCH_SELF_REGIONS", "us-east-1,not a region")],
)
def test_the_own_account_and_regions_are_validated(
    no_ambient_settings: None, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()
