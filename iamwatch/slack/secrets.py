"""Where the Slack bot token comes from: the environment locally, SSM or Secrets Manager in AWS.

Parameter Store (SecureString, decrypted) and Secrets Manager are read through powertools
parameters, which cache the value for ``max_age`` seconds (0: no caching): a rotated token is
picked up without a redeploy, and a warm Lambda does not call AWS for every alert. The token
only ever travels as a ``SecretStr``; error messages name the setting and the AWS error code,
never the value.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from pydantic import SecretStr

# Secrets Manager secrets are often JSON objects; these keys are taken to hold the token.
_SECRET_KEYS = ("token", "bot_token", "slack_token", "SLACK_BOT_TOKEN", "SLACK_TOKEN")


class TokenError(ValueError):
    """The token could not be read; the message names the setting that points at it."""


TokenSource = Callable[[], SecretStr]


def static_token(token: SecretStr) -> TokenSource:
    return lambda: token


def ssm_token(name: str, max_age: int) -> TokenSource:
    def read() -> SecretStr:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_parameter(
                name, decrypt=True, max_age=max_age, force_fetch=max_age == 0
            )
        except Exception as error:
            raise TokenError(
                f"IAMWATCH_SLACK_TOKEN_SSM_PARAMETER: cannot read parameter {name}: "
                f"{_aws_reason(error)}"
            ) from None
        return _token(value, "IAMWATCH_SLACK_TOKEN_SSM_PARAMETER")

    return read


def secrets_manager_token(secret_id: str, max_age: int) -> TokenSource:
    def read() -> SecretStr:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_secret(secret_id, max_age=max_age, force_fetch=max_age == 0)
        except Exception as error:
            raise TokenError(
                f"IAMWATCH_SLACK_TOKEN_SECRET_ID: cannot read secret {secret_id}: "
                f"{_aws_reason(error)}"
            ) from None
        return _token(_from_json(value), "IAMWATCH_SLACK_TOKEN_SECRET_ID")

    return read


def _from_json(value: str) -> str:
    if not value.lstrip().startswith("{"):
        return value
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if isinstance(data, dict):
        for key in _SECRET_KEYS:
            if isinstance(data.get(key), str):
                return str(data[key])
    raise TokenError(
        "IAMWATCH_SLACK_TOKEN_SECRET_ID: the secret is a JSON object without a "
        + "/".join(_SECRET_KEYS[:3])
        + " key"
    )


def _token(value: object, setting: str) -> SecretStr:
    if not isinstance(value, str) or not value.strip():
        raise TokenError(f"{setting}: the stored token is empty")
    text = value.strip()
    if not text.startswith("xox") or any(char.isspace() for char in text):
        raise TokenError(f"{setting}: the stored value does not look like a Slack token")
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
