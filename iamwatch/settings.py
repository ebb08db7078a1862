"""Settings, from ``IAMWATCH_*`` environment variables and an optional TOML config file.

Validated once at start-up; an invalid value fails fast with a message naming the setting.
Precedence: explicit arguments, then environment, then the config file, then defaults.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from iamwatch.finding import DEFAULT_RUNBOOK_BASE_URL
from iamwatch.registry import DetectionSettings

ENV_PREFIX = "IAMWATCH_"
CONFIG_ENV = "IAMWATCH_CONFIG"

# The config file for the settings being loaded; a context variable rather than os.environ so
# loading settings has no side effects.
_config_file: ContextVar[Path | None] = ContextVar("iamwatch_config_file", default=None)


class SettingsError(ValueError):
    """A setting is invalid; the message names it the way the user would set it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    login_failure_threshold: int = Field(default=5, ge=1, le=10_000)
    login_failure_window_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    state_path: Path | None = None

    @field_validator("runbook_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or " " in value:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = _config_file.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def detection(self) -> DetectionSettings:
        return DetectionSettings(
            login_failure_threshold=self.login_failure_threshold,
            login_failure_window=timedelta(seconds=self.login_failure_window_seconds),
        )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise ``SettingsError`` naming the offending setting."""
    if config_file is None and (configured := os.environ.get(CONFIG_ENV)):
        config_file = Path(configured)
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"{CONFIG_ENV}: config file {config_file} does not exist")
    token = _config_file.set(config_file)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except ValueError as error:  # an unreadable TOML file
        raise SettingsError(f"{CONFIG_ENV}: {config_file}: {error}") from None
    finally:
        _config_file.reset(token)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "settings"
        lines.append(f"{ENV_PREFIX}{field.upper()}: {item['msg']}")
    return "; ".join(lines)
