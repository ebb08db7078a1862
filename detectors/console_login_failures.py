"""console-login-failures: repeated failed console sign-ins for one user or from one address."""

from collections.abc import Iterator

from detectors._common import SIGNIN, state_key, where
from iamwatch.events import CloudTrailRecord
from iamwatch.registry import DetectionContext, DetectorMeta, Hit, detector
from iamwatch.severity import Severity

META = DetectorMeta(
    id="console-login-failures",
    title="Repeated console sign-in failures",
    severity=Severity.MEDIUM,
    description=(
        "failed ConsoleLogin reaching a threshold per user or per source IP in a window "
        "(`IAMWATCH_LOGIN_FAILURE_THRESHOLD`, default 5; `IAMWATCH_LOGIN_FAILURE_WINDOW_SECONDS`, "
        "default 900)"
    ),
    severity_rules="Always medium. Threshold and window are settings.",
    next_step="Check whether the address is known; if not, block it and check the user's MFA.",
    asff_type="TTPs/Credential Access",
    attack_techniques=("T1110.001", "T1110.003"),
    events={SIGNIN: frozenset({"ConsoleLogin"})},
    enrichment_permissions=("iam:ListMFADevices", "iam:GetLoginProfile"),
    event_pattern_detail={"responseElements": {"ConsoleLogin": ["Failure"]}},
    stateful=True,
)

# CloudTrail hides the name typed for a user that does not exist.
_HIDDEN_USER = "HIDDEN_DUE_TO_SECURITY_REASONS"


@detector(META)
def detect(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    if record.console_login_result != "Failure":
        return
    settings = context.settings
    window = settings.login_failure_window
    threshold = settings.login_failure_threshold
    account = record.account_id or "-"
    user = record.principal.display
    keys: list[tuple[str, str]] = []
    if user and user != _HIDDEN_USER:
        keys.append((state_key(f"{META.id}:user:{account}:{user}"), f"IAM user {user}"))
    if record.source_ip_address:
        keys.append(
            (state_key(f"{META.id}:ip:{record.source_ip_address}"), record.source_ip_address)
        )
    event_id = state_key(record.event_id)
    counts = {
        key: context.state.count_in_window(key, event_id, record.event_time, window)
        for key, _ in keys
    }
    over = [(key, label) for key, label in keys if counts[key] >= threshold]
    if not over:
        return
    # Claim every key over the threshold at once, so one burst raises one finding.
    claimed = [
        (key, label)
        for key, label in over
        if context.state.claim(key, event_id, record.event_time, window)
    ]
    if not claimed:
        return
    key, label = claimed[0]
    minutes = int(window.total_seconds() // 60)
    counted = ", ".join(f"{counts[k]} for {lbl}" for k, lbl in claimed)
    yield Hit(
        summary=f"Failed console sign-ins reached the threshold of {threshold} in "
        f"{minutes} minutes ({counted}), the latest {where(record)}.",
        target=user if key.startswith(f"{META.id}:user:") else label,
        target_type="iam-user" if key.startswith(f"{META.id}:user:") else "source-ip",
        dedup_key=key,
        details={"failures": str(counts[key]), "windowMinutes": str(minutes)},
    )
