"""root-account-used: the root user itself made a call."""

from collections.abc import Iterator

from detectors._common import where
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="root-account-used",
    title="Root user activity",
    severity=Severity.CRITICAL,
    description=(
        "any successful call by the root user, except calls an AWS service made on its behalf"
    ),
    severity_rules="Always critical.",
    next_step="Reach the root credential's custodian now and confirm the activity was planned.",
    asff_type="Software and Configuration Checks/AWS Security Best Practices",
    attack_techniques=("T1078.004",),
    identity_types=frozenset({"Root"}),
)


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    # Services such as AWS Support act with root's identity; that is not a person using root.
    if record.failed or record.via_aws_service:
        return
    account = record.account_id
    yield Hit(
        summary=f"The root user called {record.event_source.split('.')[0]}:{record.event_name} "
        f"{where(record)}.",
        target=f"root of {account}" if account else "root",
        target_type="root",
        # One alert per root session is enough; repeats within the dedup window are counted.
        dedup_key=f"{META.id}:{account or '-'}:{record.source_ip_address or '-'}",
    )
