"""Where Slack secrets come from: the environment locally, SSM or Secrets Manager in AWS.

Two secrets share this code: the bot token and the app's signing secret (which proves that an
interaction request came from Slack). Parameter Store (SecureString, decrypted) and Secrets
Manager are read through powertools parameters, which cache the value for ``max_age`` seconds
(0: no caching): a rotated secret is picked up without a redeploy, and a warm Lambda does not
call AWS for every request. A secret only ever travels as a ``SecretStr``; error messages name
the setting and the AWS error code, never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
from pydantic import SecretStr

# Secrets Manager secrets are often JSON objects; these keys are taken to hold the secret.
TOKEN_KEYS = ("token", "bot_token", "slack_token", "SLACK_BOT_TOKEN", "SLACK_TOKEN")
SIGNING_SECRET_KEYS = ("signing_secret", "slack_signing_secret", "SLACK_SIGNING_SECRET")


class SecretError(ValueError):
    """A secret could not be read; the message names the setting that points at it."""


# The name the bot-token code has always used.
TokenError = SecretError

SecretSource = Callable[[], SecretStr]
TokenSource = SecretSource
# Checks a value read from AWS; returns why it is not the expected kind of secret, or None.
Check = Callable[[str], str | None]


class StoredSecret:
    """A secret read from AWS and cached; ``refresh`` reads it again past the cache (Slack
    refused the cached one: it may have been rotated since)."""

    def __init__(self, read: Callable[[bool], SecretStr]) -> None:
        self._read = read

    def __call__(self) -> SecretStr:
        return self._read(False)

    def refresh(self) -> SecretStr:
        return self._read(True)


def refreshed(source: SecretSource) -> SecretStr:
    """The secret read again from where it is stored, past any cache (a static one as is)."""
    return source.refresh() if isinstance(source, StoredSecret) else source()


def static_token(token: SecretStr) -> SecretSource:
    return lambda: token


static_secret = static_token


def ssm_secret(name: str, max_age: int, *, setting: str, check: Check) -> SecretSource:
    def read(force: bool) -> SecretStr:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_parameter(
                name, decrypt=True, max_age=max_age, force_fetch=force or max_age == 0
            )
        except Exception as error:
            raise SecretError(
                f"{setting}: cannot read parameter {name}: {_aws_reason(error)}"
            ) from None
        return _validated(value, setting, check)

    return StoredSecret(read)


def secrets_manager_secret(
    secret_id: str, max_age: int, *, setting: str, keys: Sequence[str], check: Check
) -> SecretSource:
    def read(force: bool) -> SecretStr:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_secret(
                secret_id, max_age=max_age, force_fetch=force or max_age == 0
            )
        except Exception as error:
            raise SecretError(
                f"{setting}: cannot read secret {secret_id}: {_aws_reason(error)}"
            ) from None
        return _validated(_from_json(value, setting, keys), setting, check)

    return StoredSecret(read)


def token_problem(value: str) -> str | None:
    if not value.startswith("xox") or any(char.isspace() for char in value):
        return "the stored value does not look like a Slack token"
    return None


def signing_secret_problem(value: str) -> str | None:
    if any(char.isspace() for char in value):
        return "the stored value does not look like a Slack signing secret"
    return None


def ssm_token(name: str, max_age: int) -> SecretSource:
    return ssm_secret(
        name, max_age, setting="IAMWATCH_SLACK_TOKEN_SSM_PARAMETER", check=token_problem
    )


def secrets_manager_token(secret_id: str, max_age: int) -> SecretSource:
    return secrets_manager_secret(
        secret_id,
        max_age,
        setting="IAMWATCH_SLACK_TOKEN_SECRET_ID",
        keys=TOKEN_KEYS,
        check=token_problem,
    )


def _from_json(value: str, setting: str, keys: Sequence[str]) -> str:
    if not value.lstrip().startswith("{"):
        return value
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if isinstance(data, dict):
        for key in keys:
            if isinstance(data.get(key), str):
                return str(data[key])
    raise SecretError(f"{setting}: the secret is a JSON object without a {'/'.join(keys[:3])} key")


def _validated(value: object, setting: str, check: Check) -> SecretStr:
    if not isinstance(value, str) or not value.strip():
        raise SecretError(f"{setting}: the stored secret is empty")
    text = value.strip()
    problem = check(text)
    if problem is not None:
        raise SecretError(f"{setting}: {problem}")
    return SecretStr(text)


def _aws_reason(error: Exception) -> str:
    """The AWS error code (e.g. ParameterNotFound), never a message that might echo data."""
    cause = error.__cause__ or error.__context__
    for candidate in (error, cause):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
    return type(cause or error).__name__
