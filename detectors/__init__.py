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
    iam_user_created,
    iamwatch_tampering,
    identity_center_admin_assignment,
    inline_user_policy,
    mfa_device_removed,
    password_policy_weakened,
    permissions_boundary_removed,
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
    ],
    plugins=installed_detectors(),
)
