"""Typed CloudTrail records and the EventBridge envelope around them.

Real CloudTrail is messy and partly attacker-controlled: fields go missing, free-form parts
are ``null`` or the string "null", booleans arrive as strings, timestamps come in more than
one format and source addresses are sometimes host names. Everything is normalised here,
once, so detectors only ever see typed values.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from iamwatch.params import Params, parse_bool
from iamwatch.principal import Principal, classify
from iamwatch.text import encodable

_MAX_IDENTIFIER = 128


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped in ("", "null", "None") else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _required_str(value: object) -> str:
    text = _optional_str(value)
    if text is None:
        raise ValueError("must be a non-empty string")
    return text


def _identifier(value: object) -> str:
    """An id used in hashes, keys and stores: lone surrogates (only a hostile or corrupt
    source can produce them) are kept as ``\\udXXX`` escapes, which every encoder accepts, and
    one longer than any CloudTrail writes (a UUID) is replaced by its digest."""
    text = encodable(_required_str(value))
    if len(text) <= _MAX_IDENTIFIER:
        return text
    return "digest-" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_timestamp(value: object) -> datetime:
    """CloudTrail writes ``2024-05-01T12:00:00Z``; copies and exports add fractions, offsets,
    a space instead of ``T``, a trailing ``UTC`` or epoch seconds/milliseconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise ValueError("expected a timestamp, got a boolean")
    elif isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            # Out of the platform's range (or NaN): not a time CloudTrail could have written.
            raise ValueError("timestamp out of range") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4]
        if text.isdigit():
            return parse_timestamp(int(text))
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"unrecognised timestamp {value[:40]!r}") from None
    else:
        raise ValueError(f"expected a timestamp, got {type(value).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _optional_timestamp(value: object) -> datetime | None:
    if value is None or (isinstance(value, str) and value.strip() in ("", "null")):
        return None
    return parse_timestamp(value)


OptStr = Annotated[str | None, BeforeValidator(_optional_str)]
ReqStr = Annotated[str, BeforeValidator(_required_str)]
OptBool = Annotated[bool | None, BeforeValidator(parse_bool)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
OptTimestamp = Annotated[datetime | None, BeforeValidator(_optional_timestamp)]


def _timestamp_or_none(value: object) -> datetime | None:
    try:
        return _optional_timestamp(value)
    except ValueError:
        return None


# A time no detector relies on: unreadable, it is absent, rather than the record unreadable.
InfoTimestamp = Annotated[datetime | None, BeforeValidator(_timestamp_or_none)]
JsonObject = Annotated[
    Params,
    BeforeValidator(Params.coerce),
    PlainSerializer(lambda params: params.to_dict()),
]


def _object_or_none(value: object) -> object:
    """Nested identity parts are objects; anything else is treated as absent."""
    return value if isinstance(value, dict) else None


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        arbitrary_types_allowed=True,
    )


class SessionIssuer(_Model):
    type: OptStr = None
    principal_id: OptStr = Field(default=None, alias="principalId")
    arn: OptStr = None
    account_id: OptStr = Field(default=None, alias="accountId")
    user_name: OptStr = Field(default=None, alias="userName")


class WebIdFederationData(_Model):
    federated_provider: OptStr = Field(default=None, alias="federatedProvider")
    attributes: JsonObject = Field(default_factory=Params)


class SessionAttributes(_Model):
    creation_date: InfoTimestamp = Field(default=None, alias="creationDate")
    mfa_authenticated: OptBool = Field(default=None, alias="mfaAuthenticated")


class SessionContext(_Model):
    session_issuer: Annotated[SessionIssuer | None, BeforeValidator(_object_or_none)] = Field(
        default=None, alias="sessionIssuer"
    )
    web_id_federation_data: Annotated[
        WebIdFederationData | None, BeforeValidator(_object_or_none)
    ] = Field(default=None, alias="webIdFederationData")
    attributes: Annotated[SessionAttributes | None, BeforeValidator(_object_or_none)] = None
    source_identity: OptStr = Field(default=None, alias="sourceIdentity")


class OnBehalfOf(_Model):
    user_id: OptStr = Field(default=None, alias="userId")
    identity_store_arn: OptStr = Field(default=None, alias="identityStoreArn")


class UserIdentity(_Model):
    type: OptStr = None
    principal_id: OptStr = Field(default=None, alias="principalId")
    arn: OptStr = None
    account_id: OptStr = Field(default=None, alias="accountId")
    access_key_id: OptStr = Field(default=None, alias="accessKeyId")
    user_name: OptStr = Field(default=None, alias="userName")
    invoked_by: OptStr = Field(default=None, alias="invokedBy")
    identity_provider: OptStr = Field(default=None, alias="identityProvider")
    credential_id: OptStr = Field(default=None, alias="credentialId")
    session_context: Annotated[SessionContext | None, BeforeValidator(_object_or_none)] = Field(
        default=None, alias="sessionContext"
    )
    on_behalf_of: Annotated[OnBehalfOf | None, BeforeValidator(_object_or_none)] = Field(
        default=None, alias="onBehalfOf"
    )

    @property
    def mfa_authenticated(self) -> bool | None:
        if self.session_context is None or self.session_context.attributes is None:
            return None
        return self.session_context.attributes.mfa_authenticated


class Resource(_Model):
    arn: OptStr = Field(default=None, alias="ARN")
    account_id: OptStr = Field(default=None, alias="accountId")
    type: OptStr = None


def _resources(value: object) -> object:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, dict))


def _synthetic_event_id(raw: dict[str, Any]) -> str:
    """A record without eventID still needs a stable identity for finding ids and dedup."""
    try:
        canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:
        # Strings that are not valid UTF-8 (lone surrogates) from a non-JSON source.
        canonical = repr(sorted(raw.items(), key=str)).encode("utf-8", "surrogatepass")
    return "synthetic-" + hashlib.sha256(canonical).hexdigest()[:32]


class CloudTrailRecord(_Model):
    """One CloudTrail record, as found in a log file or in an EventBridge ``detail``."""

    event_version: OptStr = Field(default=None, alias="eventVersion")
    user_identity: Annotated[UserIdentity, BeforeValidator(lambda v: v or {})] = Field(
        default_factory=UserIdentity, alias="userIdentity"
    )
    event_time: Timestamp = Field(alias="eventTime")
    event_source: ReqStr = Field(alias="eventSource")
    event_name: ReqStr = Field(alias="eventName")
    aws_region: OptStr = Field(default=None, alias="awsRegion")
    source_ip_address: OptStr = Field(default=None, alias="sourceIPAddress")
    user_agent: OptStr = Field(default=None, alias="userAgent")
    error_code: OptStr = Field(default=None, alias="errorCode")
    error_message: OptStr = Field(default=None, alias="errorMessage")
    request_parameters: JsonObject = Field(default_factory=Params, alias="requestParameters")
    response_elements: JsonObject = Field(default_factory=Params, alias="responseElements")
    additional_event_data: JsonObject = Field(default_factory=Params, alias="additionalEventData")
    # AWS service events (Identity Center sign-ins among them) report their outcome here.
    service_event_details: JsonObject = Field(default_factory=Params, alias="serviceEventDetails")
    request_id: OptStr = Field(default=None, alias="requestID")
    event_id: Annotated[str, BeforeValidator(_identifier)] = Field(alias="eventID")
    read_only: OptBool = Field(default=None, alias="readOnly")
    resources: Annotated[tuple[Resource, ...], BeforeValidator(_resources)] = ()
    event_type: OptStr = Field(default=None, alias="eventType")
    management_event: OptBool = Field(default=None, alias="managementEvent")
    recipient_account_id: OptStr = Field(default=None, alias="recipientAccountId")
    event_category: OptStr = Field(default=None, alias="eventCategory")
    shared_event_id: OptStr = Field(default=None, alias="sharedEventID")
    session_credential_from_console: OptBool = Field(
        default=None, alias="sessionCredentialFromConsole"
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_event_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and _optional_str_or_none(data.get("eventID")) is None:
            return {**data, "eventID": _synthetic_event_id(data)}
        return data

    # Convenience views. Short names keep detectors readable.
    @property
    def request(self) -> Params:
        return self.request_parameters

    @property
    def response(self) -> Params:
        return self.response_elements

    @property
    def extra(self) -> Params:
        return self.additional_event_data

    @property
    def identity_type(self) -> str | None:
        return self.user_identity.type

    @property
    def account_id(self) -> str | None:
        return self.recipient_account_id or self.user_identity.account_id

    @property
    def console_login_result(self) -> str | None:
        """ "Success" or "Failure" for a ConsoleLogin record, else ``None``."""
        return self.response_elements.get_str("ConsoleLogin")

    @property
    def failed(self) -> bool:
        """The call did not do what it asked: it has an errorCode, or it reports a failure the
        way sign-in events do, without one: ``{"ConsoleLogin": "Failure"}`` or
        ``{"PasswordUpdated": "Failure"}`` in responseElements, ``{"UserAuthentication":
        "Failure"}`` or ``{"CredentialVerification": "Failure"}`` in serviceEventDetails."""
        if self.error_code is not None:
            return True
        return _reports_failure(self.response_elements) or _reports_failure(
            self.service_event_details
        )

    @property
    def via_aws_service(self) -> bool:
        """An AWS service acted on the principal's behalf (e.g. support.amazonaws.com)."""
        return self.user_identity.invoked_by is not None or self.event_type == "AwsServiceEvent"

    @cached_property
    def source_ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The caller's address when sourceIPAddress is an IP (not a service host name)."""
        if self.source_ip_address is None:
            return None
        try:
            return ipaddress.ip_address(self.source_ip_address.strip())
        except ValueError:
            return None

    @cached_property
    def principal(self) -> Principal:
        return classify(self.user_identity, self.additional_event_data)


def _reports_failure(outcome: Params) -> bool:
    """A top-level ``"Failure"`` (any case): the shape every sign-in event reports one in."""
    return any(
        isinstance(value, str) and value.strip().lower() == "failure" for value in outcome.values()
    )


def _optional_str_or_none(value: object) -> str | None:
    try:
        return _optional_str(value)
    except ValueError:
        return None


class EventBridgeEvent(_Model):
    """The EventBridge envelope CloudTrail events arrive in ("AWS API Call via CloudTrail")."""

    version: OptStr = None
    id: OptStr = None
    detail_type: OptStr = Field(default=None, alias="detail-type")
    source: OptStr = None
    account: OptStr = None
    time: OptTimestamp = None
    region: OptStr = None
    resources: tuple[str, ...] = ()
    detail: CloudTrailRecord


def is_eventbridge_envelope(data: dict[str, Any]) -> bool:
    return "detail" in data and "detail-type" in data
