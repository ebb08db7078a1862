"""A synthetic CloudTrail corpus, deterministic by seed: gzip log files in the S3 AWSLogs/ layout.

Records are mostly benign noise (S3 data events, AssumeRole, Describe/List/Get calls, KMS,
console sign-ins with MFA) with about 1% of the events iamwatch's detectors listen for, shaped
and sized like real ones (1-3 KB, a few 30-100 KB requestParameters). Speed comes from a pool of
pre-rendered JSON templates per event kind with ``%(name)s`` holes for the fields that vary per
record (time, ids, addresses, keys); files are generated in parallel, each from its own seed.

    python -m bench.corpus --records 1000000 --out bench/.corpus/demo
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import math
import os
import random
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson

import tools.records
from tools.records import cloudtrail_record

DEFAULT_SEED = 20261102
START = datetime(2026, 11, 2, tzinfo=UTC)
FILE_WINDOW = timedelta(minutes=5)
MIN_RECORDS_PER_FILE = 200
MAX_RECORDS_PER_FILE = 3000
MANIFEST = "manifest.json"
ACCOUNTS = ("111122223333", "444455556666", "123456789012")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-north-1")
# A file's name ends with 16 characters AWS draws from this alphabet.
_NAME_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HOLE = re.compile(r'"\{\{#(\w+)\}\}"|\{\{(\w+)\}\}')

NOISE = "noise"
INTERESTING = "interesting"

# Mixes of the corpus. "default": ~1% of records are what detectors look at. "stress": about
# 10% are records the prefilter cannot drop but that rarely make findings (sign-ins with MFA
# or through Identity Center, failed sign-ins, IAM calls the detectors examine and pass, the
# root user's IAM reads), so the full model and detector path runs ten times as often.
MIXES = ("default", "stress")
STRESS_SHARE = 0.10
STRESS_KINDS = frozenset(
    {
        "signin:ConsoleLogin(MFA)",
        "signin:ConsoleLogin(SSO)",
        "signin:ConsoleLogin(failure)",
        "iam:AttachRolePolicy(read-only)",
        "iam:UpdateAccessKey(Inactive)",
        "iam:CreateUser(denied)",
        "root:iam:GetAccountSummary",
    }
)

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Template:
    """One pre-rendered record: ``%``-format text with holes for the per-record fields."""

    kind: str
    group: str  # NOISE or INTERESTING
    text: str


@dataclass(frozen=True, slots=True)
class FilePlan:
    index: int
    account: str
    region: str
    start: datetime
    records: int
    suffix: str

    @property
    def relative_path(self) -> str:
        stamp = self.start.strftime("%Y%m%dT%H%MZ")
        folder = f"AWSLogs/{self.account}/CloudTrail/{self.region}/{self.start:%Y/%m/%d}"
        return f"{folder}/{self.account}_CloudTrail_{self.region}_{stamp}_{self.suffix}.json.gz"


def render(kind: str, group: str, record: Json) -> Template:
    """Turn a record holding ``{{name}}`` (string) and ``"{{#name}}"`` (number) placeholders
    into a template; literal ``%`` is escaped so only the holes are formatted."""
    text = orjson.dumps(record).decode().replace("%", "%%")
    return Template(kind, group, _HOLE.sub(lambda m: f"%({m.group(1) or m.group(2)})s", text))


# --- identities ------------------------------------------------------------------------------


def app_role(role: str, session: str) -> Json:
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{role.upper()[:12]:X<12}EXAMPLE:{session}",
        "arn": f"arn:aws:sts::{{{{acct}}}}:assumed-role/{role}/{session}",
        "accountId": "{{acct}}",
        "accessKeyId": "ASIA{{key}}",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{role.upper()[:12]:X<12}EXAMPLE",
                "arn": f"arn:aws:iam::{{{{acct}}}}:role/{role}",
                "accountId": "{{acct}}",
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "{{time}}", "mfaAuthenticated": "false"},
        },
    }


def sso_role(permission_set: str, email: str) -> Json:
    role = f"AWSReservedSSO_{permission_set}_0f1e2d3c4b5a6978"
    identity = app_role(role, email)
    issuer = identity["sessionContext"]["sessionIssuer"]
    issuer["arn"] = f"arn:aws:iam::{{{{acct}}}}:role/aws-reserved/sso.amazonaws.com/{role}"
    return identity


def service(invoked_by: str) -> Json:
    return {"type": "AWSService", "invokedBy": invoked_by}


def iam_user(name: str, with_key: bool = True) -> Json:
    identity: Json = {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper().replace('.', '').replace('-', '')[:12]:Z<12}EXAMPLE",
        "arn": f"arn:aws:iam::{{{{acct}}}}:user/{name}",
        "accountId": "{{acct}}",
        "accessKeyId": "AKIA{{key}}" if with_key else "",
        "userName": name,
    }
    if with_key:
        identity["sessionContext"] = {
            "attributes": {"creationDate": "{{time}}", "mfaAuthenticated": "false"}
        }
    return identity


def root(mfa: bool = True) -> Json:
    return {
        "type": "Root",
        "principalId": "{{acct}}",
        "arn": "arn:aws:iam::{{acct}}:root",
        "accountId": "{{acct}}",
        "accessKeyId": "ASIA{{key}}",
        "sessionContext": {
            "attributes": {"creationDate": "{{time}}", "mfaAuthenticated": str(mfa).lower()}
        },
    }


APP_ROLES = (
    ("orders-api-task", "ecs-task-7f3a"),
    ("billing-worker", "i-0a1b2c3d4e5f60718"),
    ("etl-glue-job", "GlueJobRunnerSession"),
    ("data-lake-reader", "botocore-session-1730505600"),
    ("payments-lambda", "payments-processor"),
    ("github-actions-deploy", "GitHubActions"),
    ("terraform-apply", "terraform-run-8812"),
    ("datadog-integration", "DatadogAWSIntegration"),
)
SSO_USERS = ("maria.garcia@example.com", "kenji.tanaka@example.com", "ana.silva@example.com")
IAM_USERS = ("ci-deploy", "legacy-backup", "lars.nilsson", "breakglass-ops", "svc-reporting")
USER_AGENTS = (
    "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11",
    "Boto3/1.34.128 md/Botocore#1.34.128 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.9",
    "aws-cli/2.17.4 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off "
    "md/command#s3.cp",
    "aws-sdk-go-v2/1.30.1 os/linux lang/go#1.22.4 md/GOOS#linux md/GOARCH#amd64 api/sts#1.30.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "APN/1.0 HashiCorp/1.0 Terraform/1.8.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.56.1 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.30.1 ua/2.0 os/linux lang/go#1.22.4 md/GOOS#linux md/GOARCH#amd64",
)
CONSOLE_AGENT = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
BUCKETS = ("orders-archive-prod", "data-lake-raw", "app-static-assets", "ml-training-sets")


def envelope(
    identity: Json,
    source: str,
    name: str,
    request: Any,
    response: Any = None,
    *,
    extra: Json | None = None,
    agent: str = "",
    ip: str = "{{ip}}",
    read_only: bool = True,
    resources: list[Json] | None = None,
    category: str = "Management",
    event_type: str = "AwsApiCall",
    error: tuple[str, str] | None = None,
    request_id: str = "{{req}}",
) -> Json:
    """A record template: the shared builder's record, with holes for time, ids, account and
    region."""
    return cloudtrail_record(
        identity,
        source,
        name,
        time="{{time}}",
        region="{{region}}",
        ip=ip,
        agent=agent,
        event_id="{{id}}",
        recipient="{{acct}}",
        request=request,
        response=response,
        error=error,
        extra=extra,
        request_id=request_id,
        read_only=read_only,
        resources=resources,
        event_type=event_type,
        category=category,
        tls_host=f"{source.split('.')[0]}.{{{{region}}}}.amazonaws.com",
    )


# --- noise -----------------------------------------------------------------------------------


def s3_data(rng: random.Random, name: str) -> Json:
    role, session = rng.choice(APP_ROLES)
    bucket = rng.choice(BUCKETS)
    key = rng.choice(
        (
            "orders/2026/11/02/part-{{obj}}.parquet",
            "raw/events/dt=2026-11-02/{{obj}}.json.gz",
            "static/js/main.{{obj}}.chunk.js",
            "datasets/train/shard-{{obj}}.tfrecord",
        )
    )
    request: Json = {"bucketName": bucket, "Host": f"{bucket}.s3.{{{{region}}}}.amazonaws.com"}
    request["key"] = key
    if name == "PutObject":
        request["x-amz-server-side-encryption"] = "aws:kms"
    extra = {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": "{{#n}}" if name == "PutObject" else 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": "{{amzid}}{{amzid}}=",
        "bytesTransferredOut": 0 if name == "PutObject" else "{{#n}}",
    }
    resources = [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": "{{acct}}", "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]
    return envelope(
        app_role(role, session),
        "s3.amazonaws.com",
        name,
        request,
        {"x-amz-server-side-encryption": "aws:kms"} if name == "PutObject" else None,
        extra=extra,
        agent=f"[{rng.choice(USER_AGENTS)}]",
        read_only=name != "PutObject",
        resources=resources,
        category="Data",
        request_id="{{s3req}}",
    )


def assume_role(rng: random.Random, by_service: bool) -> Json:
    role, _ = rng.choice(APP_ROLES)
    invoker = rng.choice(("lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ec2.amazonaws.com"))
    identity = service(invoker) if by_service else app_role(*rng.choice(APP_ROLES))
    return envelope(
        identity,
        "sts.amazonaws.com",
        "AssumeRole",
        {
            "roleArn": f"arn:aws:iam::{{{{acct}}}}:role/{role}",
            "roleSessionName": "{{obj}}",
            "durationSeconds": 3600,
        },
        {
            "credentials": {
                "accessKeyId": "ASIA{{key}}",
                "sessionToken": "IQoJb3JpZ2luX2VjE{{amzid}}{{amzid}}{{amzid}}{{amzid}}",
                "expiration": "Nov 2, 2026, 1:00:00 PM",
            },
            "assumedRoleUser": {
                "assumedRoleId": f"AROA{role.upper()[:12]:X<12}EXAMPLE:{{{{obj}}}}",
                "arn": f"arn:aws:sts::{{{{acct}}}}:assumed-role/{role}/{{{{obj}}}}",
            },
        },
        agent=invoker if by_service else rng.choice(USER_AGENTS),
        ip=invoker if by_service else "{{ip}}",
        resources=[
            {
                "accountId": "{{acct}}",
                "type": "AWS::IAM::Role",
                "ARN": f"arn:aws:iam::{{{{acct}}}}:role/{role}",
            }
        ],
        event_type="AwsServiceEvent" if by_service else "AwsApiCall",
    )


def kms(rng: random.Random, name: str) -> Json:
    invoker = rng.choice(
        ("s3.amazonaws.com", "secretsmanager.amazonaws.com", "dynamodb.amazonaws.com")
    )
    context = {"aws:s3:arn": f"arn:aws:s3:::{rng.choice(BUCKETS)}/{{{{obj}}}}"}
    request: Json = {"encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    if name == "GenerateDataKey":
        request["keySpec"] = "AES_256"
        request["keyId"] = "arn:aws:kms:{{region}}:{{acct}}:alias/aws/s3"
    key_arn = "arn:aws:kms:{{region}}:{{acct}}:key/{{id}}"
    return envelope(
        app_role(*rng.choice(APP_ROLES)) | {"invokedBy": invoker},
        "kms.amazonaws.com",
        name,
        request,
        None,
        agent=invoker,
        ip=invoker,
        resources=[{"accountId": "{{acct}}", "type": "AWS::KMS::Key", "ARN": key_arn}],
    )


_DESCRIBE_CALLS = (
    (
        "ec2.amazonaws.com",
        "DescribeInstances",
        {
            "instancesSet": {},
            "filterSet": {
                "items": [{"name": "tag:Name", "valueSet": {"items": [{"value": "orders-*"}]}}]
            },
        },
    ),
    (
        "ec2.amazonaws.com",
        "DescribeSecurityGroups",
        {
            "securityGroupSet": {},
            "securityGroupIdSet": {"items": [{"groupId": "sg-0{{obj}}"}]},
            "filterSet": {},
        },
    ),
    ("ec2.amazonaws.com", "DescribeVolumes", {"volumeSet": {}, "filterSet": {}, "maxResults": 500}),
    ("iam.amazonaws.com", "ListRoles", {"maxItems": 100}),
    ("iam.amazonaws.com", "GetRole", {"roleName": "orders-api-task"}),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", {"roleName": "etl-glue-job"}),
    (
        "iam.amazonaws.com",
        "GetPolicyVersion",
        {"policyArn": "arn:aws:iam::{{acct}}:policy/data-lake-read", "versionId": "v7"},
    ),
    ("lambda.amazonaws.com", "ListFunctions20150331", {"maxItems": 50}),
    ("lambda.amazonaws.com", "GetFunction20150331v2", {"functionName": "payments-processor"}),
    ("monitoring.amazonaws.com", "DescribeAlarms", {"maxRecords": 100, "stateValue": "ALARM"}),
    ("dynamodb.amazonaws.com", "DescribeTable", {"tableName": "orders"}),
    (
        "ssm.amazonaws.com",
        "GetParameters",
        {"names": ["/orders/db/host", "/orders/db/port"], "withDecryption": True},
    ),
    (
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        {"secretId": "arn:aws:secretsmanager:{{region}}:{{acct}}:secret:orders/db-{{obj}}"},
    ),
    ("ecr.amazonaws.com", "GetAuthorizationToken", {"registryIds": ["{{acct}}"]}),
    (
        "elasticloadbalancing.amazonaws.com",
        "DescribeTargetHealth",
        {
            "targetGroupArn": "arn:aws:elasticloadbalancing:{{region}}:{{acct}}:"
            "targetgroup/orders/{{obj}}"
        },
    ),
    ("sts.amazonaws.com", "GetCallerIdentity", None),
)


def describe(rng: random.Random) -> Json:
    source, name, request = rng.choice(_DESCRIBE_CALLS)
    identity = (
        sso_role("ReadOnlyAccess", rng.choice(SSO_USERS))
        if rng.random() < 0.2
        else app_role(*rng.choice(APP_ROLES))
    )
    return envelope(identity, source, name, request, agent=rng.choice(USER_AGENTS))


def console_login_with_mfa(rng: random.Random, sso: bool) -> Json:
    identity = (
        sso_role("AdministratorAccess", rng.choice(SSO_USERS))
        if sso
        else iam_user(rng.choice(IAM_USERS), with_key=False)
    )
    return envelope(
        identity,
        "signin.amazonaws.com",
        "ConsoleLogin",
        None,
        {"ConsoleLogin": "Success"},
        extra={
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAUsed": "No" if sso else "Yes",
        },
        agent=CONSOLE_AGENT,
        read_only=False,
        event_type="AwsConsoleSignIn",
        request_id="",
    )


def big_policy(rng: random.Random, size: int) -> Json:
    statements: list[Json] = []
    length = 0
    while length < size:
        bucket = rng.choice(BUCKETS)
        statement = {
            "Sid": f"AllowPartner{len(statements):04d}",
            "Effect": "Allow",
            "Principal": {
                "AWS": f"arn:aws:iam::{rng.randrange(10**11, 10**12)}:role/partner-reader"
            },
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
            "Resource": [
                f"arn:aws:s3:::{bucket}",
                f"arn:aws:s3:::{bucket}/partners/{rng.randrange(10**6)}/*",
            ],
            "Condition": {
                "StringEquals": {"aws:PrincipalOrgID": f"o-{rng.randrange(16**10):010x}"}
            },
        }
        statements.append(statement)
        length += len(orjson.dumps(statement))
    return {"Version": "2012-10-17", "Statement": statements}


def put_bucket_policy(rng: random.Random) -> Json:
    bucket = rng.choice(BUCKETS)
    policy = big_policy(rng, rng.randrange(30_000, 100_000))
    return envelope(
        sso_role("AdministratorAccess", rng.choice(SSO_USERS)),
        "s3.amazonaws.com",
        "PutBucketPolicy",
        {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "policy": policy},
        agent=rng.choice(USER_AGENTS),
        read_only=False,
        request_id="{{s3req}}",
    )


def create_stack(rng: random.Random) -> Json:
    size = rng.randrange(30_000, 100_000)
    resources = {
        f"Queue{i}": {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": f"orders-{i}", "KmsMasterKeyId": "alias/aws/sqs"},
        }
        for i in range(size // 110)
    }
    body = orjson.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})
    return envelope(
        app_role("github-actions-deploy", "GitHubActions"),
        "cloudformation.amazonaws.com",
        rng.choice(("CreateStack", "UpdateStack")),
        {
            "stackName": "orders-queues",
            "templateBody": body.decode(),
            "capabilities": ["CAPABILITY_NAMED_IAM"],
        },
        {"stackId": "arn:aws:cloudformation:{{region}}:{{acct}}:stack/orders-queues/{{id}}"},
        agent=rng.choice(USER_AGENTS),
        read_only=False,
    )


def run_instances(rng: random.Random) -> Json:
    user_data = "".join(f"{rng.getrandbits(64):016x}" for _ in range(rng.randrange(150, 500)))
    return envelope(
        app_role("terraform-apply", "terraform-run-8812"),
        "ec2.amazonaws.com",
        "RunInstances",
        {
            "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1}]},
            "instanceType": "m7g.large",
            "userData": "<sensitiveDataRemoved>" if rng.random() < 0.5 else user_data,
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
        },
        {"requestId": "{{req}}", "reservationId": "r-0{{obj}}", "ownerId": "{{acct}}"},
        agent=rng.choice(USER_AGENTS),
        read_only=False,
    )


# --- what iamwatch cares about ----------------------------------------------------------------


def admin(rng: random.Random) -> Json:
    if rng.random() < 0.5:
        return sso_role("AdministratorAccess", rng.choice(SSO_USERS))
    return iam_user(rng.choice(("ci-deploy", "lars.nilsson")))


def iam_call(
    rng: random.Random,
    name: str,
    request: Json,
    response: Json | None = None,
    error: tuple[str, str] | None = None,
) -> Json:
    return envelope(
        admin(rng),
        "iam.amazonaws.com",
        name,
        request,
        response,
        agent=rng.choice(USER_AGENTS),
        read_only=False,
        error=error,
    )


def new_user_name(rng: random.Random) -> str:
    return rng.choice(("jenkins-legacy", "vendor-sync", "tmp-admin", "backup-agent"))


def interesting_templates(rng: random.Random) -> Iterator[tuple[str, int, Json]]:
    """(kind, weight in parts per 10,000 records, record) for events detectors listen for."""
    user = new_user_name(rng)
    denied = ("AccessDenied", "User is not authorized to perform: iam:CreateUser")
    yield (
        "iam:CreateUser",
        8,
        iam_call(
            rng,
            "CreateUser",
            {"userName": user},
            {
                "user": {
                    "userName": user,
                    "path": "/",
                    "userId": "AIDA{{key}}",
                    "arn": f"arn:aws:iam::{{{{acct}}}}:user/{user}",
                    "createDate": "Nov 2, 2026, 10:00:00 AM",
                }
            },
        ),
    )
    yield "iam:CreateUser(denied)", 4, iam_call(rng, "CreateUser", {"userName": user}, error=denied)
    yield (
        "iam:CreateAccessKey",
        10,
        iam_call(
            rng,
            "CreateAccessKey",
            {"userName": user},
            {
                "accessKey": {
                    "userName": user,
                    "accessKeyId": "AKIA{{key}}",
                    "status": "Active",
                    "createDate": "Nov 2, 2026, 10:00:00 AM",
                }
            },
        ),
    )
    yield (
        "signin:ConsoleLogin(no MFA)",
        8,
        envelope(
            iam_user(rng.choice(IAM_USERS), with_key=False),
            "signin.amazonaws.com",
            "ConsoleLogin",
            None,
            {"ConsoleLogin": "Success"},
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            agent=CONSOLE_AGENT,
            read_only=False,
            event_type="AwsConsoleSignIn",
            request_id="",
        ),
    )
    yield (
        "signin:ConsoleLogin(failure)",
        10,
        envelope(
            iam_user(rng.choice(IAM_USERS), with_key=False),
            "signin.amazonaws.com",
            "ConsoleLogin",
            None,
            {"ConsoleLogin": "Failure"},
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            agent=CONSOLE_AGENT,
            read_only=False,
            event_type="AwsConsoleSignIn",
            error=("", "Failed authentication"),
            request_id="",
        ),
    )
    yield (
        "root:ConsoleLogin",
        3,
        envelope(
            root(),
            "signin.amazonaws.com",
            "ConsoleLogin",
            None,
            {"ConsoleLogin": "Success"},
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "Yes",
            },
            agent=CONSOLE_AGENT,
            read_only=False,
            event_type="AwsConsoleSignIn",
            request_id="",
        ),
    )
    yield (
        "root:s3:ListBuckets",
        4,
        envelope(
            root(),
            "s3.amazonaws.com",
            "ListBuckets",
            {"Host": "s3.amazonaws.com"},
            agent=CONSOLE_AGENT,
            request_id="{{s3req}}",
        ),
    )
    yield (
        "root:iam:GetAccountSummary",
        3,
        envelope(root(), "iam.amazonaws.com", "GetAccountSummary", None, agent=CONSOLE_AGENT),
    )
    yield (
        "iam:AttachUserPolicy(admin)",
        4,
        iam_call(
            rng,
            "AttachUserPolicy",
            {"userName": user, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
    )
    yield (
        "iam:AttachRolePolicy(read-only)",
        8,
        iam_call(
            rng,
            "AttachRolePolicy",
            {"roleName": "orders-api-task", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        ),
    )
    yield (
        "cloudtrail:StopLogging",
        2,
        envelope(
            admin(rng),
            "cloudtrail.amazonaws.com",
            "StopLogging",
            {"name": "arn:aws:cloudtrail:{{region}}:{{acct}}:trail/org-trail"},
            agent=rng.choice(USER_AGENTS),
            read_only=False,
        ),
    )
    yield (
        "iam:CreateLoginProfile",
        4,
        iam_call(
            rng,
            "CreateLoginProfile",
            {"userName": user, "passwordResetRequired": True},
            {
                "loginProfile": {
                    "userName": user,
                    "createDate": "Nov 2, 2026, 10:00:00 AM",
                    "passwordResetRequired": True,
                }
            },
        ),
    )
    yield (
        "iam:DeactivateMFADevice",
        3,
        iam_call(
            rng,
            "DeactivateMFADevice",
            {"userName": user, "serialNumber": f"arn:aws:iam::{{{{acct}}}}:mfa/{user}"},
        ),
    )
    yield (
        "iam:PutUserPolicy",
        4,
        iam_call(
            rng,
            "PutUserPolicy",
            {
                "userName": user,
                "policyName": "s3-read",
                "policyDocument": orjson.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": "arn:aws:s3:::data-lake-raw/*",
                            }
                        ],
                    }
                ).decode(),
            },
        ),
    )
    yield (
        "iam:PutRolePolicy(service)",
        8,
        iam_call(
            rng,
            "PutRolePolicy",
            {
                "roleName": "etl-glue-job",
                "policyName": "glue-access",
                "policyDocument": orjson.dumps(big_policy(rng, rng.randrange(2000, 9000))).decode(),
            },
        ),
    )
    yield (
        "iam:DeleteUserPermissionsBoundary",
        2,
        iam_call(rng, "DeleteUserPermissionsBoundary", {"userName": user}),
    )
    yield (
        "iam:UpdateAccessKey(Active)",
        4,
        iam_call(
            rng,
            "UpdateAccessKey",
            {"userName": user, "accessKeyId": "AKIA{{key}}", "status": "Active"},
        ),
    )
    yield (
        "iam:UpdateAccessKey(Inactive)",
        3,
        iam_call(
            rng,
            "UpdateAccessKey",
            {"userName": user, "accessKeyId": "AKIA{{key}}", "status": "Inactive"},
        ),
    )
    yield (
        "iam:AddUserToGroup",
        4,
        iam_call(
            rng,
            "AddUserToGroup",
            {"userName": user, "groupName": rng.choice(("developers", "Admins"))},
        ),
    )
    yield (
        "iam:UpdateAccountPasswordPolicy",
        2,
        iam_call(
            rng,
            "UpdateAccountPasswordPolicy",
            {
                "minimumPasswordLength": 8,
                "requireSymbols": False,
                "requireNumbers": True,
                "requireUppercaseCharacters": False,
                "requireLowercaseCharacters": True,
                "allowUsersToChangePassword": True,
                "maxPasswordAge": 0,
                "passwordReusePrevention": 0,
            },
        ),
    )
    yield (
        "sso:CreateAccountAssignment",
        4,
        envelope(
            sso_role("AdministratorAccess", rng.choice(SSO_USERS)),
            "sso.amazonaws.com",
            "CreateAccountAssignment",
            {
                "instanceArn": "arn:aws:sso:::instance/ssoins-7223a1b2c3d4e5f6",
                "targetId": "{{acct}}",
                "targetType": "AWS_ACCOUNT",
                "permissionSetArn": (
                    "arn:aws:sso:::permissionSet/ssoins-7223a1b2c3d4e5f6/ps-{{obj}}"
                ),
                "principalType": "USER",
                "principalId": "{{id}}",
            },
            {"accountAssignmentCreationStatus": {"status": "IN_PROGRESS", "requestId": "{{req}}"}},
            agent=CONSOLE_AGENT,
            read_only=False,
        ),
    )


def noise_templates(rng: random.Random) -> Iterator[tuple[str, int, Json]]:
    """(kind, weight in parts per 10,000 records, record); the weights add up to 9,900, and
    a kind yielded several times gets that weight for each variant."""
    for _ in range(6):
        yield "s3:GetObject", 450, s3_data(rng, "GetObject")
    for _ in range(3):
        yield "s3:PutObject", 300, s3_data(rng, "PutObject")
    for _ in range(2):
        yield "s3:HeadObject", 250, s3_data(rng, "HeadObject")
    for _ in range(3):
        yield "sts:AssumeRole(service)", 250, assume_role(rng, by_service=True)
    for _ in range(2):
        yield "sts:AssumeRole", 200, assume_role(rng, by_service=False)
    for _ in range(3):
        yield "kms:Decrypt", 300, kms(rng, "Decrypt")
    yield "kms:GenerateDataKey", 450, kms(rng, "GenerateDataKey")
    for _ in range(32):
        yield "describe/list/get", 100, describe(rng)
    yield "signin:ConsoleLogin(MFA)", 20, console_login_with_mfa(rng, sso=False)
    yield "signin:ConsoleLogin(SSO)", 20, console_login_with_mfa(rng, sso=True)
    for _ in range(3):
        yield "s3:PutBucketPolicy(large)", 5, put_bucket_policy(rng)
    for _ in range(3):
        yield "cloudformation:CreateStack(large)", 5, create_stack(rng)
    for _ in range(3):
        yield "ec2:RunInstances", 10, run_instances(rng)


@dataclass(frozen=True, slots=True)
class TemplatePool:
    templates: tuple[Template, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def build(cls, seed: int, mix: str = "default") -> TemplatePool:
        if mix not in MIXES:
            raise ValueError(f"unknown corpus mix {mix!r}; one of {', '.join(MIXES)}")
        rng = random.Random(f"{seed}:templates")  # noqa: S311 (synthetic data, not secrets)
        weighted: list[tuple[Template, float]] = [
            (render(kind, NOISE, record), float(weight))
            for kind, weight, record in noise_templates(rng)
        ] + [
            (render(kind, INTERESTING, record), float(weight))
            for kind, weight, record in interesting_templates(rng)
        ]
        if mix == "stress":
            weighted = _stress_weights(weighted)
        total = 0.0
        cumulative = []
        for _, weight in weighted:
            total += weight
            cumulative.append(total)
        return cls(tuple(t for t, _ in weighted), tuple(cumulative))


def _stress_weights(weighted: list[tuple[Template, float]]) -> list[tuple[Template, float]]:
    """The same templates, the stress kinds scaled up to ``STRESS_SHARE`` of the records and
    the rest scaled down, so the total (and every other proportion) stays as it was."""
    total = sum(weight for _, weight in weighted)
    stress = sum(weight for template, weight in weighted if template.kind in STRESS_KINDS)
    up = STRESS_SHARE * total / stress
    down = (1 - STRESS_SHARE) * total / (total - stress)
    return [
        (template, weight * (up if template.kind in STRESS_KINDS else down))
        for template, weight in weighted
    ]


def plan_files(records: int, seed: int) -> list[FilePlan]:
    """Sizes, places and times of every file; cheap, so it is done up front in one process."""
    rng = random.Random(f"{seed}:plan")  # noqa: S311 (synthetic data, not secrets)
    streams = [(account, region) for account in ACCOUNTS for region in REGIONS]
    next_start = dict.fromkeys(streams, START)
    plans: list[FilePlan] = []
    remaining = records
    low, high = math.log(MIN_RECORDS_PER_FILE), math.log(MAX_RECORDS_PER_FILE)
    while remaining > 0:
        count = min(remaining, round(math.exp(rng.uniform(low, high))))
        account, region = streams[rng.randrange(len(streams))]
        start = next_start[(account, region)]
        next_start[(account, region)] = start + FILE_WINDOW
        suffix = "".join(rng.choices(_NAME_ALPHABET, k=16))
        plans.append(FilePlan(len(plans), account, region, start, count, suffix))
        remaining -= count
    return plans


_IPS = tuple(
    f"{a}.{b}.{c}.{d}"
    for a, b, c, d in [(203, 0, 113, x) for x in range(1, 60)]
    + [(198, 51, 100, x) for x in range(1, 60)]
    + [(192, 0, 2, x) for x in range(1, 40)]
)


def render_file(pool: TemplatePool, plan: FilePlan, seed: int) -> tuple[bytes, Counter[str]]:
    """The decompressed content of one log file, and how many records of each kind it holds."""
    rng = random.Random(f"{seed}:file:{plan.index}")  # noqa: S311 (synthetic data, not secrets)
    chosen = rng.choices(pool.templates, cum_weights=pool.cumulative, k=plan.records)
    seconds = sorted(rng.randrange(300) for _ in range(plan.records))
    times = [(plan.start + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ") for s in range(300)]
    fields: dict[str, str] = {"acct": plan.account, "region": plan.region}
    parts = []
    getrandbits = rng.getrandbits
    for template, second in zip(chosen, seconds, strict=True):
        bits = f"{getrandbits(512):0128x}"
        fields["time"] = times[second]
        fields["id"] = f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:32]}"
        fields["req"] = f"{bits[32:40]}-{bits[40:44]}-{bits[44:48]}-{bits[48:52]}-{bits[52:64]}"
        fields["s3req"] = bits[64:80].upper()
        fields["key"] = bits[80:96].upper()
        fields["obj"] = bits[96:108]
        fields["amzid"] = bits[108:128]
        fields["ip"] = _IPS[int(bits[:2], 16) % len(_IPS)]
        fields["n"] = str(int(bits[120:125], 16))
        parts.append(template.text % fields)
    kinds = Counter(f"{t.group}:{t.kind}" for t in chosen)
    return ('{"Records":[' + ",".join(parts) + "]}").encode(), kinds


# Per worker process: the pool is built once from the seed, never shipped between processes.
_worker_pool: TemplatePool | None = None


def _init_worker(seed: int, mix: str = "default") -> None:
    global _worker_pool
    _worker_pool = TemplatePool.build(seed, mix)


def _write_file(job: tuple[FilePlan, int, str]) -> tuple[int, int, int, Counter[str]]:
    plan, seed, out = job
    assert _worker_pool is not None
    data, kinds = render_file(_worker_pool, plan, seed)
    path = Path(out) / plan.relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the bytes identical between runs with the same seed.
    compressed = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(compressed)
    return plan.index, len(data), len(compressed), kinds


@dataclass(frozen=True, slots=True)
class Manifest:
    seed: int
    records: int
    files: int
    uncompressed_bytes: int
    compressed_bytes: int
    kinds: dict[str, int]
    seconds: float
    mix: str = "default"

    @property
    def interesting(self) -> int:
        return sum(n for kind, n in self.kinds.items() if kind.startswith(INTERESTING + ":"))

    def to_json(self) -> bytes:
        data = {
            "seed": self.seed,
            "records": self.records,
            "files": self.files,
            "uncompressed_bytes": self.uncompressed_bytes,
            "compressed_bytes": self.compressed_bytes,
            "kinds": dict(sorted(self.kinds.items())),
            "seconds": round(self.seconds, 2),
            "mix": self.mix,
        }
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = orjson.loads(path.read_bytes())
        return cls(**data)


def generate(
    records: int,
    out: Path,
    seed: int = DEFAULT_SEED,
    jobs: int | None = None,
    mix: str = "default",
) -> Manifest:
    """Write ``records`` records under ``out/AWSLogs/...``, and ``out/manifest.json``."""
    started = time.perf_counter()
    plans = plan_files(records, seed)
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(plans)))
    tasks = [(plan, seed, str(out)) for plan in plans]
    kinds: Counter[str] = Counter()
    raw_total = compressed_total = 0
    if workers == 1:
        _init_worker(seed, mix)
        results = map(_write_file, tasks)
        for _, raw, compressed, counted in results:
            raw_total, compressed_total = raw_total + raw, compressed_total + compressed
            kinds.update(counted)
    else:
        with get_context("fork").Pool(workers, _init_worker, (seed, mix)) as pool:
            for _, raw, compressed, counted in pool.imap_unordered(_write_file, tasks, 4):
                raw_total, compressed_total = raw_total + raw, compressed_total + compressed
                kinds.update(counted)
    manifest = Manifest(
        seed=seed,
        records=records,
        files=len(plans),
        uncompressed_bytes=raw_total,
        compressed_bytes=compressed_total,
        kinds=dict(kinds),
        seconds=time.perf_counter() - started,
        mix=mix,
    )
    (out / MANIFEST).write_bytes(manifest.to_json())
    return manifest


def generator_version() -> str:
    """Changes whenever this generator (or the record builder it shares) does, so a cached
    corpus is never stale."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(tools.records.__file__).read_bytes())
    return digest.hexdigest()[:10]


def ensure(
    records: int, root: Path, seed: int = DEFAULT_SEED, mix: str = "default"
) -> tuple[Path, Manifest]:
    """The cached corpus for (seed, records, mix, generator version) under ``root``, generated
    on first use."""
    base = f"seed{seed}-records{records}" + ("" if mix == "default" else f"-{mix}")
    out = root / f"{base}-{generator_version()}"
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        return out, Manifest.load(manifest_path)
    # An interrupted run (start again rather than trust partial files) or older generators.
    if root.is_dir():
        for stale in root.iterdir():
            if stale.is_dir() and _same_corpus(stale.name, base):
                shutil.rmtree(stale)
    return out, generate(records, out, seed, mix=mix)


def _same_corpus(name: str, base: str) -> bool:
    """``name`` is ``base`` from another generator version (not another mix of it)."""
    if name == base:
        return True
    rest = name.removeprefix(base + "-")
    return rest != name and not any(rest.startswith(m + "-") for m in MIXES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    parser.add_argument("--mix", choices=MIXES, default="default")
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records must be at least 1")
    manifest = generate(args.records, args.out, args.seed, args.jobs, args.mix)
    print(
        f"{manifest.records:,} records in {manifest.files:,} files, "
        f"{manifest.uncompressed_bytes / 1e6:,.1f} MB ({manifest.compressed_bytes / 1e6:,.1f} MB "
        f"gzip), {manifest.interesting:,} interesting, in {manifest.seconds:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
