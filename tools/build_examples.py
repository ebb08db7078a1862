"""Build the example CloudTrail archive under ``examples/AWSLogs/``.

The archive holds every record of every positive and negative case in ``tests/events/<detector>/``
(not ``tests/events/messy/``) plus a few hundred benign "noise" records: workloads reading S3,
services assuming roles, people browsing the console with MFA, Identity Center sessions,
read-only IAM and CloudTrail calls, and a pipeline that creates roles with non-admin policies.
The noise must raise no findings, so ``iamwatch scan examples/`` reports exactly the findings
the test cases expect.

Everything is invented and redacted (documentation accounts, 192.0.2.0/24 and 2001:db8::/32
addresses, example.com mail). The output is byte-stable: fixed seed, fixed times, no wall
clock, gzip with mtime 0. Records are made by the shared builder (tools/records.py). Run from
the repository root::

    python -m tools.build_examples
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import shutil
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tools.records import Record, cloudtrail_record

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "tests" / "events"
OUTPUT = REPO / "examples" / "AWSLogs"

SEED = 20261102
FIRST_DAY = datetime(2026, 11, 2, tzinfo=UTC)
DAYS = 5
SLICE = timedelta(minutes=5)

MAIN = "123456789012"
DEV = "111122223333"
SEC = "444455556666"
ACCOUNTS = (MAIN, DEV, SEC)
REGIONS = ("us-east-1", "us-east-2", "eu-west-1", "eu-north-1", "ap-southeast-2")
SIGNIN_REGIONS = ("us-east-1", "us-east-2", "eu-north-1", "ap-southeast-2")
SSO_REGION = "eu-west-1"
SSO_INSTANCE = "arn:aws:sso:::instance/ssoins-1234567890abcdef"

# Noise addresses stay out of the range the test cases use (192.0.2.10-192.0.2.199).
NOISE_IPV4 = tuple(f"192.0.2.{n}" for n in range(200, 251))
NOISE_IPV6 = ("2001:db8:1c0::24", "2001:db8:77::1:9", "2001:db8:a10::3e")

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

CLI = (
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.79-99.167.amzn2023.x86_64 "
    "md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard "
    "md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#{command}"
)
BOTO3 = (
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219-208.866.amzn2.x86_64 "
    "md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
    "cfg/retry-mode#legacy Botocore/1.34.144"
)
TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.66.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.30.5 ua/2.1 os/linux lang/go#1.22.6 md/GOOS#linux md/GOARCH#amd64 "
    "api/{api}"
)
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)

SSO_ROLES = {
    (MAIN, "AdministratorAccess"): "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
    (MAIN, "ReadOnlyAccess"): "AWSReservedSSO_ReadOnlyAccess_5e8a1c3f7b2d9046",
    (DEV, "DeveloperAccess"): "AWSReservedSSO_DeveloperAccess_27b9d4e1f0a6c385",
    (DEV, "ReadOnlyAccess"): "AWSReservedSSO_ReadOnlyAccess_91d3f5a7c2e4b608",
    (SEC, "SecurityAudit"): "AWSReservedSSO_SecurityAudit_3d0b8e2c6a9f1774",
}
SSO_PEOPLE = (
    "beatrix.lowe@example.com",
    "cyrus.adler@example.com",
    "dalia.fontaine@example.com",
    "emil.strand@example.com",
    "fatou.diallo@example.com",
    "gideon.marsh@example.com",
)
CONSOLE_USERS = {
    MAIN: ("readonly-oncall-ilse", "finops-viewer-joao"),
    DEV: ("dev-lead-kaveh",),
    SEC: ("soc-analyst-rosa",),
}
WORKLOADS = (
    # account, region, function, bucket, KMS key id
    (MAIN, "us-east-1", "orders-api", "example-orders-123456789012", "1f2e3d4c"),
    (MAIN, "eu-west-1", "invoice-renderer", "example-invoices-eu-123456789012", "5a6b7c8d"),
    (DEV, "us-east-2", "image-thumbnailer", "example-media-dev-111122223333", "9e8f7a6b"),
    (DEV, "eu-north-1", "telemetry-ingest", "example-telemetry-111122223333", "c3d2e1f0"),
    (SEC, "ap-southeast-2", "findings-archiver", "example-findings-444455556666", "7d6c5b4a"),
    (SEC, "us-east-1", "log-indexer", "example-log-archive-444455556666", "2b3c4d5e"),
)


def digest_text(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def example_id(prefix: str, *parts: object) -> str:
    raw = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return prefix + "".join(B32[b % 32] for b in raw[:9]) + "EXAMPLE"


def principal_id(prefix: str, *parts: object) -> str:
    raw = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return prefix + "".join(B32[b % 32] for b in raw[:17])


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_date(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S} {half}"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class Noise:
    """Generates benign records; all randomness comes from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.records: list[Record] = []
        self.roles_created = 0

    # ------------------------------------------------------------------ helpers
    def uuid(self) -> str:
        value = self.rng.getrandbits(128)
        text = f"{value:032x}"
        variant = "89ab"[value % 4]
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:32]}"

    def s3_request_id(self) -> str:
        return f"{self.rng.getrandbits(64):016X}"

    def ip(self) -> str:
        if self.rng.random() < 0.08:
            return self.rng.choice(NOISE_IPV6)
        return self.rng.choice(NOISE_IPV4)

    def role_session(
        self,
        moment: datetime,
        account: str,
        role: str,
        session: str,
        path: str = "/",
    ) -> Record:
        role_id = principal_id("AROA", account, role)
        started = moment - timedelta(minutes=self.rng.randint(2, 55))
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account,
            "accessKeyId": example_id("ASIA", account, role, session, moment.date()),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{account}:role{path}{role}",
                    "accountId": account,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": iso(started), "mfaAuthenticated": "false"},
            },
        }

    def sso_session(self, moment: datetime, account: str, permission_set: str, who: str) -> Record:
        return self.role_session(
            moment,
            account,
            SSO_ROLES[(account, permission_set)],
            who,
            "/aws-reserved/sso.amazonaws.com/",
        )

    def console_user(self, moment: datetime, account: str, name: str) -> Record:
        return {
            "type": "IAMUser",
            "principalId": principal_id("AIDA", account, name),
            "arn": f"arn:aws:iam::{account}:user/{name}",
            "accountId": account,
            "accessKeyId": example_id("ASIA", account, name, moment.date()),
            "userName": name,
            "sessionContext": {
                "sessionIssuer": {},
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": iso(moment - timedelta(minutes=self.rng.randint(1, 4))),
                    "mfaAuthenticated": "true",
                },
            },
        }

    def emit(
        self,
        moment: datetime,
        identity: Record,
        source: str,
        name: str,
        *,
        region: str,
        ip: str,
        agent: str,
        request: Any = None,
        response: Any = None,
        error: tuple[str, str] | None = None,
        read_only: bool = True,
        extra: Record | None = None,
        resources: list[Record] | None = None,
        data_event: bool = False,
        recipient: str | None = None,
        host: str | None = None,
        console: bool = False,
        request_id: str | None = None,
    ) -> Record:
        version = "1.09" if self.rng.random() < 0.7 else "1.08"
        request_id = request_id or self.uuid()
        event_id = self.uuid()
        by_service = identity.get("type") in ("AWSService", "AWSAccount")
        record = cloudtrail_record(
            identity,
            source,
            name,
            version=version,
            time=iso(moment),
            region=region,
            ip=ip,
            agent=agent,
            error=error,
            request=request,
            response=response,
            extra=extra,
            request_id=request_id,
            event_id=event_id,
            read_only=read_only,
            resources=resources,
            category="Data" if data_event else "Management",
            recipient=recipient or identity.get("accountId", MAIN),
            shared_event_id=self.uuid() if source == "sts.amazonaws.com" and by_service else None,
            tls_host=host,
            console=console,
        )
        self.records.append(record)
        return record

    def console_login(
        self, moment: datetime, identity: Record, region: str, ip: str, mfa: str | None
    ) -> None:
        state = digest_text("login", identity.get("arn"), iso(moment))[:16]
        extra: Record = {
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true"
            f"&state=hashArgsFromTB_{region}_{state}",
            "MobileVersion": "No",
        }
        if mfa is not None:
            extra["MFAIdentifier"] = mfa
            extra["MFAUsed"] = "Yes"
        else:
            extra["MFAUsed"] = "No"
        agent = self.rng.choice(BROWSERS)
        self.records.append(
            cloudtrail_record(
                identity,
                "signin.amazonaws.com",
                "ConsoleLogin",
                version="1.08",
                time=iso(moment),
                region=region,
                ip=ip,
                agent=agent,
                response={"ConsoleLogin": "Success"},
                extra=extra,
                event_id=self.uuid(),
                read_only=False,
                event_type="AwsConsoleSignIn",
                recipient=identity["accountId"],
                tls_host=f"{region}.signin.aws.amazon.com",
            )
        )

    @staticmethod
    def ticks(start: datetime, count: int, rng: random.Random) -> Iterator[datetime]:
        """``count`` increasing moments inside the 5-minute slice that starts at ``start``."""
        offsets = sorted(rng.sample(range(5, 290), count))
        for offset in offsets:
            yield start + timedelta(seconds=offset)

    # ------------------------------------------------------------------ bursts
    def service_assume_role(
        self, moment: datetime, account: str, region: str, service: str, role: str, session: str
    ) -> None:
        role_arn = f"arn:aws:iam::{account}:role/{role}"
        self.emit(
            moment,
            {"type": "AWSService", "invokedBy": service},
            "sts.amazonaws.com",
            "AssumeRole",
            region=region,
            ip=service,
            agent=service,
            request={"roleArn": role_arn, "roleSessionName": session},
            response={
                "credentials": {
                    "accessKeyId": example_id("ASIA", account, role, session, moment),
                    "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE/redacted",
                    "expiration": iam_date(moment + timedelta(hours=12)),
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"{principal_id('AROA', account, role)}:{session}",
                    "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
                },
            },
            resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}],
            recipient=account,
        )

    def workload(self, start: datetime) -> None:
        account, region, function, bucket, key = self.rng.choice(WORKLOADS)
        role = f"{function}-execution"
        function_arn = f"arn:aws:lambda:{region}:{account}:function:{function}"
        key_id = f"{key}-{key[:4]}-4{key[1:4]}-8{key[4:7]}-{key}{key[:4]}"
        key_arn = f"arn:aws:kms:{region}:{account}:key/{key_id}"
        caller = self.role_session(start, account, "api-frontend", "frontend-" + function)
        moments = list(self.ticks(start, self.rng.randint(10, 18), self.rng))
        self.service_assume_role(
            moments[0], account, region, "lambda.amazonaws.com", role, function
        )
        session = self.role_session(start, account, role, function)
        for moment in moments[1:]:
            kind = self.rng.choice(("invoke", "invoke", "get", "get", "put", "decrypt"))
            if kind == "invoke":
                self.emit(
                    moment,
                    caller,
                    "lambda.amazonaws.com",
                    "Invoke",
                    region=region,
                    ip=self.ip(),
                    agent=BOTO3,
                    request={"functionName": function_arn},
                    extra={"functionVersion": f"{function_arn}:$LATEST"},
                    read_only=False,
                    resources=[
                        {"accountId": account, "type": "AWS::Lambda::Function", "ARN": function_arn}
                    ],
                    data_event=True,
                    host=f"lambda.{region}.amazonaws.com",
                )
            elif kind == "decrypt":
                self.emit(
                    moment,
                    session,
                    "kms.amazonaws.com",
                    "Decrypt",
                    region=region,
                    ip=self.ip(),
                    agent=BOTO3,
                    request={
                        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                        "encryptionContext": {"aws:lambda:FunctionArn": function_arn},
                    },
                    resources=[{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}],
                    host=f"kms.{region}.amazonaws.com",
                )
            else:
                self.s3_object(moment, session, account, region, bucket, put=kind == "put")

    def s3_object(
        self,
        moment: datetime,
        identity: Record,
        account: str,
        region: str,
        bucket: str,
        *,
        put: bool,
    ) -> None:
        day = moment.strftime("%Y/%m/%d")
        key = f"{day}/{self.rng.choice(('batch', 'export', 'render', 'chunk'))}-"
        key += f"{self.rng.randint(1000, 9999)}.{self.rng.choice(('json', 'parquet', 'pdf'))}"
        object_arn = f"arn:aws:s3:::{bucket}/{key}"
        host = f"{bucket}.s3.{region}.amazonaws.com"
        size = self.rng.randint(600, 250_000)
        self.emit(
            moment,
            identity,
            "s3.amazonaws.com",
            "PutObject" if put else "GetObject",
            region=region,
            ip=self.ip(),
            agent=BOTO3,
            request={"bucketName": bucket, "Host": host, "key": key},
            response={"x-amz-server-side-encryption": "aws:kms"} if put else None,
            extra={
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": size if put else 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": digest_text("id2", moment, key)[:56] + "=",
                "bytesTransferredOut": 0 if put else size,
            },
            read_only=not put,
            resources=[
                {"type": "AWS::S3::Object", "ARN": object_arn},
                {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
            ],
            data_event=True,
            host=host,
            request_id=self.s3_request_id(),
        )

    def inventory(self, start: datetime) -> None:
        account = self.rng.choice(ACCOUNTS)
        region = self.rng.choice(REGIONS)
        moments = list(self.ticks(start, self.rng.randint(6, 10), self.rng))
        self.service_assume_role(
            moments[0], account, region, "ec2.amazonaws.com", "inventory-collector", "i-inventory"
        )
        session = self.role_session(start, account, "inventory-collector", "i-0f1e2d3c4b5a69788")
        for moment in moments[1:]:
            self.emit(
                moment,
                session,
                "ec2.amazonaws.com",
                "DescribeInstances",
                region=region,
                ip=self.ip(),
                agent=BOTO3,
                request={"instancesSet": {}, "filterSet": {}, "maxResults": 1000},
                host=f"ec2.{region}.amazonaws.com",
            )

    def person(self, start: datetime) -> None:
        """An IAM user signs in with MFA and looks around (read-only)."""
        account = self.rng.choice(ACCOUNTS)
        name = self.rng.choice(CONSOLE_USERS[account])
        ip = self.ip()
        region = self.rng.choice(SIGNIN_REGIONS)
        moments = list(self.ticks(start, self.rng.randint(7, 12), self.rng))
        login_identity = {
            "type": "IAMUser",
            "principalId": principal_id("AIDA", account, name),
            "arn": f"arn:aws:iam::{account}:user/{name}",
            "accountId": account,
            "accessKeyId": "",
            "userName": name,
        }
        self.console_login(
            moments[0], login_identity, region, ip, f"arn:aws:iam::{account}:mfa/{name}"
        )
        identity = self.console_user(moments[0], account, name)
        for moment in moments[1:]:
            self.read_around(moment, identity, account, region, ip)

    def read_around(
        self, moment: datetime, identity: Record, account: str, region: str, ip: str
    ) -> None:
        choice = self.rng.choice(("ListUsers", "GetUser", "ListRoles", "ec2", "trail"))
        if choice in ("ListUsers", "GetUser", "ListRoles"):
            request: Record | None = {"maxItems": 100}
            if choice == "GetUser":
                users = [u for names in CONSOLE_USERS.values() for u in names]
                request = {"userName": self.rng.choice(users)}
            self.emit(
                moment,
                identity,
                "iam.amazonaws.com",
                choice,
                region="us-east-1",
                ip=ip,
                agent="AWS Internal",
                request=request,
                console=True,
            )
        elif choice == "ec2":
            self.emit(
                moment,
                identity,
                "ec2.amazonaws.com",
                "DescribeInstances",
                region=region,
                ip=ip,
                agent="console.ec2.amazonaws.com",
                request={"instancesSet": {}, "filterSet": {}, "includeAllInstances": False},
                host=f"ec2.{region}.amazonaws.com",
                console=True,
            )
        else:
            self.emit(
                moment,
                identity,
                "cloudtrail.amazonaws.com",
                "LookupEvents",
                region=region,
                ip=ip,
                agent=self.rng.choice(BROWSERS),
                request={
                    "lookupAttributes": [
                        {"attributeKey": "ReadOnly", "attributeValue": "false"},
                    ],
                    "maxResults": 50,
                },
                host=f"cloudtrail.{region}.amazonaws.com",
                console=True,
            )

    def sso_person(self, start: datetime) -> None:
        """An Identity Center session signs in (MFA is Identity Center's job) and reads."""
        account, permission_set = self.rng.choice(list(SSO_ROLES))
        who = self.rng.choice(SSO_PEOPLE)
        ip = self.ip()
        region = self.rng.choice(SIGNIN_REGIONS)
        moments = list(self.ticks(start, self.rng.randint(6, 11), self.rng))
        identity = self.sso_session(moments[0], account, permission_set, who)
        login_identity = json.loads(json.dumps(identity))
        login_identity["accessKeyId"] = ""
        login_identity["sessionContext"]["attributes"]["creationDate"] = iso(moments[0])
        self.console_login(moments[0], login_identity, region, ip, None)
        for moment in moments[1:]:
            if account == MAIN and self.rng.random() < 0.3:
                self.emit(
                    moment,
                    identity,
                    "sso.amazonaws.com",
                    "ListAccountAssignments",
                    region=SSO_REGION,
                    ip=ip,
                    agent=self.rng.choice(BROWSERS),
                    request={
                        "instanceArn": SSO_INSTANCE,
                        "accountId": self.rng.choice(ACCOUNTS),
                        "permissionSetArn": "arn:aws:sso:::permissionSet/"
                        "ssoins-1234567890abcdef/ps-5e8a1c3f7b2d9046",
                        "maxResults": 100,
                    },
                    host=f"sso.{SSO_REGION}.amazonaws.com",
                    console=True,
                )
            else:
                self.read_around(moment, identity, account, region, ip)

    def pipeline(self, start: datetime) -> None:
        """A deployment pipeline creates a role and gives it a non-admin AWS managed policy."""
        account = self.rng.choice((MAIN, DEV))
        moments = list(self.ticks(start, 6, self.rng))
        ip = self.ip()
        runner = self.role_session(moments[0], account, "ci-runner", "gha-runner")
        deploy_arn = f"arn:aws:iam::{account}:role/terraform-deployer"
        run = f"github-actions-run-{7000 + self.roles_created}"
        self.emit(
            moments[0],
            runner,
            "sts.amazonaws.com",
            "AssumeRole",
            region="us-east-1",
            ip=ip,
            agent=TERRAFORM.format(api="sts#1.30.6"),
            request={"roleArn": deploy_arn, "roleSessionName": run, "durationSeconds": 3600},
            response={
                "credentials": {
                    "accessKeyId": example_id("ASIA", account, run),
                    "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE/redacted",
                    "expiration": iam_date(moments[0] + timedelta(hours=1)),
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"{principal_id('AROA', account, 'terraform-deployer')}:{run}",
                    "arn": f"arn:aws:sts::{account}:assumed-role/terraform-deployer/{run}",
                },
            },
            resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": deploy_arn}],
            host="sts.us-east-1.amazonaws.com",
        )
        deployer = self.role_session(moments[1], account, "terraform-deployer", run)
        self.roles_created += 1
        role = f"reporting-task-{self.roles_created:03d}"
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            separators=(",", ":"),
        )
        agent = TERRAFORM.format(api="iam#1.35.0")
        host = "iam.amazonaws.com"
        self.emit(
            moments[1],
            deployer,
            "iam.amazonaws.com",
            "CreateRole",
            region="us-east-1",
            ip=ip,
            agent=agent,
            request={"roleName": role, "assumeRolePolicyDocument": trust, "path": "/"},
            response={
                "role": {
                    "path": "/",
                    "roleName": role,
                    "roleId": principal_id("AROA", account, role),
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "createDate": iam_date(moments[1]),
                    "assumeRolePolicyDocument": quote(trust, safe=""),
                }
            },
            read_only=False,
            host=host,
        )
        for moment, policy in zip(
            moments[2:4],
            (
                "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
                "arn:aws:iam::aws:policy/CloudWatchLogsReadOnlyAccess",
            ),
            strict=True,
        ):
            self.emit(
                moment,
                deployer,
                "iam.amazonaws.com",
                "AttachRolePolicy",
                region="us-east-1",
                ip=ip,
                agent=agent,
                request={"roleName": role, "policyArn": policy},
                read_only=False,
                host=host,
            )
        for moment, name in zip(moments[4:], ("GetRole", "ListRoles"), strict=True):
            request = {"roleName": role} if name == "GetRole" else {"maxItems": 1000}
            self.emit(
                moment,
                deployer,
                "iam.amazonaws.com",
                name,
                region="us-east-1",
                ip=ip,
                agent=agent,
                request=request,
                host=host,
            )

    def audit_scan(self, start: datetime) -> None:
        """The security account's scanner assumes an audit role in another account and reads."""
        account = self.rng.choice((MAIN, DEV))
        moments = list(self.ticks(start, self.rng.randint(5, 8), self.rng))
        role_arn = f"arn:aws:iam::{account}:role/security-audit"
        scanner_role = principal_id("AROA", SEC, "posture-scanner")
        self.emit(
            moments[0],
            {
                "type": "AWSAccount",
                "principalId": f"{scanner_role}:posture-scanner",
                "accountId": SEC,
            },
            "sts.amazonaws.com",
            "AssumeRole",
            region="us-east-1",
            ip=self.ip(),
            agent=BOTO3,
            request={"roleArn": role_arn, "roleSessionName": "posture-scan"},
            response={
                "credentials": {
                    "accessKeyId": example_id("ASIA", account, "security-audit", moments[0]),
                    "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE/redacted",
                    "expiration": iam_date(moments[0] + timedelta(hours=1)),
                },
                "assumedRoleUser": {
                    "assumedRoleId": f"{principal_id('AROA', account, 'security-audit')}:"
                    "posture-scan",
                    "arn": f"arn:aws:sts::{account}:assumed-role/security-audit/posture-scan",
                },
            },
            resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}],
            recipient=account,
            host="sts.us-east-1.amazonaws.com",
        )
        session = self.role_session(moments[0], account, "security-audit", "posture-scan")
        ip = self.ip()
        for moment in moments[1:]:
            name = self.rng.choice(("ListUsers", "ListRoles", "GetUser"))
            request: Record = {"maxItems": 1000}
            error = None
            if name == "GetUser":
                # A stale inventory entry: a benign failed read.
                request = {"userName": "decommissioned-etl"}
                error = (
                    "NoSuchEntity",
                    "The user with name decommissioned-etl cannot be found.",
                )
            self.emit(
                moment,
                session,
                "iam.amazonaws.com",
                name,
                region="us-east-1",
                ip=ip,
                agent=BOTO3,
                request=request,
                error=error,
                host="iam.amazonaws.com",
            )

    def generate(self, target: int) -> list[Record]:
        bursts = (
            self.workload,
            self.workload,
            self.inventory,
            self.person,
            self.sso_person,
            self.sso_person,
            self.pipeline,
            self.audit_scan,
        )
        slices = int(timedelta(days=DAYS) / SLICE)
        used: set[int] = set()
        while len(self.records) < target:
            index = self.rng.randrange(slices)
            if index in used:
                continue
            used.add(index)
            self.rng.choice(bursts)(FIRST_DAY + index * SLICE)
        return self.records


def load_cases() -> list[Record]:
    records: list[Record] = []
    for detector_dir in sorted(p for p in EVENTS.iterdir() if p.is_dir()):
        if detector_dir.name == "messy":
            continue
        for path in sorted(detector_dir.glob("*.json")):
            if not path.name.startswith(("positive_", "negative_")):
                continue
            records.extend(json.loads(path.read_text(encoding="utf-8"))["records"])
    return records


def slice_start(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def file_path(account: str, region: str, start: datetime) -> Path:
    suffix_bytes = hashlib.sha256(f"{account}|{region}|{start.isoformat()}".encode()).digest()
    suffix = "".join(B62[b % 62] for b in suffix_bytes[:16])
    name = f"{account}_CloudTrail_{region}_{start:%Y%m%dT%H%M}Z_{suffix}.json.gz"
    return OUTPUT / account / "CloudTrail" / region / f"{start:%Y/%m/%d}" / name


def write_archive(records: list[Record]) -> tuple[int, int]:
    files: dict[Path, list[Record]] = defaultdict(list)
    for record in records:
        moment = parse_time(record["eventTime"])
        path = file_path(record["recipientAccountId"], record["awsRegion"], slice_start(moment))
        files[path].append(record)
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    total = 0
    for path in sorted(files):
        batch = sorted(files[path], key=lambda record: parse_time(record["eventTime"]))
        body = json.dumps({"Records": batch}, separators=(",", ":")).encode()
        blob = gzip.compress(body, compresslevel=9, mtime=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
        total += len(blob)
    return len(files), total


def main() -> int:
    cases = load_cases()
    noise = Noise(SEED).generate(target=560)
    seen: set[str] = set()
    for record in cases + noise:
        if record["eventID"] in seen:
            raise SystemExit(f"duplicate eventID {record['eventID']}")
        seen.add(record["eventID"])
    count, size = write_archive(cases + noise)
    print(
        f"wrote {len(cases)} case records and {len(noise)} noise records "
        f"to {count} files ({size} bytes) under {OUTPUT.relative_to(REPO)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
