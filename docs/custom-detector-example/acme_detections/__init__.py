"""Acme's own iamwatch detections (the worked example of docs/custom-detectors.md)."""

from collections.abc import Iterator

from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

# Acme's policy: role sessions last at most an hour, so a leaked session dies quickly.
MAX_SESSION_SECONDS = 3600

META = DetectorMeta(
    id="acme.long-session-role",
    title="Role allows sessions longer than an hour",
    severity=Severity.MEDIUM,
    description="iam CreateRole or UpdateRole with MaxSessionDuration over 3,600 seconds",
    severity_rules="Medium; high over 8 hours.",
    next_step="Ask the role's owner why; set MaxSessionDuration back to 3600.",
    asff_type="Software and Configuration Checks/AWS Security Best Practices",
    attack_techniques=("T1078.004",),
    events={"iam.amazonaws.com": frozenset({"CreateRole", "UpdateRole"})},
    runbook_url="https://wiki.example.com/security/runbooks/long-session-role",
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    seconds = record.request.get_int("maxSessionDuration")
    if seconds is None or seconds <= MAX_SESSION_SECONDS:
        return  # absent (the default is an hour), not a number, or within policy
    role = record.request.get_str("roleName")
    yield Hit(
        summary=f"Role {role or '(unnamed)'} allows sessions of {seconds // 3600} hours.",
        target=role,
        target_type="iam-role",
        severity=Severity.HIGH if seconds > 8 * 3600 else None,
        details={"maxSessionDuration": str(seconds)},
    )


DETECTORS = [detect]
