"""The concrete next steps for each recommendation, as AWS CLI commands.

Every name in a command comes from IAM (user, group, policy and tag values an attacker may
have chosen), so each is shell-quoted; placeholders in angle brackets are what the operator
fills in (the Identity Center instance, a new role's trust policy).
"""

from __future__ import annotations

from shlex import quote

from iamwatch.inventory.classify import Classification
from iamwatch.inventory.model import Identity, Recommendation

INSTANCE = "<instance-arn>"
STORE = "<identity-store-id>"


def _policies(identity: Identity) -> list[str]:
    return list(dict.fromkeys(identity.attached_policies + identity.group_policies))


def _identity_center(identity: Identity) -> list[str]:
    user = quote(identity.user)
    steps = []
    if identity.identity_center_user:
        steps.append(f"# already in Identity Center as {identity.identity_center_user}")
    else:
        steps.append(
            f"aws identitystore create-user --identity-store-id {STORE} --user-name {user} "
            f"--display-name {user} --name GivenName=<given>,FamilyName=<family>"
        )
    permission_set = quote(f"{identity.user}-access"[:32])
    steps.append(
        f"aws sso-admin create-permission-set --instance-arn {INSTANCE} --name {permission_set}"
    )
    for arn in _policies(identity):
        steps.append(
            f"aws sso-admin attach-managed-policy-to-permission-set --instance-arn {INSTANCE} "
            f"--permission-set-arn <permission-set-arn> --managed-policy-arn {quote(arn)}"
        )
    for policy in identity.inline_policies:
        steps.append(
            f"aws iam get-user-policy --user-name {user} --policy-name {quote(policy.name)} "
            "--query PolicyDocument > inline.json && aws sso-admin "
            f"put-inline-policy-to-permission-set --instance-arn {INSTANCE} "
            "--permission-set-arn <permission-set-arn> --inline-policy file://inline.json"
        )
    steps.append(
        f"aws sso-admin create-account-assignment --instance-arn {INSTANCE} "
        f"--target-id {identity.account or '<account-id>'} --target-type AWS_ACCOUNT "
        "--permission-set-arn <permission-set-arn> --principal-type USER "
        "--principal-id <identity-center-user-id>"
    )
    steps.append(f"aws iam delete-login-profile --user-name {user}")
    return steps


def _role(identity: Identity, roles_anywhere: bool | None) -> list[str]:
    role = quote(f"{identity.user}-workload"[:64])
    user = quote(identity.user)
    steps = [
        f"aws iam create-role --role-name {role} --assume-role-policy-document "
        "file://trust.json  # trust the service (or account) that runs the program"
    ]
    steps += [
        f"aws iam attach-role-policy --role-name {role} --policy-arn {quote(arn)}"
        for arn in _policies(identity)
    ]
    for policy in identity.inline_policies:
        name = quote(policy.name)
        steps.append(
            f"aws iam get-user-policy --user-name {user} --policy-name {name} --query "
            f"PolicyDocument > {name}.json && aws iam put-role-policy --role-name {role} "
            f"--policy-name {name} --policy-document file://{name}.json"
        )
    if roles_anywhere is not False:
        steps.append(
            "aws rolesanywhere create-trust-anchor --name <ca-name> --source "
            "sourceType=AWS_ACM_PCA,sourceData={acmPcaArn=<ca-arn>} --enabled  "
            "# outside AWS: IAM Roles Anywhere"
        )
        steps.append(
            f"aws rolesanywhere create-profile --name {role} --role-arns "
            f"arn:aws:iam::{identity.account or '<account-id>'}:role/{role} --enabled"
        )
    steps += _deactivate_keys(identity)
    return steps


def _deactivate_keys(identity: Identity) -> list[str]:
    user = quote(identity.user)
    return [
        f"aws iam update-access-key --user-name {user} --access-key-id "
        f"{quote(key.key_id) if key.key_id else f'<key-{key.slot}-id>'} --status Inactive"
        for key in identity.active_keys
    ]


def _remove(identity: Identity) -> list[str]:
    user = quote(identity.user)
    steps = _deactivate_keys(identity)
    if identity.password_enabled:
        steps.append(f"aws iam delete-login-profile --user-name {user}")
    steps += [
        f"aws iam remove-user-from-group --user-name {user} --group-name {quote(group)}"
        for group in identity.groups
    ]
    steps += [
        f"aws iam detach-user-policy --user-name {user} --policy-arn {quote(arn)}"
        for arn in identity.attached_policies
    ]
    steps += [
        f"aws iam delete-user-policy --user-name {user} --policy-name {quote(policy.name)}"
        for policy in identity.inline_policies
    ]
    steps.append(
        f"aws iam list-mfa-devices --user-name {user}  # deactivate each, then delete the keys"
    )
    steps.append(f"aws iam delete-user --user-name {user}")
    return steps


def _secure_root(identity: Identity) -> list[str]:
    steps = []
    for key in identity.active_keys:
        key_id = quote(key.key_id) if key.key_id else "<root-key-id>"
        steps.append(f"aws iam delete-access-key --access-key-id {key_id}  # signed in as root")
    if not identity.mfa_active:
        steps.append(
            "aws iam create-virtual-mfa-device --virtual-mfa-device-name root-mfa "
            "--outfile root-mfa.png --bootstrap-method QRCodePNG  # as root; prefer a hardware key"
        )
        steps.append(
            "aws iam enable-mfa-device --user-name root --serial-number <serial> "
            "--authentication-code1 <code1> --authentication-code2 <code2>"
        )
    return steps


def _keep(identity: Identity, classification: Classification) -> list[str]:
    if identity.is_root:
        return ["# nothing to change; alert on every root use (iamwatch does)"]
    return [
        f"aws iam list-mfa-devices --user-name {quote(identity.user)}  # test the break-glass "
        "procedure; iamwatch alerts on every sign-in"
    ]


def next_steps(identity: Identity, classification: Classification) -> tuple[str, ...]:
    chosen = classification.recommendation
    if chosen is Recommendation.IDENTITY_CENTER:
        return tuple(_identity_center(identity))
    if chosen is Recommendation.ROLE:
        return tuple(_role(identity, classification.roles_anywhere))
    if chosen is Recommendation.SPLIT:
        person = [step for step in _identity_center(identity) if "delete-login-profile" in step]
        return (
            "# the person: move to Identity Center",
            *_identity_center(identity)[:-1],
            "# the program: move to a role",
            *_role(identity, classification.roles_anywhere),
            *person,
        )
    if chosen is Recommendation.REMOVE:
        return tuple(_remove(identity))
    if chosen is Recommendation.SECURE_ROOT:
        return tuple(_secure_root(identity))
    return tuple(_keep(identity, classification))
