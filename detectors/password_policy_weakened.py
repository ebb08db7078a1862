"""password-policy-weakened: the account password policy was deleted or set below baseline."""

from collections.abc import Iterator

from detectors._common import IAM, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="password-policy-weakened",
    title="Account password policy weakened",
    severity=Severity.MEDIUM,
    description=(
        "DeleteAccountPasswordPolicy; UpdateAccountPasswordPolicy below the CIS baseline (length "
        "14, reuse prevention 24)"
    ),
    severity_rules="Always medium.",
    next_step="Restore a policy that meets the baseline and ask who changed it and why.",
    asff_type="Software and Configuration Checks/Industry and Regulatory Standards",
    attack_techniques=("T1556",),
    events={IAM: frozenset({"UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy"})},
    recommendation=(
        "Fewer IAM passwords means less riding on this policy: sign people in through IAM "
        "Identity Center instead."
    ),
)

# CIS AWS Foundations Benchmark recommendations for the IAM password policy.
MINIMUM_LENGTH = 14
MINIMUM_REUSE_PREVENTION = 24


def shortfalls(record: CloudTrailRecord) -> list[str]:
    found = []
    length = record.request.get_int("minimumPasswordLength")
    if length is None or length < MINIMUM_LENGTH:
        found.append(f"minimum length {length or 'default (8)'} < {MINIMUM_LENGTH}")
    reuse = record.request.get_int("passwordReusePrevention")
    if reuse is None or reuse < MINIMUM_REUSE_PREVENTION:
        found.append(f"reuse prevention {reuse or 'none'} < {MINIMUM_REUSE_PREVENTION}")
    return found


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    account = record.account_id
    if record.event_name == "DeleteAccountPasswordPolicy":
        summary = f"{who(record)} deleted the account password policy {where(record)}."
        details = {}
    else:
        problems = shortfalls(record)
        if not problems:
            return
        summary = (
            f"{who(record)} set a password policy below baseline ({'; '.join(problems)}) "
            f"{where(record)}."
        )
        details = {"shortfalls": "; ".join(problems)}
    yield Hit(summary=summary, target=account, target_type="account", details=details)
