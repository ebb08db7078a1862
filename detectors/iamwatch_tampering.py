"""iamwatch-tampering: iamwatch's own functions, rules, roles, queues, tables, Slack token or
stack were changed, which can blind it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from detectors._common import IAM, state_key, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectionSettings, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

LAMBDA = "lambda.amazonaws.com"
EVENTS = "events.amazonaws.com"
SQS = "sqs.amazonaws.com"
DYNAMODB = "dynamodb.amazonaws.com"
SSM = "ssm.amazonaws.com"
SECRETS_MANAGER = "secretsmanager.amazonaws.com"
CLOUDFORMATION = "cloudformation.amazonaws.com"


@dataclass(frozen=True, slots=True)
class _Change:
    target_type: str
    verb: str


def _changes(target_type: str, **verbs: str) -> dict[str, _Change]:
    return {name: _Change(target_type, verb) for name, verb in verbs.items()}


_LABELS = {
    "lambda-function": "Lambda function",
    "eventbridge-rule": "EventBridge rule",
    "iam-role": "IAM role",
    "sqs-queue": "SQS queue",
    "dynamodb-table": "DynamoDB table",
    "ssm-parameter": "Slack token parameter",
    "secret": "Slack token secret",
    "cloudformation-stack": "CloudFormation stack",
}
_FUNCTION = "lambda-function"
_TOKEN_TYPES = frozenset({"ssm-parameter", "secret"})

# Lambda logs most write calls with the API version in the event name.
_BY_SOURCE: dict[str, dict[str, _Change]] = {
    LAMBDA: _changes(
        _FUNCTION,
        DeleteFunction20150331="deleted",
        UpdateFunctionCode20150331v2="replaced the code of",
        UpdateFunctionConfiguration20150331v2="reconfigured",
        PutFunctionConcurrency20171031="set the reserved concurrency of",
        DeleteFunctionConcurrency20171031="removed the reserved concurrency of",
        AddPermission20150331v2="granted a new invoke permission on",
        RemovePermission20150331v2="removed an invoke permission from",
        PutFunctionEventInvokeConfig="replaced the failure destination of",
        UpdateFunctionEventInvokeConfig="changed the failure destination of",
        DeleteFunctionEventInvokeConfig="removed the failure destination of",
        DeleteEventSourceMapping20150331="deleted the queue trigger of",
        UpdateEventSourceMapping20150331="changed the queue trigger of",
    ),
    EVENTS: _changes(
        "eventbridge-rule",
        DisableRule="disabled",
        DeleteRule="deleted",
        PutRule="changed",
        RemoveTargets="removed targets from",
        PutTargets="changed the targets of",
    ),
    IAM: _changes(
        "iam-role",
        AttachRolePolicy="attached a managed policy to",
        DetachRolePolicy="detached a managed policy from",
        PutRolePolicy="put an inline policy on",
        DeleteRolePolicy="deleted an inline policy of",
        UpdateAssumeRolePolicy="changed the trust policy of",
        DeleteRole="deleted",
        PutRolePermissionsBoundary="set the permissions boundary of",
        DeleteRolePermissionsBoundary="removed the permissions boundary of",
    ),
    SQS: _changes(
        "sqs-queue",
        DeleteQueue="deleted",
        SetQueueAttributes="changed the attributes of",
        PurgeQueue="purged every message from",
    ),
    DYNAMODB: _changes(
        "dynamodb-table",
        DeleteTable="deleted",
        UpdateTable="changed",
        UpdateTimeToLive="changed the expiry (TTL) of",
    ),
    SSM: _changes(
        "ssm-parameter",
        PutParameter="overwrote",
        DeleteParameter="deleted",
        DeleteParameters="deleted",
    ),
    SECRETS_MANAGER: _changes(
        "secret",
        PutSecretValue="stored a new value in",
        UpdateSecret="changed",
        DeleteSecret="scheduled the deletion of",
    ),
    CLOUDFORMATION: _changes(
        "cloudformation-stack",
        DeleteStack="deleted",
        UpdateStack="deployed an update to",
        ExecuteChangeSet="deployed a change set to",
    ),
}

_RULE_EVENTS = frozenset(_BY_SOURCE[EVENTS])

META = DetectorMeta(
    id="iamwatch-tampering",
    title="iamwatch itself tampered with",
    severity=Severity.CRITICAL,
    description=(
        "changes to iamwatch's own deployment (names starting with `IAMWATCH_SELF_PREFIX`, "
        "deployed as `iamwatch-<stage>-`): its Lambda functions (including reserved concurrency 0 "
        "and queue triggers), EventBridge rules, IAM roles, SQS queues, DynamoDB tables and stack, "
        "and the Slack token parameter or secret, in the deployment's own account and stack "
        "region (`IAMWATCH_SELF_ACCOUNT`, `IAMWATCH_SELF_REGIONS`)"
    ),
    severity_rules=(
        "Critical for a direct change (not made by CloudFormation) and for deleting iamwatch's "
        "stack. Medium for an update of the stack (UpdateStack, ExecuteChangeSet): a "
        "deployment, to match with a planned release. Low for a change CloudFormation made to "
        "iamwatch's resources during a deployment (userIdentity.invokedBy "
        "cloudformation.amazonaws.com), grouped per deployer; except the Slack token, which no "
        "deployment changes: critical whoever changed it. Failed calls are not findings."
    ),
    next_step=(
        "Check that the changed resource still works as deployed; restore it from the stack "
        "(redeploy) unless the change was an approved deployment."
    ),
    asff_type="TTPs/Defense Evasion",
    attack_techniques=("T1562.001",),
    events={source: frozenset(changes) for source, changes in _BY_SOURCE.items()},
    own_rule="self-tamper",
    main_rule_events={EVENTS: _RULE_EVENTS},
    remediation_actions=("quarantine-user",),
    recommendation=(
        "Deny changes to iamwatch's resources (names starting with iamwatch-) to everyone but "
        "the deployment role with an SCP, and deploy iamwatch only through its stack."
    ),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    change = _BY_SOURCE.get(record.event_source, {}).get(record.event_name)
    if change is None:
        return
    owned = [
        (kind, name)
        for kind, name in _names(record, change)
        if _is_own(kind, name, context.settings) and _in_deployment(record, kind, context.settings)
    ]
    if not owned:
        return
    target_type, name = owned[0]
    details = {"resource": name, "change": record.event_name}
    verb, value, outcome = _wording(record, change, details)
    deployed_by_stack = record.user_identity.invoked_by == CLOUDFORMATION
    severity: Severity | None = None  # the declared critical
    dedup_key = None
    if record.event_source == CLOUDFORMATION and record.event_name != "DeleteStack":
        severity = Severity.MEDIUM
    elif deployed_by_stack and target_type not in _TOKEN_TYPES:
        # One deployment changes many resources: one alert, and the rest as its thread.
        severity = Severity.LOW
        details["via"] = "cloudformation"
        actor = record.principal.arn or record.principal.display
        dedup_key = state_key(f"{META.id}:{record.account_id or '-'}:deployment:{actor}")
    acting = f"CloudFormation, deploying for {who(record)}," if deployed_by_stack else who(record)
    yield Hit(
        summary=f"{acting} {verb} iamwatch's {_LABELS[target_type]} {name}{value} "
        f"{where(record)}{outcome}.",
        target=name,
        target_type=target_type,
        severity=severity,
        dedup_key=dedup_key,
        details=details,
    )


def _wording(
    record: CloudTrailRecord, change: _Change, details: dict[str, str]
) -> tuple[str, str, str]:
    """The change in words (verb, new value, consequence), sharper where the request says the
    resource stops working; facts worth a look go into ``details``."""
    request = record.request
    name = record.event_name
    if "EventSourceMapping" in name:
        mapping = (
            request.get_str("uUID") or request.get_str("uuid") or record.response.get_str("uUID")
        )
        if mapping:
            details["eventSourceMapping"] = mapping
        if request.get_bool("enabled") is False:
            return "disabled the queue trigger of", "", ": it no longer receives messages"
    if name == "PutFunctionConcurrency20171031":
        reserved = request.get_int("reservedConcurrentExecutions")
        if reserved is not None:
            details["reservedConcurrentExecutions"] = str(reserved)
        if reserved == 0:
            return change.verb, " to 0", ": it no longer runs"
    if name == "PutRule" and (request.get_str("state") or "").upper() == "DISABLED":
        return "disabled", "", ""
    if change.target_type == "iam-role":
        policy = request.get_str("policyArn") or request.get_str("policyName")
        if policy:
            details["policy"] = policy
    return change.verb, "", ""


def _names(record: CloudTrailRecord, change: _Change) -> list[tuple[str, str]]:
    """Every (target type, name) the record gives the changed resource, normalised from
    ARNs and URLs."""
    request, response = record.request, record.response
    source = record.event_source
    found: list[tuple[str, str | None]] = []
    if source == LAMBDA:
        for value in (request.get_str("functionName"), response.get_str("functionArn")):
            if value:
                found.append((_FUNCTION, _function_name(value)))
        # A queue trigger is ours when either end is: the function or the queue.
        if queue := response.get_str("eventSourceArn"):
            found.append(("sqs-queue", _after_last(queue, ":")))
    elif source == EVENTS:
        found += [(change.target_type, request.get_str(key)) for key in ("name", "rule")]
        found = [(kind, _after_last(value, "/")) for kind, value in found if value]
    elif source == IAM:
        found.append((change.target_type, request.get_str("roleName")))
    elif source == SQS:
        queue = request.get_str("queueUrl")
        found.append((change.target_type, _queue_name(queue) if queue else None))
    elif source == DYNAMODB:
        table = request.get_str("tableName")
        found.append((change.target_type, _table_name(table) if table else None))
    elif source == SSM:
        names = [request.get_str("name"), *request.get_list("names")]
        found += [(change.target_type, _parameter_name(n)) for n in names if isinstance(n, str)]
    elif source == SECRETS_MANAGER:
        found.append((change.target_type, request.get_str("secretId")))
    elif source == CLOUDFORMATION:
        stack = request.get_str("stackName")
        found.append((change.target_type, _stack_name(stack) if stack else None))
    return [(kind, name) for kind, name in found if name]


def _is_own(target_type: str, name: str, settings: DetectionSettings) -> bool:
    if target_type == "ssm-parameter":
        return name.lstrip("/") == _parameter_name(settings.self_token_parameter).lstrip("/")
    if target_type == "secret":
        secret = settings.self_token_secret
        return secret is not None and bool(_secret_names(name) & _secret_names(secret))
    prefix = settings.self_prefix.casefold()
    folded = name.casefold()
    if target_type == "cloudformation-stack" and folded == prefix.rstrip("-_"):
        return True  # the stack is named iamwatch-<stage>, its resources iamwatch-<stage>-...
    # Case-insensitive: IAM names are, and here a false alarm costs less than a miss.
    return folded.startswith(prefix)


# IAM is a global service: its events arrive in us-east-1 wherever the stack runs.
_GLOBAL_TYPES = frozenset({"iam-role"})


def _in_deployment(record: CloudTrailRecord, target_type: str, settings: DetectionSettings) -> bool:
    """The deployment's own account and stack regions (when the settings say which): with
    organization forwarding, a member account's events arrive on the same bus, and its
    resources may be named like iamwatch's."""
    if settings.self_account is not None and record.account_id != settings.self_account:
        return False
    regions = settings.self_regions
    return regions is None or target_type in _GLOBAL_TYPES or record.aws_region in regions


def _after_last(value: str, separator: str) -> str:
    return value.rsplit(separator, 1)[-1]


def _function_name(value: str) -> str:
    """``name``, ``name:qualifier``, ``123456789012:function:name`` or a full ARN."""
    if ":function:" in value:
        value = value.split(":function:", 1)[1]
    return value.split(":", 1)[0]


def _queue_name(value: str) -> str:
    """A queue URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``) or ARN."""
    if value.startswith("arn:"):
        return _after_last(value, ":")
    return _after_last(value.rstrip("/"), "/")


def _table_name(value: str) -> str:
    """A table name or ARN (``arn:aws:dynamodb:<region>:<account>:table/<name>``)."""
    if ":table/" in value:
        return value.split(":table/", 1)[1].split("/", 1)[0]
    return value


def _parameter_name(value: str) -> str:
    """A parameter name or ARN (``arn:aws:ssm:<region>:<account>:parameter/<name>``)."""
    if value.startswith("arn:") and ":parameter" in value:
        return value.split(":parameter", 1)[1]
    return value


def _stack_name(value: str) -> str:
    """A stack name or ARN (``arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>``)."""
    if ":stack/" in value:
        return value.split(":stack/", 1)[1].split("/", 1)[0]
    return value


def _secret_names(value: str) -> set[str]:
    """The names a secret id may stand for: a secret's full ARN ends with a hyphen and six
    random characters that its name lacks, and a partial ARN omits them."""
    if ":secret:" not in value:
        return {value}
    name = value.split(":secret:", 1)[1]
    names = {name}
    stem, _, suffix = name.rpartition("-")
    if stem and len(suffix) == 6 and suffix.isalnum():
        names.add(stem)
    return names
