"""One builder for synthetic CloudTrail records, shared by everything that makes them up
(tools/build_examples.py for examples/, bench/corpus.py for the benchmark corpus): the fields a
real record has, in the order CloudTrail writes them, so invented records stay real-shaped."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]

TLS_VERSION = "TLSv1.3"
TLS_CIPHER = "TLS_AES_128_GCM_SHA256"


def cloudtrail_record(
    identity: Record,
    source: str,
    name: str,
    *,
    time: str,
    region: str,
    ip: str,
    agent: str,
    event_id: str,
    recipient: str,
    request: Any = None,
    response: Any = None,
    error: tuple[str, str] | None = None,
    extra: Record | None = None,
    request_id: str | None = None,
    read_only: bool = True,
    resources: list[Record] | None = None,
    event_type: str = "AwsApiCall",
    category: str = "Management",
    shared_event_id: str | None = None,
    tls_host: str | None = None,
    console: bool = False,
    version: str = "1.09",
) -> Record:
    """A CloudTrail record. Optional parts are left out when not given, as CloudTrail does:
    ``error`` (errorCode, errorMessage), ``extra`` (additionalEventData), ``request_id``
    (console sign-ins have none), ``resources``, ``shared_event_id``, ``tls_host`` (tlsDetails)
    and ``console`` (sessionCredentialFromConsole)."""
    record: Record = {
        "eventVersion": version,
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
    }
    if error is not None:
        record["errorCode"], record["errorMessage"] = error
    record["requestParameters"] = request
    record["responseElements"] = response
    if extra is not None:
        record["additionalEventData"] = extra
    if request_id is not None:
        record["requestID"] = request_id
    record["eventID"] = event_id
    record["readOnly"] = read_only
    if resources is not None:
        record["resources"] = resources
    record["eventType"] = event_type
    record["managementEvent"] = category == "Management"
    record["recipientAccountId"] = recipient
    if shared_event_id is not None:
        record["sharedEventID"] = shared_event_id
    record["eventCategory"] = category
    if tls_host is not None:
        record["tlsDetails"] = {
            "tlsVersion": TLS_VERSION,
            "cipherSuite": TLS_CIPHER,
            "clientProvidedHostHeader": tls_host,
        }
    if console:
        record["sessionCredentialFromConsole"] = "true"
    return record
