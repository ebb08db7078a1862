"""Sample findings for previews and test alerts: real detectors run on realistic records."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from iamwatch.finding import DEFAULT_RUNBOOK_BASE_URL, Finding

ACCOUNT = "123456789012"
REGION = "us-east-1"
SOURCE_IP = "203.0.113.24"
WHEN = datetime(2024, 5, 14, 9, 30, 12, tzinfo=UTC)
CLI_AGENT = (
    "aws-cli/2.15.40 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8"
)
BROWSER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
SSO_ROLE = "AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6789"

Record = dict[str, Any]


def _event_id(detector_id: str, index: int) -> str:
    # Stable per sample, so previews and test alerts keep the same finding ids.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"iamwatch-sample:{detector_id}:{index}"))


def _iam_user(name: str = "ci-deployer") -> Record:
    return {
        "type": "IAMUser",
        "principalId": "AIDAJQABLZS4A3QDU576Q",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "userName": name,
    }


def _sso_admin() -> Record:
    session = "maria.garcia@example.com"
    return {
        "type": "AssumedRole",
        "principalId": f"AROA3XFRBF535PLBIFPI4:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAQNZGKIQY56JQ7WML",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROA3XFRBF535PLBIFPI4",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{SSO_ROLE}",
                "accountId": ACCOUNT,
                "userName": SSO_ROLE,
            },
            "attributes": {"creationDate": "2024-05-14T08:55:01Z", "mfaAuthenticated": "false"},
        },
    }


def _root() -> Record:
    return {
        "type": "Root",
        "principalId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:root",
        "accountId": ACCOUNT,
        "accessKeyId": "",
    }


def _call(
    detector_id: str,
    source: str,
    name: str,
    identity: Record,
    request: Record | None = None,
    response: Record | None = None,
    *,
    index: int = 0,
    agent: str = CLI_AGENT,
    extra: Record | None = None,
    ip: str = SOURCE_IP,
) -> Record:
    signin = source == "signin.amazonaws.com"
    return {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": (WHEN + timedelta(seconds=30 * index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "additionalEventData": extra,
        "requestID": _event_id(detector_id, 1000 + index),
        "eventID": _event_id(detector_id, index),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn" if signin else "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


IAM = "iam.amazonaws.com"


def _iam_user_created(d: str) -> list[Record]:
    user = {"userName": "legacy-backup", "arn": f"arn:aws:iam::{ACCOUNT}:user/legacy-backup"}
    return [
        _call(d, IAM, "CreateUser", _sso_admin(), {"userName": "legacy-backup"}, {"user": user})
    ]


def _access_key_created(d: str) -> list[Record]:
    key = {"userName": "legacy-backup", "accessKeyId": "AKIAI44QH8DHBEXAMPLE", "status": "Active"}
    return [
        _call(
            d,
            IAM,
            "CreateAccessKey",
            _iam_user(),
            {"userName": "legacy-backup"},
            {"accessKey": key},
        )
    ]


def _login(d: str, identity: Record, mfa: str, result: str, index: int = 0) -> Record:
    return _call(
        d,
        "signin.amazonaws.com",
        "ConsoleLogin",
        identity,
        None,
        {"ConsoleLogin": result},
        index=index,
        agent=BROWSER_AGENT,
        extra={"MFAUsed": mfa, "MobileVersion": "No", "LoginTo": "https://console.aws.amazon.com/"},
    )


def _console_login_without_mfa(d: str) -> list[Record]:
    return [_login(d, _iam_user("jdoe"), "No", "Success")]


def _root_account_used(d: str) -> list[Record]:
    return [_call(d, IAM, "GetAccountSummary", _root(), agent=BROWSER_AGENT)]


def _console_password_created(d: str) -> list[Record]:
    request = {"userName": "jdoe", "passwordResetRequired": True}
    return [_call(d, IAM, "CreateLoginProfile", _sso_admin(), request)]


def _mfa_device_removed(d: str) -> list[Record]:
    request = {"userName": "jdoe", "serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/jdoe"}
    return [_call(d, IAM, "DeactivateMFADevice", _iam_user("jdoe"), request)]


def _admin_policy_attached(d: str) -> list[Record]:
    request = {"userName": "jdoe", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    return [_call(d, IAM, "AttachUserPolicy", _iam_user(), request)]


def _inline_user_policy(d: str) -> list[Record]:
    document = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],'
        '"Resource":"arn:aws:s3:::backup-bucket/*"}]}'
    )
    request = {
        "userName": "legacy-backup",
        "policyName": "read-backups",
        "policyDocument": document,
    }
    return [_call(d, IAM, "PutUserPolicy", _iam_user(), request)]


def _permissions_boundary_removed(d: str) -> list[Record]:
    return [_call(d, IAM, "DeleteRolePermissionsBoundary", _iam_user(), {"roleName": "app-deploy"})]


def _access_key_reactivated(d: str) -> list[Record]:
    request = {
        "userName": "legacy-backup",
        "accessKeyId": "AKIAI44QH8DHBEXAMPLE",
        "status": "Active",
    }
    return [_call(d, IAM, "UpdateAccessKey", _iam_user(), request)]


def _user_added_to_group(d: str) -> list[Record]:
    request = {"userName": "jdoe", "groupName": "Admins"}
    return [_call(d, IAM, "AddUserToGroup", _sso_admin(), request)]


def _console_login_failures(d: str) -> list[Record]:
    # Five failures (the default threshold) from one address within the default window.
    return [_login(d, _iam_user("jdoe"), "No", "Failure", index=i) for i in range(5)]


def _password_policy_weakened(d: str) -> list[Record]:
    request = {"minimumPasswordLength": 8, "passwordReusePrevention": 0, "requireSymbols": False}
    return [_call(d, IAM, "UpdateAccountPasswordPolicy", _iam_user(), request)]


def _cloudtrail_tampering(d: str) -> list[Record]:
    request = {"name": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/org-trail"}
    return [_call(d, "cloudtrail.amazonaws.com", "StopLogging", _iam_user(), request)]


def _identity_center_admin_assignment(d: str) -> list[Record]:
    instance = "ssoins-7223b1c2d3e4f5a6"
    request = {
        "instanceArn": f"arn:aws:sso:::instance/{instance}",
        "permissionSetArn": f"arn:aws:sso:::permissionSet/{instance}/ps-5b6c7d8e9f0a1b2c",
        "managedPolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
    }
    return [
        _call(d, "sso.amazonaws.com", "AttachManagedPolicyToPermissionSet", _sso_admin(), request)
    ]


def _iamwatch_tampering(d: str) -> list[Record]:
    request = {"functionName": "iamwatch-prod-detect", "reservedConcurrentExecutions": 0}
    response = {"reservedConcurrentExecutions": 0}
    return [
        _call(
            d,
            "lambda.amazonaws.com",
            "PutFunctionConcurrency20171031",
            _sso_admin(),
            request,
            response,
        )
    ]


SAMPLE_RECORDS: dict[str, Callable[[str], list[Record]]] = {
    "iam-user-created": _iam_user_created,
    "access-key-created": _access_key_created,
    "console-login-without-mfa": _console_login_without_mfa,
    "root-account-used": _root_account_used,
    "console-password-created": _console_password_created,
    "mfa-device-removed": _mfa_device_removed,
    "admin-policy-attached": _admin_policy_attached,
    "inline-user-policy": _inline_user_policy,
    "permissions-boundary-removed": _permissions_boundary_removed,
    "access-key-reactivated": _access_key_reactivated,
    "user-added-to-group": _user_added_to_group,
    "console-login-failures": _console_login_failures,
    "password-policy-weakened": _password_policy_weakened,
    "cloudtrail-tampering": _cloudtrail_tampering,
    "identity-center-admin-assignment": _identity_center_admin_assignment,
    "iamwatch-tampering": _iamwatch_tampering,
}


class UnknownDetectorError(KeyError):
    """No sample exists for this id (it is not a detector)."""


def sample_records(detector_id: str) -> list[Record]:
    try:
        build = SAMPLE_RECORDS[detector_id]
    except KeyError:
        raise UnknownDetectorError(detector_id) from None
    return build(detector_id)


def sample_finding(detector_id: str, runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> Finding:
    """The finding the real detector raises on the sample records, with a fresh state store."""
    from detectors import REGISTRY
    from iamwatch.engine import Engine
    from iamwatch.registry import DetectionContext
    from iamwatch.state import SQLiteStateStore

    records = sample_records(detector_id)
    state = SQLiteStateStore()
    try:
        engine = Engine(REGISTRY, DetectionContext(state=state), runbook_base_url=runbook_base_url)
        raised: list[Finding] = []
        for record in records:
            evaluation = engine.evaluate_raw(record)
            if evaluation is None:
                continue
            if evaluation.failures:
                failure = evaluation.failures[0]
                raise RuntimeError(
                    f"detector {failure.detector} failed on its sample: {failure.error}"
                )
            raised.extend(f for f in evaluation.findings if f.detector == detector_id)
    finally:
        state.close()
    if not raised:
        raise RuntimeError(f"the sample records for {detector_id} raise no finding")
    return raised[-1]
