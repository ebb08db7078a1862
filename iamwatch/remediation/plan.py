"""Remediation plans: what the detector's automated actions would do to this finding, exactly.

Planning is pure: it reads the finding, the actions its detector declares and its runbook's
Remediation section, and touches nothing. Every name in a plan comes from CloudTrail, so partly
from the attacker; a name that IAM itself would not accept is refused here, before it can reach
an API call or a printed shell command. So is a protected principal (``IAMWATCH_PROTECTED_
PRINCIPALS``): the plan says why; the ``iamwatch:break-glass`` tag, which only IAM knows, is
checked when the plan is applied.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Collection
from enum import StrEnum

import orjson
from pydantic import BaseModel, ConfigDict

from iamwatch.finding import Finding
from iamwatch.principal import PrincipalKind
from iamwatch.protected import ProtectedPrincipals
from iamwatch.runbooks import (
    REMEDIATION_ACTIONS,
    RunbookError,
    load_runbook,
    remediation_actions,
)
from iamwatch.severity import Severity

QUARANTINE_POLICY = "arn:aws:iam::aws:policy/AWSDenyAll"

_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_POLICY_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:iam::(?:aws|\d{12}):policy/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,128}", re.ASCII
)
_USER_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:iam::(?P<account>\d{12}):user/(?:[\w+=,.@-]+/)*(?P<name>[^/]+)"
)
_TRUST_ANCHOR_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
# The inline policy revoke-older-sessions puts on the user (AWS's own name for the role
# equivalent is AWSRevokeOlderSessions).
REVOKE_SESSIONS_POLICY = "iamwatch-revoke-older-sessions"
# What AWS documents for revoking an IAM user's temporary credentials: deny every request made
# with a session issued before a time; requests signed with long-term keys carry no
# aws:TokenIssueTime and are not affected.
REVOKE_SESSIONS_TEMPLATE = (
    '{"Version":"2012-10-17","Statement":[{"Sid":"RevokeOlderSessions","Effect":"Deny",'
    '"Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"%s"}}}]}'
)


class ActionName(StrEnum):
    DEACTIVATE_ACCESS_KEY = "deactivate-access-key"
    DELETE_LOGIN_PROFILE = "delete-login-profile"
    DETACH_POLICY = "detach-policy"
    REMOVE_FROM_GROUP = "remove-from-group"
    QUARANTINE_USER = "quarantine-user"
    RESTORE_TRUST_POLICY = "restore-trust-policy"
    DISABLE_TRUST_ANCHOR = "disable-trust-anchor"
    REVOKE_OLDER_SESSIONS = "revoke-older-sessions"


assert {action.value for action in ActionName} == REMEDIATION_ACTIONS

# Steps whose undo the remediation role makes with the permissions it already has, so an undo
# can be approved in Slack: reactivating the key it deactivated (UpdateAccessKey), lifting
# the quarantine it attached (DetachUserPolicy). Undoing the others grants access (a group
# membership, a policy): that stays with people and their own credentials.
UNDO_IN_AWS = frozenset({ActionName.DEACTIVATE_ACCESS_KEY, ActionName.QUARANTINE_USER})


def undo_digest(action_id: str) -> str:
    """What approvers of an undo confirm: undoing exactly this applied step."""
    return hashlib.sha256(f"undo:{action_id}".encode()).hexdigest()


class PrincipalType(StrEnum):
    USER = "user"
    GROUP = "group"
    ROLE = "role"
    # Not a principal: the Roles Anywhere trust anchor a step changes.
    TRUST_ANCHOR = "trust-anchor"


_PRINCIPAL_TYPES = {
    "iam-user": PrincipalType.USER,
    "iam-group": PrincipalType.GROUP,
    "iam-role": PrincipalType.ROLE,
}


class RemediationStep(BaseModel):
    """One API change, with the equivalent AWS CLI command and how (or whether) it is undone."""

    model_config = ConfigDict(frozen=True)

    action: ActionName
    summary: str
    command: str
    reversible: bool
    undo: str
    principal_type: PrincipalType
    principal_name: str
    access_key_id: str | None = None
    policy_arn: str | None = None
    policy_name: str | None = None
    group_name: str | None = None
    # restore-trust-policy: the trust policy document to put back.
    policy_document: str | None = None
    # disable-trust-anchor: the anchor and the region it lives in.
    trust_anchor_id: str | None = None
    region: str | None = None


class NotApplicable(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: ActionName
    reason: str


class RemediationPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    finding_id: str
    detector: str
    severity: Severity
    account: str | None
    runbook_steps: str
    steps: tuple[RemediationStep, ...]
    not_applicable: tuple[NotApplicable, ...]

    @property
    def digest(self) -> str:
        """Identifies exactly these steps for this finding: what an approver confirmed must be
        what is applied."""
        body = orjson.dumps(
            [self.finding_id, [step.model_dump(mode="json") for step in self.steps]],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(body).hexdigest()

    @property
    def irreversible(self) -> tuple[RemediationStep, ...]:
        return tuple(step for step in self.steps if not step.reversible)

    def lines(self) -> list[str]:
        """The plan as plain text, for a terminal or a Slack message (escape before mrkdwn)."""
        lines = [f"Plan for finding {self.finding_id} ({self.detector}, {self.severity.value}):"]
        if not self.steps:
            lines.append("  No automated action applies; follow the runbook by hand.")
        for number, step in enumerate(self.steps, 1):
            lines.append(f"  {number}. {step.summary}")
            lines.append(f"     $ {step.command}")
            lines.append(f"     {'Undo' if step.reversible else 'Cannot be undone'}: {step.undo}")
        for skipped in self.not_applicable:
            lines.append(f"  - {skipped.action.value}: not applicable: {skipped.reason}")
        return lines


class PlanError(ValueError):
    """The requested actions cannot be planned (unknown action, or not in the runbook)."""


class _NotApplicable(Exception):
    """Raised by a planner: the action does not apply to this finding, and why."""


_NOBODY = ProtectedPrincipals()


def plan_remediation(
    finding: Finding,
    actions: Collection[str] | None = None,
    *,
    protected: ProtectedPrincipals = _NOBODY,
) -> RemediationPlan:
    """The plan for the detector's automated actions (or the chosen subset of them); a step
    on a ``protected`` principal is listed as not applicable, with the reason."""
    try:
        runbook = load_runbook(finding.detector)
    except RunbookError as error:
        raise PlanError(str(error)) from None
    declared = [ActionName(action) for action in remediation_actions(finding.detector)]
    if actions is not None:
        unknown = sorted(set(actions) - {action.value for action in declared})
        if unknown:
            offered = ", ".join(action.value for action in declared) or "none"
            raise PlanError(
                f"{', '.join(unknown)}: not an automated action of the {finding.detector} "
                f"runbook (it offers: {offered})"
            )
        declared = [action for action in declared if action.value in actions]
    steps: list[RemediationStep] = []
    skipped: list[NotApplicable] = []
    for action in declared:
        try:
            step = _PLANNERS[action](finding)
            _check_unprotected(step, finding.account, protected)
        except _NotApplicable as reason:
            skipped.append(NotApplicable(action=action, reason=str(reason)))
        else:
            steps.append(step)
    try:
        runbook_steps = runbook.section("Remediation")
    except KeyError:
        runbook_steps = ""
    return RemediationPlan(
        finding_id=finding.finding_id,
        detector=finding.detector,
        severity=finding.severity,
        account=finding.account,
        runbook_steps=runbook_steps,
        steps=tuple(steps),
        not_applicable=tuple(skipped),
    )


def principal_arn(step: RemediationStep, account: str | None) -> str:
    """The ARN of the principal a step changes, as far as the plan knows it (no IAM path)."""
    return f"arn:aws:iam::{account or '*'}:{step.principal_type.value}/{step.principal_name}"


def _check_unprotected(
    step: RemediationStep, account: str | None, protected: ProtectedPrincipals
) -> None:
    if step.principal_type is PrincipalType.GROUP:
        return  # a group is not a principal; the users in it are checked by name when acted on
    why = protected.why(name=step.principal_name, arn=principal_arn(step, account))
    if why is not None:
        raise _NotApplicable(
            f"IAM {step.principal_type.value} {step.principal_name} is protected ({why}): "
            "iamwatch never changes it; follow the runbook by hand"
        )


def _valid_name(name: str | None) -> bool:
    return name is not None and _IAM_NAME.fullmatch(name) is not None


def _target_user(finding: Finding) -> str:
    """The finding's target IAM user name."""
    if finding.target_type == "root":
        raise _NotApplicable(
            "the target is the root user, which IAM policies and these API calls cannot "
            "change; sign in as root (see the runbook)"
        )
    if finding.target_type != "iam-user":
        raise _NotApplicable(f"the target is not an IAM user ({finding.target_type or 'unknown'})")
    if finding.target is None or not _valid_name(finding.target):
        raise _NotApplicable(f"the target {finding.target!r} is not a valid IAM user name")
    return finding.target


def _aws(*words: str) -> str:
    return shlex.join(["aws", "iam", *words])


def _deactivate_access_key(finding: Finding) -> RemediationStep:
    user = _target_user(finding)
    key_id = finding.details.get("accessKeyId")
    if key_id is None:
        raise _NotApplicable(
            "the event did not record the key id; list the user's keys with "
            f"`{_aws('list-access-keys', '--user-name', user)}` and deactivate by hand"
        )
    if _ACCESS_KEY_ID.fullmatch(key_id) is None:
        raise _NotApplicable(f"{key_id!r} is not a valid access key id")
    return RemediationStep(
        action=ActionName.DEACTIVATE_ACCESS_KEY,
        summary=f"Deactivate access key {key_id} of IAM user {user}",
        command=_aws(
            "update-access-key",
            "--user-name",
            user,
            "--access-key-id",
            key_id,
            "--status",
            "Inactive",
        ),
        reversible=True,
        undo="reactivates the key (status Active), if it was active before",
        principal_type=PrincipalType.USER,
        principal_name=user,
        access_key_id=key_id,
    )


def _delete_login_profile(finding: Finding) -> RemediationStep:
    user = _target_user(finding)
    return RemediationStep(
        action=ActionName.DELETE_LOGIN_PROFILE,
        summary=f"Delete the console password (login profile) of IAM user {user}",
        command=_aws("delete-login-profile", "--user-name", user),
        reversible=False,
        undo=(
            "a deleted console password cannot be restored; to give console access back, set "
            f"a new one: {_aws('create-login-profile', '--user-name', user)} "
            "--password-reset-required --password ..."
        ),
        principal_type=PrincipalType.USER,
        principal_name=user,
    )


def _detach_policy(finding: Finding) -> RemediationStep:
    principal_type = _PRINCIPAL_TYPES.get(finding.target_type or "")
    if principal_type is None:
        raise _NotApplicable(
            f"the target is not an IAM user, group or role ({finding.target_type or 'unknown'})"
        )
    name = finding.target
    if name is None or not _valid_name(name):
        raise _NotApplicable(f"the target {name!r} is not a valid IAM {principal_type.value} name")
    kind = principal_type.value
    policy_arn = finding.details.get("policyArn")
    if policy_arn is not None:
        if _POLICY_ARN.fullmatch(policy_arn) is None:
            raise _NotApplicable(f"{policy_arn!r} is not a valid managed policy ARN")
        return RemediationStep(
            action=ActionName.DETACH_POLICY,
            summary=f"Detach managed policy {policy_arn} from IAM {kind} {name}",
            command=_aws(
                f"detach-{kind}-policy", f"--{kind}-name", name, "--policy-arn", policy_arn
            ),
            reversible=True,
            undo=f"attaches {policy_arn} to the {kind} again, if it was attached before",
            principal_type=principal_type,
            principal_name=name,
            policy_arn=policy_arn,
        )
    policy_name = finding.details.get("policyName")
    if policy_name is None:
        raise _NotApplicable("the event did not record which policy was granted")
    if not _valid_name(policy_name):
        raise _NotApplicable(f"{policy_name!r} is not a valid inline policy name")
    return RemediationStep(
        action=ActionName.DETACH_POLICY,
        summary=f"Delete inline policy {policy_name} from IAM {kind} {name} (its document is "
        "kept in the audit trail)",
        command=_aws(f"delete-{kind}-policy", f"--{kind}-name", name, "--policy-name", policy_name),
        reversible=True,
        undo="puts the inline policy back with the document saved before deletion",
        principal_type=principal_type,
        principal_name=name,
        policy_name=policy_name,
    )


def _remove_from_group(finding: Finding) -> RemediationStep:
    user = _target_user(finding)
    group = finding.details.get("groupName")
    if group is None:
        raise _NotApplicable("the event did not record the group name")
    if not _valid_name(group):
        raise _NotApplicable(f"{group!r} is not a valid IAM group name")
    return RemediationStep(
        action=ActionName.REMOVE_FROM_GROUP,
        summary=f"Remove IAM user {user} from group {group}",
        command=_aws("remove-user-from-group", "--user-name", user, "--group-name", group),
        reversible=True,
        undo="adds the user to the group again, if it was a member before",
        principal_type=PrincipalType.USER,
        principal_name=user,
        group_name=group,
    )


def _quarantine_subject(finding: Finding) -> str:
    """Who to contain: the target user when there is one, else the caller if it is an IAM
    user (e.g. whoever stopped CloudTrail)."""
    if finding.target_type == "iam-user":
        return _target_user(finding)
    if finding.actor_kind is PrincipalKind.IAM_USER:
        match = _USER_ARN.fullmatch(finding.actor)
        if match is None or not _valid_name(match.group("name")):
            raise _NotApplicable(f"the caller {finding.actor!r} is not a valid IAM user ARN")
        # A user name means nothing outside its account: the caller's ARN says which one, and
        # the plan only ever acts in the finding's account.
        if match.group("account") != finding.account:
            raise _NotApplicable(
                f"the caller is IAM user {match.group('name')} of account "
                f"{match.group('account')}, not of the finding's account "
                f"{finding.account or '(unknown)'}; contain it in its own account"
            )
        return match.group("name")
    if finding.actor_kind is PrincipalKind.ROOT or finding.target_type == "root":
        raise _NotApplicable(
            "root cannot be restricted by IAM policies; use a service control policy"
        )
    raise _NotApplicable(
        f"neither the target nor the caller ({finding.actor_kind.label}) is an IAM user; for a "
        "role, revoke its active sessions in the IAM console instead"
    )


def _quarantine_user(finding: Finding) -> RemediationStep:
    user = _quarantine_subject(finding)
    return RemediationStep(
        action=ActionName.QUARANTINE_USER,
        summary=f"Quarantine IAM user {user}: attach {QUARANTINE_POLICY}, which denies every "
        "action (sessions already issued are denied too)",
        command=_aws("attach-user-policy", "--user-name", user, "--policy-arn", QUARANTINE_POLICY),
        reversible=True,
        undo="detaches the deny-all policy, unless it was attached before",
        principal_type=PrincipalType.USER,
        principal_name=user,
        policy_arn=QUARANTINE_POLICY,
    )


def _restore_trust_policy(finding: Finding) -> RemediationStep:
    if finding.target_type != "iam-role":
        raise _NotApplicable(f"the target is not an IAM role ({finding.target_type or 'unknown'})")
    role = finding.target
    if role is None or not _valid_name(role):
        raise _NotApplicable(f"the target {role!r} is not a valid IAM role name")
    saved = finding.details.get("previousPolicyDocument")
    if saved is None:
        raise _NotApplicable(
            "no earlier trust policy of this role was seen (it was created with this one, or "
            "changed before iamwatch watched it); write the trust policy by hand and apply it "
            f"with `{_aws('update-assume-role-policy', '--role-name', role)} --policy-document "
            "file://trust.json`"
        )
    try:
        parsed = orjson.loads(saved)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _NotApplicable("the saved trust policy cannot be read back (it may have been cut)")
    document = orjson.dumps(parsed).decode()
    when = finding.details.get("previousPolicyTime", "an earlier event")
    return RemediationStep(
        action=ActionName.RESTORE_TRUST_POLICY,
        summary=f"Restore the trust policy IAM role {role} had before this change (as CloudTrail "
        f"logged it at {when})",
        command=_aws(
            "update-assume-role-policy", "--role-name", role, "--policy-document", document
        ),
        reversible=True,
        undo="puts back the trust policy the role had just before (saved in the audit trail)",
        principal_type=PrincipalType.ROLE,
        principal_name=role,
        policy_document=document,
    )


def _disable_trust_anchor(finding: Finding) -> RemediationStep:
    if finding.target_type != "trust-anchor":
        raise _NotApplicable(
            f"the target is not a Roles Anywhere trust anchor ({finding.target_type or 'unknown'})"
        )
    anchor = finding.details.get("trustAnchorId")
    if anchor is None or _TRUST_ANCHOR_ID.fullmatch(anchor) is None:
        raise _NotApplicable(f"{anchor!r} is not a trust anchor id the event recorded")
    region = finding.region
    if region is None or _REGION.fullmatch(region) is None:
        raise _NotApplicable(f"{region!r} is not an AWS region")
    return RemediationStep(
        action=ActionName.DISABLE_TRUST_ANCHOR,
        summary=f"Disable Roles Anywhere trust anchor {anchor} in {region}: certificates it "
        "trusts get no more credentials (sessions already issued run until they expire)",
        command=shlex.join(
            [
                "aws",
                "rolesanywhere",
                "disable-trust-anchor",
                "--region",
                region,
                "--trust-anchor-id",
                anchor,
            ]
        ),
        reversible=True,
        undo="enables the trust anchor again, if it was enabled before",
        principal_type=PrincipalType.TRUST_ANCHOR,
        principal_name=anchor,
        trust_anchor_id=anchor,
        region=region,
    )


def _revoke_older_sessions(finding: Finding) -> RemediationStep:
    user = _target_user(finding)
    # The cut-off is the moment the step runs, so the shell command takes it from `date`.
    template = shlex.quote(REVOKE_SESSIONS_TEMPLATE)
    command = (
        _aws("put-user-policy", "--user-name", user, "--policy-name", REVOKE_SESSIONS_POLICY)
        + f' --policy-document "$(printf {template} "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"'
    )
    return RemediationStep(
        action=ActionName.REVOKE_OLDER_SESSIONS,
        summary=f"Deny every session of IAM user {user} issued before this step runs "
        f"(federation tokens, session tokens): inline policy {REVOKE_SESSIONS_POLICY} denying "
        "everything when aws:TokenIssueTime is earlier; the user's own keys keep working",
        command=command,
        reversible=True,
        undo=f"deletes {REVOKE_SESSIONS_POLICY} (nothing changes if the user already had it)",
        principal_type=PrincipalType.USER,
        principal_name=user,
        policy_name=REVOKE_SESSIONS_POLICY,
    )


_PLANNERS = {
    ActionName.DEACTIVATE_ACCESS_KEY: _deactivate_access_key,
    ActionName.DELETE_LOGIN_PROFILE: _delete_login_profile,
    ActionName.DETACH_POLICY: _detach_policy,
    ActionName.REMOVE_FROM_GROUP: _remove_from_group,
    ActionName.QUARANTINE_USER: _quarantine_user,
    ActionName.RESTORE_TRUST_POLICY: _restore_trust_policy,
    ActionName.DISABLE_TRUST_ANCHOR: _disable_trust_anchor,
    ActionName.REVOKE_OLDER_SESSIONS: _revoke_older_sessions,
}
