"""Slack settings fail fast naming the setting; the token comes from the environment, SSM or
Secrets Manager (a moto server on loopback), and never shows in reprs, errors or logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from iamwatch.composition import (
    build_notifier,
    build_slack_transport,
    slack_signing_secret_source,
)
from iamwatch.settings import DEFAULT_SLACK_API_URL, SettingsError, load_settings
from iamwatch.severity import Severity
from iamwatch.slack.dedup import SQLiteDedupStore
from iamwatch.slack.notifier import Outcome
from iamwatch.slack.samples import sample_finding
from iamwatch.slack.secrets import SecretError, TokenError, secrets_manager_token, ssm_token
from tests.slack_server import SlackServer

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

WEBHOOK_SECRET = "https://hooks.slack.example/services/T0/B0/verysecretwebhookpart"


@pytest.fixture
def fresh_parameters() -> Iterator[None]:
    """powertools keeps one provider (and its boto3 client) per process: start clean so it
    talks to this test's moto server, and leave nothing cached behind."""
    from aws_lambda_powertools.utilities.parameters import base

    providers = vars(base)["DEFAULT_PROVIDERS"]
    providers.clear()
    yield
    providers.clear()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"slack_token": "xoxb-1"},
            "IAMWATCH_SLACK_CHANNEL: required with a Slack bot token",
        ),
        (
            {"slack_token": "xoxb-1", "slack_channel": "#a", "slack_webhook_url": WEBHOOK_SECRET},
            "IAMWATCH_SLACK_WEBHOOK_URL: set either a bot token or an incoming webhook URL",
        ),
        (
            {"slack_token": "xoxb-1", "slack_token_ssm_parameter": "/x", "slack_channel": "#a"},
            "IAMWATCH_SLACK_TOKEN_SSM_PARAMETER: set only one of IAMWATCH_SLACK_TOKEN,",
        ),
        (
            {"slack_webhook_url": "http://hooks.slack.example/services/x"},
            "IAMWATCH_SLACK_WEBHOOK_URL: must use https (http is only allowed for loopback",
        ),
        (
            {"slack_webhook_url": WEBHOOK_SECRET, "slack_channel_high": "#high"},
            "IAMWATCH_SLACK_CHANNEL_HIGH: an incoming webhook always posts to the channel",
        ),
        (
            {"slack_token": "not a token", "slack_channel": "#a"},
            "IAMWATCH_SLACK_TOKEN: must be a Slack token",
        ),
        ({"slack_channel": "#Has Spaces"}, "IAMWATCH_SLACK_CHANNEL: must be a channel name"),
        (
            {"slack_api_url": "http://slack.example/api/"},
            "IAMWATCH_SLACK_API_URL: must use https",
        ),
        ({"runbook_base_url": "javascript:alert(1)//"}, "IAMWATCH_RUNBOOK_BASE_URL: must be an"),
        ({"runbook_base_url": "https://x.example/a b"}, "IAMWATCH_RUNBOOK_BASE_URL: must not"),
        ({"runbook_base_url": "https://x.example/<b>"}, "IAMWATCH_RUNBOOK_BASE_URL: must not"),
        ({"runbook_base_url": "https://user:pw@x.example/"}, "IAMWATCH_RUNBOOK_BASE_URL: must not"),
        ({"slack_dedup_window_seconds": -1}, "IAMWATCH_SLACK_DEDUP_WINDOW_SECONDS:"),
        ({"slack_repeats": "broadcast"}, "IAMWATCH_SLACK_REPEATS:"),
        ({"slack_token_secret_id": "has spaces"}, "IAMWATCH_SLACK_TOKEN_SECRET_ID: must be"),
        ({"slack_approvers": "U0123ABCD,alice"}, "IAMWATCH_SLACK_APPROVERS: must be Slack user"),
        ({"slack_approvers": "<@U0123ABCD>"}, "IAMWATCH_SLACK_APPROVERS: must be Slack user"),
        (
            {"slack_signing_secret": "s3cr3t", "slack_signing_secret_ssm_parameter": "/x"},
            "IAMWATCH_SLACK_SIGNING_SECRET_SSM_PARAMETER: set only one of",
        ),
        (
            {"slack_two_person_approval": "true", "slack_approvers": "U0123ABCD"},
            "IAMWATCH_SLACK_TWO_PERSON_APPROVAL: two-person approval needs at least two",
        ),
        (
            {"slack_interactivity": "true", "slack_webhook_url": WEBHOOK_SECRET},
            "IAMWATCH_SLACK_INTERACTIVITY: buttons need a bot token",
        ),
        ({"slack_interactivity": "maybe"}, "IAMWATCH_SLACK_INTERACTIVITY:"),
    ],
)
def test_invalid_settings_fail_fast_naming_the_setting(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(**settings)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "xoxb-1" not in str(raised.value)
    assert "verysecretwebhookpart" not in str(raised.value)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMWATCH_SLACK_TOKEN", "xoxb-from-env")
    monkeypatch.setenv("IAMWATCH_SLACK_CHANNEL", "#security-alerts")
    monkeypatch.setenv("IAMWATCH_SLACK_CHANNEL_CRITICAL", "C0123ABCD")
    monkeypatch.setenv("IAMWATCH_SLACK_DEDUP_WINDOW_SECONDS", "600")
    monkeypatch.setenv("IAMWATCH_SLACK_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("IAMWATCH_SLACK_WEBHOOK_URL", "")
    settings = load_settings()
    assert settings.slack_token is not None
    assert settings.slack_token.get_secret_value() == "xoxb-from-env"
    assert settings.slack_channel == "#security-alerts"
    assert settings.slack_channels == {Severity.CRITICAL: "C0123ABCD"}
    assert settings.slack_dedup_window_seconds == 600
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.slack_webhook_url is None


def test_interactivity_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMWATCH_SLACK_INTERACTIVITY", "true")
    monkeypatch.setenv("IAMWATCH_SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    monkeypatch.setenv("IAMWATCH_SLACK_APPROVERS", " U0123ABCD, W0456EFGH ,U0123ABCD")
    monkeypatch.setenv("IAMWATCH_SLACK_TWO_PERSON_APPROVAL", "1")
    settings = load_settings()
    assert settings.slack_interactivity and settings.slack_two_person_approval
    assert settings.slack_approvers == ("U0123ABCD", "W0456EFGH")
    assert settings.slack_signing_secret_configured
    assert "8f742231" not in repr(settings) + str(settings)
    source = slack_signing_secret_source(settings)
    assert source().get_secret_value() == "8f742231b10e8888abcd99yyyzzz85a5"


def test_the_signing_secret_from_ssm_or_secrets_manager(
    aws_env: dict[str, str], fresh_parameters: None
) -> None:
    boto3.client("ssm").put_parameter(
        Name="/iamwatch/signing", Value="ssm-signing-secret", Type="SecureString"
    )
    boto3.client("secretsmanager").create_secret(
        Name="iamwatch/signing", SecretString='{"signing_secret": "sm-signing-secret"}'
    )
    from_ssm = load_settings(slack_signing_secret_ssm_parameter="/iamwatch/signing")
    from_sm = load_settings(slack_signing_secret_secret_id="iamwatch/signing")
    assert slack_signing_secret_source(from_ssm)().get_secret_value() == "ssm-signing-secret"
    assert slack_signing_secret_source(from_sm)().get_secret_value() == "sm-signing-secret"
    missing = load_settings(slack_signing_secret_ssm_parameter="/iamwatch/missing-signing")
    with pytest.raises(SecretError) as raised:
        slack_signing_secret_source(missing)()
    assert str(raised.value) == (
        "IAMWATCH_SLACK_SIGNING_SECRET_SSM_PARAMETER: cannot read parameter "
        "/iamwatch/missing-signing: ParameterNotFound"
    )
    with pytest.raises(SettingsError, match="IAMWATCH_SLACK_SIGNING_SECRET: not set"):
        slack_signing_secret_source(load_settings())


def test_defaults() -> None:
    settings = load_settings()
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL == "https://slack.com/api/"
    assert settings.slack_dedup_window_seconds == 3600
    assert not settings.slack_configured


def test_every_severity_with_a_channel_needs_no_default() -> None:
    settings = load_settings(
        slack_token="xoxb-1",
        slack_channel_critical="#c",
        slack_channel_high="#h",
        slack_channel_medium="#m",
        slack_channel_low="#l",
    )
    assert settings.slack_channels[Severity.INFO] == "#l"


def test_webhooks_may_use_http_only_on_loopback() -> None:
    for url in ("http://127.0.0.1:8080/services/x", "http://localhost/x", "http://[::1]/x"):
        settings = load_settings(slack_webhook_url=url)
        assert settings.slack_webhook_url is not None


def test_secrets_never_show_in_reprs_or_exports() -> None:
    settings = load_settings(slack_token="xoxb-topsecret-123", slack_channel="#a")
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "xoxb-topsecret-123" not in text
    hook = load_settings(slack_webhook_url=WEBHOOK_SECRET)
    for text in (repr(hook), hook.model_dump_json(), repr(build_slack_transport(hook))):
        assert "verysecretwebhookpart" not in text


def test_slack_must_be_configured_to_build_a_notifier() -> None:
    with pytest.raises(SettingsError, match="IAMWATCH_SLACK_TOKEN: Slack is not configured"):
        build_notifier(load_settings())


# The token from SSM Parameter Store and Secrets Manager (moto on loopback) -------------------


def test_token_from_an_ssm_securestring_posts_alerts(
    aws_env: dict[str, str], fresh_parameters: None, slack: SlackServer
) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/iamwatch/slack-token", Value=SlackServer.TOKEN, Type="SecureString")
    settings = load_settings(
        slack_token_ssm_parameter="/iamwatch/slack-token",
        slack_channel="#alerts",
        slack_api_url=slack.api_url,
    )
    alerts = build_notifier(settings, store=SQLiteDedupStore(), sleep=lambda _: None)
    result = alerts.deliver(sample_finding("iam-user-created"))
    assert result.outcome is Outcome.POSTED
    (request,) = slack.requests
    assert request.headers["authorization"] == f"Bearer {SlackServer.TOKEN}"


def test_the_ssm_token_is_cached_for_max_age(
    aws_env: dict[str, str], fresh_parameters: None
) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/iamwatch/cached", Value="xoxb-first", Type="SecureString")
    cached = ssm_token("/iamwatch/cached", max_age=300)
    assert cached().get_secret_value() == "xoxb-first"
    ssm.put_parameter(
        Name="/iamwatch/cached", Value="xoxb-rotated", Type="SecureString", Overwrite=True
    )
    assert cached().get_secret_value() == "xoxb-first"
    assert ssm_token("/iamwatch/cached", max_age=0)().get_secret_value() == "xoxb-rotated"


@pytest.mark.parametrize(
    "stored",
    [SlackServer.TOKEN, f'{{"token": "{SlackServer.TOKEN}", "signing_secret": "s"}}'],
)
def test_token_from_secrets_manager_plain_or_json(
    aws_env: dict[str, str], fresh_parameters: None, slack: SlackServer, stored: str
) -> None:
    name = f"iamwatch/slack-{len(stored)}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=stored)
    settings = load_settings(
        slack_token_secret_id=name, slack_channel="#alerts", slack_api_url=slack.api_url
    )
    alerts = build_notifier(settings, store=SQLiteDedupStore(), sleep=lambda _: None)
    assert alerts.deliver(sample_finding("iam-user-created")).outcome is Outcome.POSTED
    assert slack.requests[0].headers["authorization"] == f"Bearer {SlackServer.TOKEN}"


def test_an_unreadable_token_fails_at_start_up_naming_the_setting(
    aws_env: dict[str, str], fresh_parameters: None
) -> None:
    settings = load_settings(slack_token_ssm_parameter="/iamwatch/missing", slack_channel="#a")
    with pytest.raises(SettingsError) as raised:
        build_notifier(settings)
    assert str(raised.value) == (
        "IAMWATCH_SLACK_TOKEN_SSM_PARAMETER: cannot read parameter /iamwatch/missing: "
        "ParameterNotFound"
    )


def test_a_stored_value_that_is_not_a_token_is_refused_without_echoing_it(
    aws_env: dict[str, str], fresh_parameters: None
) -> None:
    boto3.client("secretsmanager").create_secret(Name="iamwatch/odd", SecretString="hunter2")
    with pytest.raises(TokenError) as raised:
        secrets_manager_token("iamwatch/odd", max_age=0)()
    assert "hunter2" not in str(raised.value)
    assert str(raised.value).startswith("IAMWATCH_SLACK_TOKEN_SECRET_ID:")


def test_the_token_and_webhook_url_never_reach_the_logs(
    slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    finding = sample_finding("iam-user-created")
    token = "xoxb-wrong-but-secret-token"
    with caplog.at_level(logging.DEBUG):
        for failure in ("drop", "error", "auth"):
            if failure == "drop":
                slack.drop_next(10)
            elif failure == "error":
                slack.server_error_next(10)
            settings = load_settings(
                slack_token=token if failure == "auth" else SlackServer.TOKEN,
                slack_channel="#alerts",
                slack_api_url=slack.api_url,
                slack_max_retries=1,
            )
            alerts = build_notifier(settings, store=SQLiteDedupStore(), sleep=lambda _: None)
            result = alerts.deliver(finding)
            assert result.outcome is Outcome.FAILED
            assert token not in repr(result) and SlackServer.TOKEN not in repr(result)
        hook = load_settings(slack_webhook_url=slack.webhook_url, slack_max_retries=1)
        slack.server_error_next(10)
        hooked = build_notifier(hook, store=SQLiteDedupStore(), sleep=lambda _: None)
        result = hooked.deliver(finding)
        assert result.outcome is Outcome.FAILED
        assert SlackServer.WEBHOOK_PATH not in repr(result)
    assert "slack delivery failed" in caplog.text
    for secret in (token, SlackServer.TOKEN, SlackServer.WEBHOOK_PATH.rsplit("/", 1)[-1]):
        assert secret not in caplog.text
