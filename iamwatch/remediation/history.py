"""Was the grant a step removes already in place before the event? CloudTrail's event history.

A plan removes what the finding's event granted. But IAM accepts re-attaching an attached
policy, re-adding a member, or putting an inline policy again, and records each as a fresh
event: removing the grant then takes away access that was there all along (the break-glass
admin's policy, re-attached by a routine script). IAM keeps no dates for attachments, so the
answer comes from CloudTrail's event history (``LookupEvents``, the last 90 days of management
events): the latest successful grant or revoke of the same thing to the same principal before
the event decides. A grant older than 90 days with no event since cannot be seen; protect such
principals with IAMWATCH_PROTECTED_PRINCIPALS or the ``iamwatch:break-glass`` tag.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from iamwatch.finding import Finding
from iamwatch.remediation.plan import ActionName, RemediationStep

if TYPE_CHECKING:
    from mypy_boto3_cloudtrail import CloudTrailClient

LOOKBACK = timedelta(days=90)  # all that CloudTrail's event history keeps
# LookupEvents serves 50 events a page at 2 calls a second: bounded work per step.
MAX_PAGES = 10


class GrantHistory(Protocol):
    def standing_grant(self, step: RemediationStep, finding: Finding) -> str | None:
        """Why the grant ``step`` removes was in place before the finding's event (which
        event granted it), or None when the event made it."""
        ...


def _events(step: RemediationStep) -> tuple[str, str, dict[str, str]] | None:
    """(grant event name, revoke event name, request parameters naming this grant)."""
    kind = step.principal_type.value
    owner = {f"{kind}Name": step.principal_name}
    title = kind.capitalize()
    if step.action is ActionName.DETACH_POLICY and step.policy_arn:
        return (
            f"Attach{title}Policy",
            f"Detach{title}Policy",
            {**owner, "policyArn": step.policy_arn},
        )
    if step.action is ActionName.DETACH_POLICY and step.policy_name:
        return (
            f"Put{title}Policy",
            f"Delete{title}Policy",
            {**owner, "policyName": step.policy_name},
        )
    if step.action is ActionName.REMOVE_FROM_GROUP and step.group_name:
        return (
            "AddUserToGroup",
            "RemoveUserFromGroup",
            {"userName": step.principal_name, "groupName": step.group_name},
        )
    return None


class HistoryUnavailable(Exception):
    """The event history could not be read, or not far enough back to decide."""


class CloudTrailGrantHistory:
    def __init__(self, client: CloudTrailClient, max_pages: int = MAX_PAGES) -> None:
        self._client = client
        self._max_pages = max_pages

    def standing_grant(self, step: RemediationStep, finding: Finding) -> str | None:
        wanted = _events(step)
        if wanted is None:
            return None  # not a grant the step removes
        grant, revoke, request = wanted
        latest: tuple[str, str, str, str] | None = None  # (time, name, event id, who)
        for name in (grant, revoke):
            found = self._latest(name, request, finding)
            if found is not None and (latest is None or found[0] > latest[0]):
                latest = found
        if latest is None or latest[1] == revoke:
            return None
        at, name, event_id, who = latest
        return f"{name} by {who} at {at} (event {event_id}) already granted it before this event"

    def _latest(
        self, name: str, request: dict[str, str], finding: Finding
    ) -> tuple[str, str, str, str] | None:
        """The newest successful ``name`` event for this grant before the finding's event."""
        arguments: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": name}],
            "StartTime": finding.event_time - LOOKBACK,
            "EndTime": finding.event_time,
        }
        for _ in range(self._max_pages):
            page = self._client.lookup_events(**arguments)
            # Newest first: the first match is the latest.
            for event in page.get("Events", []):
                found = _matching(event.get("CloudTrailEvent"), name, request, finding)
                if found is not None:
                    return found
            token = page.get("NextToken")
            if not token:
                return None
            arguments["NextToken"] = token
        raise HistoryUnavailable(
            f"more than {self._max_pages * 50} {name} events in CloudTrail's history; cannot "
            "tell whether the grant was already in place"
        )


def _matching(
    text: str | None, name: str, request: dict[str, str], finding: Finding
) -> tuple[str, str, str, str] | None:
    if not text:
        return None
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("errorCode"):
        return None
    if record.get("eventID") == finding.event_id:
        return None  # the event that raised the finding
    parameters = record.get("requestParameters")
    if not isinstance(parameters, dict):
        return None
    if any(parameters.get(key) != value for key, value in request.items()):
        return None
    at = str(record.get("eventTime") or "")
    if not at or at >= finding.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"):
        return None
    identity = record.get("userIdentity")
    who = identity.get("arn") if isinstance(identity, dict) else None
    return at, name, str(record.get("eventID") or "?"), str(who or "an unknown caller")
