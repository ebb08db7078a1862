"""Reading an account's identities live, read-only, with the caller's (or the function's)
credentials: the credential report, the authorization details, access key ids, service
last-accessed data and Identity Center users.

The credential report and the authorization details are required: without the permission
for one, the read stops with the missing IAM action named. The rest is evidence: when it is
not allowed or not available, a note says so and the report goes on without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iamwatch.inventory.authorization import AuthorizationDetails, read_authorization_details
from iamwatch.inventory.credential_report import (
    CredentialReport,
    InputFileError,
    parse_credential_report,
)
from iamwatch.inventory.model import ServiceUse

_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# Service last-accessed jobs are asynchronous and one per user: for at most this many users
# with access keys (the ones a role would replace) per run.
MAX_LAST_ACCESSED = 200
Step = Callable[[str], None]


class InventoryReadError(Exception):
    """The account could not be read; the message names the IAM action and AWS's error."""


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(error).__name__))


def _failure(action: str, error: Exception) -> InventoryReadError:
    code = _code(error)
    if code in _DENIED:
        return InventoryReadError(f"missing permission {action} ({code})")
    return InventoryReadError(f"{action} failed: {code}: {error}")


@dataclass
class LiveRead:
    report: CredentialReport
    details: AuthorizationDetails
    key_ids: dict[str, dict[int, str]] = field(default_factory=dict)
    services: dict[str, tuple[ServiceUse, ...]] | None = None
    identity_center: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)


class LiveInventory:
    def __init__(
        self,
        client: Callable[[str], Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        report_timeout: float = 120.0,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._timeout = report_timeout

    def read(self, step: Step = lambda _: None) -> LiveRead:
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        # An endpoint that does not implement a call may answer with an HTML error page.
        errors = (BotoCoreError, ClientError, ResponseParserError)
        step("credential report")
        report = self.credential_report()
        step("authorization details")
        try:
            pages = self._client("iam").get_paginator("get_account_authorization_details")
            details = read_authorization_details(
                pages.paginate(Filter=["User", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]),
                "GetAccountAuthorizationDetails",
            )
        except errors as error:
            raise _failure("iam:GetAccountAuthorizationDetails", error) from None
        read = LiveRead(report=report, details=details)
        with_keys = [row for row in report.rows if row.access_keys and row.user in details.users]
        step("access keys")
        try:
            read.key_ids = self.key_ids(row.user for row in with_keys)
        except errors as error:
            read.notes.append(f"access key ids not read: {_failure('iam:ListAccessKeys', error)}")
        step("service last-accessed data")
        try:
            read.services = self.services_used([row.arn for row in with_keys][:MAX_LAST_ACCESSED])
            if len(with_keys) > MAX_LAST_ACCESSED:
                read.notes.append(
                    f"service last-accessed data for the first {MAX_LAST_ACCESSED} of "
                    f"{len(with_keys)} users with access keys"
                )
        except errors as error:
            action = "iam:GenerateServiceLastAccessedDetails"
            read.notes.append(f"service last-accessed data not read: {_failure(action, error)}")
        step("Identity Center")
        try:
            read.identity_center = self.identity_center_users()
        except errors as error:
            read.notes.append(
                f"Identity Center users not read: {_failure('identitystore:ListUsers', error)}"
            )
        return read

    def credential_report(self) -> CredentialReport:
        """Ask IAM for a fresh report (it reuses one up to 4 hours old) and read it."""
        from botocore.exceptions import BotoCoreError, ClientError

        iam = self._client("iam")
        waited = 0.0
        try:
            while iam.generate_credential_report().get("State") != "COMPLETE":
                if waited >= self._timeout:
                    raise InventoryReadError(
                        f"iam:GenerateCredentialReport: not complete after {self._timeout:.0f} s"
                    )
                self._sleep(2.0)
                waited += 2.0
            response = iam.get_credential_report()
        except (BotoCoreError, ClientError) as error:
            action = (
                "iam:GetCredentialReport"
                if waited or "Get" in str(error)
                else ("iam:GenerateCredentialReport")
            )
            raise _failure(action, error) from None
        try:
            report = parse_credential_report(response["Content"], "GetCredentialReport")
        except InputFileError as error:
            raise InventoryReadError(str(error)) from None
        generated = response.get("GeneratedTime")
        return CredentialReport(
            rows=report.rows, generated=generated if isinstance(generated, datetime) else None
        )

    def key_ids(self, users: Iterable[str]) -> dict[str, dict[int, str]]:
        """Each user's key ids by credential report slot: slot 1 is the older key."""
        iam = self._client("iam")
        found: dict[str, dict[int, str]] = {}
        for user in users:
            keys = iam.list_access_keys(UserName=user).get("AccessKeyMetadata", [])
            keys.sort(key=lambda key: key.get("CreateDate") or datetime.max)
            found[user] = {slot: key["AccessKeyId"] for slot, key in enumerate(keys, start=1)}
        return found

    def services_used(self, arns: list[str]) -> dict[str, tuple[ServiceUse, ...]]:
        iam = self._client("iam")
        jobs = {arn: iam.generate_service_last_accessed_details(Arn=arn)["JobId"] for arn in arns}
        found: dict[str, tuple[ServiceUse, ...]] = {}
        for arn, job in jobs.items():
            waited = 0.0
            while True:
                result = iam.get_service_last_accessed_details(JobId=job)
                if result.get("JobStatus") != "IN_PROGRESS" or waited >= self._timeout:
                    break
                self._sleep(1.0)
                waited += 1.0
            found[arn] = tuple(
                ServiceUse(
                    service=item["ServiceNamespace"], last_accessed=item.get("LastAuthenticated")
                )
                for item in result.get("ServicesLastAccessed", [])
                if item.get("LastAuthenticated")
            )
        return found

    def identity_center_users(self) -> dict[str, str] | None:
        """Identity Center users by lower-case user name and e-mail; None without an instance."""
        instances = self._client("sso-admin").list_instances().get("Instances", [])
        if not instances:
            return None
        store = instances[0]["IdentityStoreId"]
        users: dict[str, str] = {}
        pages = self._client("identitystore").get_paginator("list_users")
        for page in pages.paginate(IdentityStoreId=store):
            for user in page.get("Users", []):
                name = str(user.get("UserName", ""))
                label = f"{name} ({store})"
                users[name.lower()] = label
                for email in user.get("Emails", []) or []:
                    if email.get("Value"):
                        users[str(email["Value"]).lower()] = label
        return users
