"""A virtual MFA device's name is free text: it never picks who a finding (or its remediation
plan) is about (issue 12, defect 1).

Anyone allowed to manage their own virtual device (AWS's self-manage-MFA example policy allows
``mfa/*``) can name one after the break-glass user and delete it. The device's real owner is
only known from IAM itself: the ``DeactivateMFADevice`` that must precede deleting an assigned
device names the user, and IAM checked that the device was theirs.
"""

from __future__ import annotations

import copy
from typing import Any

from iamwatch.remediation import ActionName, plan_remediation
from tests.conftest import EVENTS_DIR, load_case, new_engine, run_records

CASE = EVENTS_DIR / "mfa-device-removed"
ACCOUNT = "123456789012"


def _records(name: str) -> list[dict[str, Any]]:
    return copy.deepcopy(load_case(CASE / f"{name}.json").records)


def mallory_deletes_device_named(device: str, event_id: str) -> dict[str, Any]:
    """mallory (an ordinary IAM user) deletes a virtual MFA device she named ``device``."""
    (record,) = _records("positive_delete_virtual_mfa_device_is_high")
    record["userIdentity"].update(
        arn=f"arn:aws:iam::{ACCOUNT}:user/mallory", userName="mallory", principalId="AIDAMALLORY"
    )
    record["requestParameters"] = {"serialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/{device}"}
    record["eventID"] = event_id
    return record


def test_a_device_named_after_the_break_glass_user_does_not_target_that_user() -> None:
    record = mallory_deletes_device_named(
        "break-glass-admin", "0f0e0d0c-0000-4000-8000-00000000bad1"
    )
    (finding,) = [f for f in run_records([record]) if f.detector == "mfa-device-removed"]

    assert finding.target_type == "mfa-device"
    assert finding.target == f"arn:aws:iam::{ACCOUNT}:mfa/break-glass-admin"
    assert "IAM user break-glass-admin" not in finding.summary
    plan = plan_remediation(finding)
    assert all(step.principal_name != "break-glass-admin" for step in plan.steps)
    # Whoever deleted the device is an IAM user: containing the caller is the response.
    assert [(s.action, s.principal_name) for s in plan.steps] == [
        (ActionName.QUARANTINE_USER, "mallory")
    ]
    (skipped,) = plan.not_applicable
    assert skipped.action is ActionName.DELETE_LOGIN_PROFILE


def test_the_owner_named_by_the_preceding_deactivation_is_the_target() -> None:
    """IAM refuses to delete an assigned device, so its owner deactivated it first; that
    call names the user, and IAM checked the device was theirs."""
    deactivate, delete = _records(
        "positive_user_deactivates_and_deletes_own_mfa_raises_two_findings"
    )
    # The device is named after someone else; its owner is still marco.rossi.
    serial = "arn:aws:iam::111122223333:mfa/ceo"
    deactivate["requestParameters"]["serialNumber"] = serial
    delete["requestParameters"]["serialNumber"] = serial
    engine = new_engine()
    first = run_records([deactivate], engine)
    (deleted,) = run_records([delete], engine)
    assert [f.target for f in first] == ["marco.rossi"]
    assert (deleted.target, deleted.target_type) == ("marco.rossi", "iam-user")
    assert "of IAM user marco.rossi" in deleted.summary


def test_a_failed_deactivation_teaches_nothing_about_the_owner() -> None:
    deactivate, delete = _records(
        "positive_user_deactivates_and_deletes_own_mfa_raises_two_findings"
    )
    deactivate["errorCode"] = "NoSuchEntity"
    deactivate["requestParameters"]["userName"] = "ceo"
    engine = new_engine()
    assert run_records([deactivate], engine) == []
    (deleted,) = run_records([delete], engine)
    assert deleted.target_type == "mfa-device"
