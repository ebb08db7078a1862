"""The IAM side of remediation: read a step's current state, change it, change it back.

Every step is read before and after it is applied, and both states go to the audit trail; undo
works from the saved "before", so it restores what was there (an inline policy's document, a
key's earlier status) rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from iamwatch.remediation.plan import (
    REVOKE_SESSIONS_TEMPLATE,
    ActionName,
    PrincipalType,
    RemediationStep,
)

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

State = dict[str, Any]
# A Roles Anywhere client for a region (trust anchors live in one region each). botocore
# ships the service's model, but moto does not serve it; typed as Any for that reason too.
RegionalClient = Callable[[str], Any]


def _canonical(document: Any) -> str:
    """A policy document as compact JSON with sorted keys, to compare and to store."""
    parsed = orjson.loads(document) if isinstance(document, str) else document
    return orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS).decode()


class IrreversibleError(ValueError):
    pass


class IamSteps:
    """Applies and reverts plan steps with one IAM client (a boto3 ``iam`` client)."""

    def __init__(
        self,
        iam: IAMClient,
        rolesanywhere: RegionalClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._iam = iam
        self._rolesanywhere = rolesanywhere
        self._clock = clock

    def read(self, step: RemediationStep) -> State:
        """The part of IAM this step changes, as it is now."""
        iam, name = self._iam, step.principal_name
        match step.action:
            case ActionName.DEACTIVATE_ACCESS_KEY:
                keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
                status = next(
                    (k["Status"] for k in keys if k["AccessKeyId"] == step.access_key_id),
                    "missing",
                )
                return {"status": status}
            case ActionName.DELETE_LOGIN_PROFILE:
                try:
                    profile = iam.get_login_profile(UserName=name)["LoginProfile"]
                except iam.exceptions.NoSuchEntityException:
                    return {"login_profile": False}
                return {"login_profile": True, "created": profile["CreateDate"].isoformat()}
            case ActionName.REMOVE_FROM_GROUP:
                groups = iam.list_groups_for_user(UserName=name)["Groups"]
                return {"member": any(g["GroupName"] == step.group_name for g in groups)}
            case ActionName.QUARANTINE_USER | ActionName.DETACH_POLICY if step.policy_arn:
                return {"attached": step.policy_arn in self._attached(step)}
            case ActionName.DETACH_POLICY | ActionName.REVOKE_OLDER_SESSIONS:
                return self._inline_policy(step)
            case ActionName.RESTORE_TRUST_POLICY:
                role = iam.get_role(RoleName=name)["Role"]
                return {"document": _canonical(role["AssumeRolePolicyDocument"])}
            case ActionName.DISABLE_TRUST_ANCHOR:
                return self._trust_anchor(step)
        raise AssertionError(step.action)

    def principal(self, step: RemediationStep) -> tuple[str, dict[str, str]] | None:
        """The real ARN (with its IAM path) and the tags of the user or role a step changes;
        None for a group or trust anchor (not principals) or one that does not exist (the step
        then fails on its own)."""
        iam, name = self._iam, step.principal_name
        try:
            match step.principal_type:
                case PrincipalType.USER:
                    user = iam.get_user(UserName=name)["User"]
                    arn, tags = user["Arn"], user.get("Tags", [])
                case PrincipalType.ROLE:
                    role = iam.get_role(RoleName=name)["Role"]
                    arn, tags = role["Arn"], role.get("Tags", [])
                case _:  # a group or a trust anchor: not a principal that can be protected
                    return None
        except iam.exceptions.NoSuchEntityException:
            return None
        return arn, {tag["Key"]: tag["Value"] for tag in tags}

    def apply(self, step: RemediationStep, before: State) -> bool:
        """Make the change unless it is already in place; True when something changed."""
        iam, name = self._iam, step.principal_name
        match step.action:
            case ActionName.DEACTIVATE_ACCESS_KEY:
                if before["status"] != "Active":
                    return False
                assert step.access_key_id is not None
                iam.update_access_key(
                    UserName=name, AccessKeyId=step.access_key_id, Status="Inactive"
                )
            case ActionName.DELETE_LOGIN_PROFILE:
                if not before["login_profile"]:
                    return False
                iam.delete_login_profile(UserName=name)
            case ActionName.REMOVE_FROM_GROUP:
                if not before["member"]:
                    return False
                assert step.group_name is not None
                iam.remove_user_from_group(UserName=name, GroupName=step.group_name)
            case ActionName.QUARANTINE_USER:
                if before["attached"]:
                    return False
                assert step.policy_arn is not None
                iam.attach_user_policy(UserName=name, PolicyArn=step.policy_arn)
            case ActionName.DETACH_POLICY if step.policy_arn:
                if not before["attached"]:
                    return False
                self._detach(step)
            case ActionName.DETACH_POLICY:
                if not before["present"]:
                    return False
                self._delete_inline(step)
            case ActionName.RESTORE_TRUST_POLICY:
                assert step.policy_document is not None
                if before["document"] == _canonical(step.policy_document):
                    return False
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=step.policy_document)
            case ActionName.DISABLE_TRUST_ANCHOR:
                if before["enabled"] is not True:
                    return False
                self._anchors(step).disable_trust_anchor(trustAnchorId=step.trust_anchor_id)
            case ActionName.REVOKE_OLDER_SESSIONS:
                if before["present"]:
                    # Already revoked (the policy records when); applying twice changes nothing.
                    return False
                # Every session issued before now is denied from now on.
                cutoff = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                self._put_inline(step, REVOKE_SESSIONS_TEMPLATE % cutoff)
        return True

    def revert(self, step: RemediationStep, before: State) -> bool:
        """Put back what ``apply`` changed, from the state saved before it; True when something
        changed (False: it is already back, e.g. someone restored it by hand)."""
        iam, name = self._iam, step.principal_name
        now = self.read(step)
        match step.action:
            case ActionName.DELETE_LOGIN_PROFILE:
                raise IrreversibleError(step.undo)
            case ActionName.DEACTIVATE_ACCESS_KEY:
                if now["status"] == before["status"] or now["status"] == "missing":
                    return False
                assert step.access_key_id is not None
                iam.update_access_key(
                    UserName=name, AccessKeyId=step.access_key_id, Status=before["status"]
                )
            case ActionName.REMOVE_FROM_GROUP:
                if now["member"]:
                    return False
                assert step.group_name is not None
                iam.add_user_to_group(UserName=name, GroupName=step.group_name)
            case ActionName.QUARANTINE_USER:
                if not now["attached"]:
                    return False
                assert step.policy_arn is not None
                iam.detach_user_policy(UserName=name, PolicyArn=step.policy_arn)
            case ActionName.DETACH_POLICY if step.policy_arn:
                if now["attached"]:
                    return False
                self._attach(step)
            case ActionName.DETACH_POLICY:
                if now["present"]:
                    return False
                self._put_inline(step, before["document"])
            case ActionName.RESTORE_TRUST_POLICY:
                if now["document"] == before["document"]:
                    return False
                iam.update_assume_role_policy(RoleName=name, PolicyDocument=before["document"])
            case ActionName.DISABLE_TRUST_ANCHOR:
                if before["enabled"] is not True or now["enabled"] is not False:
                    return False
                self._anchors(step).enable_trust_anchor(trustAnchorId=step.trust_anchor_id)
            case ActionName.REVOKE_OLDER_SESSIONS:
                if not now["present"]:
                    return False
                self._delete_inline(step)
        return True

    def _anchors(self, step: RemediationStep) -> Any:
        if self._rolesanywhere is None or step.region is None:
            raise ValueError("no Roles Anywhere client for this step")
        return self._rolesanywhere(step.region)

    def _trust_anchor(self, step: RemediationStep) -> State:
        client = self._anchors(step)
        try:
            anchor = client.get_trust_anchor(trustAnchorId=step.trust_anchor_id)["trustAnchor"]
        except client.exceptions.ResourceNotFoundException:
            return {"enabled": None}
        return {"enabled": bool(anchor["enabled"]), "name": anchor.get("name")}

    def _attached(self, step: RemediationStep) -> set[str]:
        iam, name = self._iam, step.principal_name
        match step.principal_type:
            case PrincipalType.USER:
                pages = iam.get_paginator("list_attached_user_policies").paginate(UserName=name)
            case PrincipalType.GROUP:
                pages = iam.get_paginator("list_attached_group_policies").paginate(GroupName=name)
            case PrincipalType.ROLE:
                pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        return {policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]}

    def _attach(self, step: RemediationStep) -> None:
        iam, name, arn = self._iam, step.principal_name, step.policy_arn
        assert arn is not None
        match step.principal_type:
            case PrincipalType.USER:
                iam.attach_user_policy(UserName=name, PolicyArn=arn)
            case PrincipalType.GROUP:
                iam.attach_group_policy(GroupName=name, PolicyArn=arn)
            case PrincipalType.ROLE:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)

    def _detach(self, step: RemediationStep) -> None:
        iam, name, arn = self._iam, step.principal_name, step.policy_arn
        assert arn is not None
        match step.principal_type:
            case PrincipalType.USER:
                iam.detach_user_policy(UserName=name, PolicyArn=arn)
            case PrincipalType.GROUP:
                iam.detach_group_policy(GroupName=name, PolicyArn=arn)
            case PrincipalType.ROLE:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)

    def _inline_policy(self, step: RemediationStep) -> State:
        iam, name, policy = self._iam, step.principal_name, step.policy_name
        assert policy is not None
        raw: Any
        try:
            match step.principal_type:
                case PrincipalType.USER:
                    raw = iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]
                case PrincipalType.GROUP:
                    raw = iam.get_group_policy(GroupName=name, PolicyName=policy)["PolicyDocument"]
                case PrincipalType.ROLE:
                    raw = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        except iam.exceptions.NoSuchEntityException:
            return {"present": False}
        # boto3 hands back the URL-decoded document as a dict; keep it as JSON text.
        text = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
        return {"present": True, "document": text}

    def _delete_inline(self, step: RemediationStep) -> None:
        iam, name, policy = self._iam, step.principal_name, step.policy_name
        assert policy is not None
        match step.principal_type:
            case PrincipalType.USER:
                iam.delete_user_policy(UserName=name, PolicyName=policy)
            case PrincipalType.GROUP:
                iam.delete_group_policy(GroupName=name, PolicyName=policy)
            case PrincipalType.ROLE:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)

    def _put_inline(self, step: RemediationStep, document: str) -> None:
        iam, name, policy = self._iam, step.principal_name, step.policy_name
        assert policy is not None
        match step.principal_type:
            case PrincipalType.USER:
                iam.put_user_policy(UserName=name, PolicyName=policy, PolicyDocument=document)
            case PrincipalType.GROUP:
                iam.put_group_policy(GroupName=name, PolicyName=policy, PolicyDocument=document)
            case PrincipalType.ROLE:
                iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=document)
