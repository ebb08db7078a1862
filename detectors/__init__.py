"""The detector catalogue. Registration is explicit: a detector exists when it is listed here
(or, from another package, through the ``iamwatch.detectors`` entry points: iamwatch.plugins)."""

from detectors import (
    access_key_created,
    access_key_reactivated,
    admin_policy_attached,
    cloudtrail_tampering,
    console_login_failures,
    console_login_without_mfa,
    console_password_created,
    console_password_reset,
    console_takeover_sequence,
    federation_token_issued,
    iam_user_backdoor_sequence,
    iam_user_created,
    iamwatch_tampering,
    identity_center_admin_assignment,
    identity_center_sign_in_without_mfa,
    identity_provider_changed,
    inline_user_policy,
    mfa_device_removed,
    mfa_removed_then_sign_in,
    password_policy_weakened,
    permissions_boundary_removed,
    role_trust_opened,
    roles_anywhere_trust_anchor_created,
    root_account_used,
    user_added_to_group,
)
from iamwatch.plugins import installed_detectors
from iamwatch.registry import Registry

REGISTRY = Registry(
    [
        iam_user_created.detect,
        access_key_created.detect,
        console_login_without_mfa.detect,
        root_account_used.detect,
        console_password_created.detect,
        mfa_device_removed.detect,
        admin_policy_attached.detect,
        inline_user_policy.detect,
        permissions_boundary_removed.detect,
        access_key_reactivated.detect,
        user_added_to_group.detect,
        console_login_failures.detect,
        password_policy_weakened.detect,
        cloudtrail_tampering.detect,
        identity_center_admin_assignment.detect,
        iamwatch_tampering.detect,
        identity_center_sign_in_without_mfa.detect,
        identity_provider_changed.detect,
        role_trust_opened.detect,
        console_password_reset.detect,
        federation_token_issued.detect,
        roles_anywhere_trust_anchor_created.detect,
        # Sequences last: their findings follow those of the events they link.
        iam_user_backdoor_sequence.detect,
        console_takeover_sequence.detect,
        mfa_removed_then_sign_in.detect,
    ],
    plugins=installed_detectors(),
)
