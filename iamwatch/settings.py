"""Settings, from ``IAMWATCH_*`` environment variables and an optional TOML config file.

Validated once at start-up; an invalid value fails fast with a message naming the setting.
Precedence: explicit arguments, then environment, then the config file, then defaults.
Read by a few lines of our own rather than pydantic-settings, which alone would add ~60 ms
to every Lambda cold start and CLI run.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from iamwatch.finding import DEFAULT_RUNBOOK_BASE_URL
from iamwatch.registry import (
    DEFAULT_SELF_PREFIX,
    DEFAULT_SLACK_PARAMETER,
    DetectionSettings,
)
from iamwatch.severity import Severity
from iamwatch.slack.links import http_url_problem
from iamwatch.slack.suppress import SuppressionRule

if TYPE_CHECKING:
    from iamwatch.inventory.checks import Thresholds
    from iamwatch.protected import ProtectedPrincipals

ENV_PREFIX = "IAMWATCH_"
CONFIG_ENV = "IAMWATCH_CONFIG"

# Structured settings, given as JSON in the environment (tables or arrays in TOML).
_JSON_SETTINGS = frozenset({"suppressions"})


DEFAULT_SLACK_API_URL = "https://slack.com/api/"

# Channel names (#security-alerts) or conversation ids (C0123ABCD).
_CHANNEL = re.compile(r"^(?:#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{6,20})$")
_SSM_NAME = re.compile(
    r"^(?:arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?[A-Za-z0-9_.\-/]{1,2048}$"
)
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
# Characters every resource kind iamwatch deploys (functions, roles, queues, tables, rules,
# stacks) allows in its name, so a prefix of them can match all of them.
_SELF_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_REGION = REGION
# Slack user ids (U... for most users, W... on Enterprise Grid): the only form an approver
# may be given in, and the only form ever rendered back as a <@mention>.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_SIGNING_SECRET_SOURCES = (
    "slack_signing_secret",
    "slack_signing_secret_ssm_parameter",
    "slack_signing_secret_secret_id",
)
_SEVERITY_CHANNELS = {
    Severity.CRITICAL: "slack_channel_critical",
    Severity.HIGH: "slack_channel_high",
    Severity.MEDIUM: "slack_channel_medium",
    Severity.LOW: "slack_channel_low",
}


class SettingsError(ValueError):
    """A setting is invalid; the message names it the way the user would set it."""


class _FieldProblem(ValueError):
    """A problem found across settings, attributed to the one the user should change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    login_failure_threshold: int = Field(default=5, ge=1, le=10_000)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    state_path: Path | None = None
    # The SQLite audit trail of ``iamwatch scan``; unset: the state file, else a per-user file.
    audit_path: Path | None = None
    # The prefix of iamwatch's own resource names (iamwatch-<stage>- when deployed), which
    # the self-tamper detector watches.
    self_prefix: str = DEFAULT_SELF_PREFIX
    # Accounts (besides each event's own) and AWS Organizations a role's trust policy may name
    # without a finding; comma-separated in the environment.
    trusted_accounts: tuple[str, ...] = ()
    trusted_organizations: tuple[str, ...] = ()
    # How far apart a new IAM user's creation, credential and admin grant may be and still be
    # one backdoor sequence.
    backdoor_sequence_window_hours: int = Field(default=30, ge=1, le=30 * 24)
    # The deployment's own account and the regions of its stack (deployed: AWS::AccountId and
    # AWS::Region); unset, every account's resources named with the prefix count.
    self_account: str | None = None
    self_regions: tuple[str, ...] = ()

    # Slack: a bot token (from one of three places) and channels, or an incoming webhook.
    slack_token: SecretStr | None = None
    slack_token_ssm_parameter: str | None = None
    slack_token_secret_id: str | None = None
    slack_token_cache_seconds: int = Field(default=300, ge=0, le=24 * 3600)
    slack_webhook_url: SecretStr | None = None
    slack_channel: str | None = None
    slack_channel_critical: str | None = None
    slack_channel_high: str | None = None
    slack_channel_medium: str | None = None
    slack_channel_low: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_dedup_window_seconds: int = Field(default=3600, ge=0, le=30 * 24 * 3600)
    slack_repeats: Literal["thread", "update"] = "thread"
    slack_max_retries: int = Field(default=5, ge=0, le=20)
    slack_max_retry_wait_seconds: int = Field(default=60, ge=1, le=900)
    slack_timeout_seconds: int = Field(default=10, ge=1, le=120)
    suppressions: tuple[SuppressionRule, ...] = ()
    # Slack buttons (Acknowledge, Remediate) and the interactions endpoint behind them.
    slack_interactivity: bool = False
    slack_signing_secret: SecretStr | None = None
    slack_signing_secret_ssm_parameter: str | None = None
    slack_signing_secret_secret_id: str | None = None
    slack_approvers: tuple[str, ...] = ()
    slack_two_person_approval: bool = False
    # The inventory (README, Inventory): thresholds in days, CIS / Security Hub defaults.
    dormant_days: int = Field(default=90, ge=1, le=3650)
    access_key_max_age_days: int = Field(default=90, ge=1, le=3650)
    access_key_unused_days: int = Field(default=45, ge=1, le=3650)
    password_unused_days: int = Field(default=45, ge=1, le=3650)
    root_used_days: int = Field(default=30, ge=1, le=3650)
    # Break-glass and other critical principals remediation never acts on (iamwatch.protected;
    # the IAM tag iamwatch:break-glass protects too).
    protected_principals: tuple[str, ...] = ()
    # Where iamwatch's own alarms and the doctor's failures go in Slack: a channel apart from
    # the alert channels, which may be the broken part.
    alarm_slack_channel: str | None = None
    # Where people sign in besides us-east-1, and Identity Center's home region: each needs a
    # forwarder (README, Deploy), which ``iamwatch doctor`` checks.
    signin_regions: tuple[str, ...] = ("us-east-2", "eu-north-1", "ap-southeast-2")
    identity_center_region: str | None = None

    @field_validator(
        "slack_token",
        "slack_token_ssm_parameter",
        "slack_token_secret_id",
        "slack_signing_secret",
        "slack_signing_secret_ssm_parameter",
        "slack_signing_secret_secret_id",
        "slack_webhook_url",
        "slack_channel",
        "slack_channel_critical",
        "slack_channel_high",
        "slack_channel_medium",
        "slack_channel_low",
        "alarm_slack_channel",
        mode="before",
    )
    @classmethod
    def _unset_when_blank(cls, value: object) -> object:
        return _blank_to_none(value)

    @field_validator("runbook_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The runbook button opens this URL from every alert, so it must be a plain http(s) link.
        problem = http_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        # The bot token travels to this URL: cleartext only to a server on this machine.
        problem = http_url_problem(value, https_only_unless_loopback=True)
        if problem is not None:
            raise ValueError(problem)
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = http_url_problem(value.get_secret_value(), https_only_unless_loopback=True)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("slack_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            token = value.get_secret_value()
            if not token.startswith("xox") or any(char.isspace() for char in token):
                raise ValueError("must be a Slack token (xoxb-...) without spaces")
        return value

    @field_validator(
        "slack_channel",
        "slack_channel_critical",
        "slack_channel_high",
        "slack_channel_medium",
        "slack_channel_low",
        "alarm_slack_channel",
    )
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL.match(value):
            raise ValueError(
                "must be a channel name such as #security-alerts or an id such as C0123ABCD"
            )
        return value

    @field_validator("self_prefix")
    @classmethod
    def _self_prefix(cls, value: str) -> str:
        if not _SELF_PREFIX.match(value):
            raise ValueError(
                "must be the start of iamwatch's resource names, such as iamwatch-prod- "
                "(letters, digits, hyphens and underscores)"
            )
        return value

    @field_validator("self_account", mode="before")
    @classmethod
    def _blank_account(cls, value: object) -> object:
        return _blank_to_none(value)

    @field_validator("self_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_ID.match(value):
            raise ValueError("must be a 12-digit AWS account id")
        return value

    @field_validator("self_regions", "signin_regions", mode="before")
    @classmethod
    def _region_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("self_regions", "signin_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if not _REGION.match(region):
                raise ValueError("must be AWS region names such as us-east-1, separated by commas")
        return tuple(dict.fromkeys(value))

    @field_validator("identity_center_region", mode="before")
    @classmethod
    def _blank_region(cls, value: object) -> object:
        return _blank_to_none(value)

    @field_validator("identity_center_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError("must be an AWS region name such as eu-west-1")
        return value

    @field_validator("protected_principals", mode="before")
    @classmethod
    def _protected_patterns(cls, value: object) -> object:
        from iamwatch.protected import ProtectedPatternError, parse_patterns

        try:
            return parse_patterns(value)
        except ProtectedPatternError as error:
            raise ValueError(str(error)) from None

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(char.isspace() for char in value.get_secret_value()):
            raise ValueError("must be the app's signing secret, without spaces")
        return value

    @field_validator("trusted_accounts", "trusted_organizations", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_accounts")
    @classmethod
    def _account_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _ACCOUNT_ID.match(item):
                raise ValueError(
                    "must be 12-digit AWS account ids such as 111122223333, separated by commas"
                )
        return tuple(dict.fromkeys(value))

    @field_validator("trusted_organizations")
    @classmethod
    def _organization_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _ORGANIZATION_ID.match(item):
                raise ValueError(
                    "must be AWS Organizations ids such as o-a1b2c3d4e5, separated by commas"
                )
        return tuple(dict.fromkeys(value))

    @field_validator("slack_approvers", mode="before")
    @classmethod
    def _approver_list(cls, value: object) -> object:
        # The environment gives "U01,U02"; TOML gives a list.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("slack_approvers")
    @classmethod
    def _approver_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not SLACK_USER_ID.match(item):
                raise ValueError(
                    "must be Slack user ids such as U0123ABCD, separated by commas (names and "
                    "@handles can be renamed, ids cannot)"
                )
        return tuple(dict.fromkeys(value))

    @field_validator("slack_token_ssm_parameter", "slack_signing_secret_ssm_parameter")
    @classmethod
    def _ssm_name(cls, value: str | None) -> str | None:
        if value is not None and not _SSM_NAME.match(value):
            raise ValueError(
                "must be an SSM parameter name such as /iamwatch/slack-token, or its ARN"
            )
        return value

    @field_validator("slack_token_secret_id", "slack_signing_secret_secret_id")
    @classmethod
    def _secret_id(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_ID.match(value):
            raise ValueError("must be a Secrets Manager secret name or ARN")
        return value

    @model_validator(mode="after")
    def _slack_destination(self) -> Settings:
        sources = [
            name
            for name in ("slack_token", "slack_token_ssm_parameter", "slack_token_secret_id")
            if getattr(self, name) is not None
        ]
        channels = [
            name for name in ("slack_channel", *_SEVERITY_CHANNELS.values()) if getattr(self, name)
        ]
        if len(sources) > 1:
            raise _FieldProblem(
                sources[1],
                "set only one of IAMWATCH_SLACK_TOKEN, IAMWATCH_SLACK_TOKEN_SSM_PARAMETER and "
                "IAMWATCH_SLACK_TOKEN_SECRET_ID",
            )
        if sources and self.slack_webhook_url is not None:
            raise _FieldProblem(
                "slack_webhook_url", "set either a bot token or an incoming webhook URL, not both"
            )
        if self.slack_webhook_url is not None and channels:
            raise _FieldProblem(
                channels[0],
                "an incoming webhook always posts to the channel it was created for; "
                "channels apply to bot-token delivery only",
            )
        every_severity = all(getattr(self, name) for name in _SEVERITY_CHANNELS.values())
        if sources and self.slack_channel is None and not every_severity:
            raise _FieldProblem(
                "slack_channel",
                "required with a Slack bot token: the channel for severities without their own "
                "IAMWATCH_SLACK_CHANNEL_<SEVERITY>",
            )
        self._check_interactivity()
        return self

    def _check_interactivity(self) -> None:
        secrets = [name for name in _SIGNING_SECRET_SOURCES if getattr(self, name) is not None]
        if len(secrets) > 1:
            raise _FieldProblem(
                secrets[1],
                "set only one of IAMWATCH_SLACK_SIGNING_SECRET, "
                "IAMWATCH_SLACK_SIGNING_SECRET_SSM_PARAMETER and "
                "IAMWATCH_SLACK_SIGNING_SECRET_SECRET_ID",
            )
        if self.slack_interactivity and self.slack_webhook_url is not None:
            raise _FieldProblem(
                "slack_interactivity",
                "buttons need a bot token: acknowledging updates the alert, which an incoming "
                "webhook cannot do",
            )
        if self.slack_two_person_approval and len(self.slack_approvers) < 2:
            raise _FieldProblem(
                "slack_two_person_approval",
                "two-person approval needs at least two IAMWATCH_SLACK_APPROVERS",
            )

    @property
    def resolved_audit_path(self) -> Path:
        """Where the CLI's audit trail goes: ``audit_path``, else ``state_path``, else the
        per-user default (``iamwatch.audit.default_audit_path``)."""
        if self.audit_path is not None:
            return self.audit_path
        if self.state_path is not None:
            return self.state_path
        from iamwatch.audit import default_audit_path

        return default_audit_path()

    @property
    def protected(self) -> ProtectedPrincipals:
        """The protected principals matcher (the setting; tags are checked where IAM is read)."""
        from iamwatch.protected import ProtectedPrincipals

        return ProtectedPrincipals(self.protected_principals)

    @property
    def slack_configured(self) -> bool:
        return self.slack_webhook_url is not None or self.slack_token_configured

    @property
    def slack_token_configured(self) -> bool:
        return any(
            value is not None
            for value in (
                self.slack_token,
                self.slack_token_ssm_parameter,
                self.slack_token_secret_id,
            )
        )

    @property
    def slack_signing_secret_configured(self) -> bool:
        return any(getattr(self, name) is not None for name in _SIGNING_SECRET_SOURCES)

    @property
    def slack_channels(self) -> dict[Severity, str]:
        """Per-severity overrides; info findings go to the low channel when there is no default."""
        routes = {
            severity: channel
            for severity, name in _SEVERITY_CHANNELS.items()
            if (channel := getattr(self, name))
        }
        if self.slack_channel is None and Severity.LOW in routes:
            routes.setdefault(Severity.INFO, routes[Severity.LOW])
        return routes

    @property
    def inventory_thresholds(self) -> Thresholds:
        from iamwatch.inventory.checks import Thresholds

        return Thresholds(
            dormant_days=self.dormant_days,
            key_max_age_days=self.access_key_max_age_days,
            key_unused_days=self.access_key_unused_days,
            password_unused_days=self.password_unused_days,
            root_used_days=self.root_used_days,
        )

    @property
    def detection(self) -> DetectionSettings:
        return DetectionSettings(
            login_failure_threshold=self.login_failure_threshold,
            login_failure_window=timedelta(seconds=self.login_failure_window_seconds),
            self_prefix=self.self_prefix,
            self_token_parameter=self.slack_token_ssm_parameter or DEFAULT_SLACK_PARAMETER,
            self_token_secret=self.slack_token_secret_id,
            trusted_accounts=frozenset(self.trusted_accounts),
            trusted_organizations=frozenset(self.trusted_organizations),
            backdoor_window=timedelta(hours=self.backdoor_sequence_window_hours),
            self_account=self.self_account,
            self_regions=frozenset(self.self_regions) or None,
        )


# The settings the command line also takes as options, by the option's name.
_OPTION_NAMES = {"state_path": "--state", "audit_path": "--audit"}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise ``SettingsError`` naming the offending setting."""
    if config_file is None and (configured := os.environ.get(CONFIG_ENV)):
        config_file = Path(configured)
    values: dict[str, Any] = {}
    # Where each value came from, so an invalid one is reported where the user set it.
    origins: dict[str, str] = {}
    if config_file is not None:
        from_file = _from_config_file(config_file)
        values.update(from_file)
        origins.update({key: f"{config_file}: {key}" for key in from_file})
    from_environment = environment_values(Settings.model_fields, os.environ)
    values.update(from_environment)
    origins.update({key: f"{ENV_PREFIX}{key.upper()}" for key in from_environment})
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    origins.update({key: _OPTION_NAMES[key] for key in given if key in _OPTION_NAMES})
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError(_describe(error, origins)) from None


def environment_values(fields: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``IAMWATCH_<FIELD>`` variables (any case) for the given fields; structured ones are
    JSON. Variables naming no field are ignored, as other tools share the prefix."""
    by_name = {key.upper(): value for key, value in environ.items()}
    values: dict[str, Any] = {}
    for field in fields:
        raw = by_name.get(f"{ENV_PREFIX}{field.upper()}")
        if raw is None:
            continue
        if field in _JSON_SETTINGS:
            try:
                values[field] = json.loads(raw)
            except json.JSONDecodeError:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()}: is not valid JSON") from None
        else:
            values[field] = raw
    return values


def _from_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"{CONFIG_ENV}: config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
        raise SettingsError(f"{CONFIG_ENV}: {path}: {error}") from None


def _describe(error: ValidationError, origins: Mapping[str, str] | None = None) -> str:
    """One line per problem, each under the name the user gave the setting: the config file
    and key, the environment variable, or the option (the variable's name when unset)."""
    origins = origins or {}

    def named(field: str) -> str:
        return origins.get(field, f"{ENV_PREFIX}{field.upper()}")

    lines = []
    for item in error.errors(include_input=False):
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldProblem):
            lines.append(f"{named(cause.field)}: {cause.message}")
            continue
        location = item["loc"]
        field = str(location[0]) if location else "settings"
        # Where inside a structured setting, e.g. "rule 2, owner" for suppressions.
        inner = [
            f"rule {part + 1}" if isinstance(part, int) else str(part) for part in location[1:]
        ]
        where = f"{', '.join(inner)}: " if inner else ""
        message = item["msg"].removeprefix("Value error, ")
        if message == "Extra inputs are not permitted":
            message = "not a setting iamwatch knows"
        lines.append(f"{named(field)}: {where}{message}")
    return "; ".join(lines)
