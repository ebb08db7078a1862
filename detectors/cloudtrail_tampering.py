"""cloudtrail-tampering: logging was stopped, deleted or narrowed."""

from collections.abc import Iterator

from detectors._common import CLOUDTRAIL, where, who
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="cloudtrail-tampering",
    title="CloudTrail logging tampered with",
    severity=Severity.CRITICAL,
    description="cloudtrail StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors",
    severity_rules="Always critical.",
    next_step="Restart or restore the trail now, then find out who changed it and what they did.",
    asff_type="TTPs/Defense Evasion",
    attack_techniques=("T1562.008",),
    events={
        CLOUDTRAIL: frozenset({"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"})
    },
    remediation_actions=("quarantine-user",),
)

_VERBS = {
    "StopLogging": "stopped logging on",
    "DeleteTrail": "deleted",
    "UpdateTrail": "reconfigured",
    "PutEventSelectors": "changed the event selectors of",
}


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.failed:
        return
    trail = record.request.get_str("name") or record.request.get_str("trailName")
    yield Hit(
        summary=f"{who(record)} {_VERBS.get(record.event_name, 'changed')} trail "
        f"{trail or '(unknown)'} {where(record)}.",
        target=trail,
        target_type="trail",
    )
