"""The detector registry: metadata declared once per detector, strict explicit registration.

A detector is a pure function from a typed record (plus the detection context, which only
stateful detectors use) to zero or more ``Hit``s. Its metadata is the one place its facts are
declared: dispatch, the EventBridge patterns, the runbook link, the catalogue shown to users
(and generated into README), the ASFF and OCSF exports, the remediation actions offered, and
the IAM look-ups enrichment makes (and the permissions deployed for them) all derive from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from iamwatch.inventory.view import InventoryView, NoInventory
from iamwatch.severity import Severity

if TYPE_CHECKING:
    from iamwatch.events import CloudTrailRecord
    from iamwatch.finding import EventRef, LinkedEvent
    from iamwatch.state import StateStore

# Lowercase words joined by hyphens; a detector from another package (a plugin) puts its
# namespace first, "acme.role-assumed-from-home", so it can never shadow a built-in one.
_ID_PATTERN = re.compile(r"^(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)?[a-z0-9]+(?:-[a-z0-9]+)*$")
_RUNBOOK_URL_PATTERN = re.compile(r"^https://[^\s<>|]+$")
_EVENT_SOURCE_PATTERN = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com$")
_EVENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9]+$")
# A MITRE ATT&CK (Enterprise) technique, or sub-technique: T1098, T1098.001.
_ATTACK_TECHNIQUE_PATTERN = re.compile(r"^T\d{4}(?:\.\d{3})?$")
# An IAM action a look-up calls: service prefix, then the API action.
_PERMISSION_PATTERN = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z0-9]+$")
_READ_ONLY_VERBS = ("Get", "List", "Describe")

# The ASFF finding type taxonomy (namespace/category), as Security Hub documents it; a
# detector's finding type is one of these, and the exported type adds its id as classifier.
ASFF_TYPES: Mapping[str, frozenset[str]] = {
    "Software and Configuration Checks": frozenset(
        {"Vulnerabilities", "AWS Security Best Practices", "Industry and Regulatory Standards"}
    ),
    "TTPs": frozenset(
        {
            "Data Exfiltration",
            "Data Destruction",
            "Initial Access",
            "Execution",
            "Persistence",
            "Privilege Escalation",
            "Defense Evasion",
            "Credential Access",
            "Discovery",
            "Lateral Movement",
            "Collection",
            "Command and Control",
        }
    ),
    "Effects": frozenset(
        {
            "Data Exposure",
            "Data Exfiltration",
            "Data Destruction",
            "Denial of Service",
            "Resource Consumption",
        }
    ),
    "Unusual Behaviors": frozenset(
        {
            "Application",
            "Network Flow",
            "IP address",
            "User",
            "VM",
            "Container",
            "Serverless",
            "Process",
            "Database",
            "Data",
        }
    ),
    "Sensitive Data Identifications": frozenset(
        {"PII", "Passwords", "Legal", "Financial", "Security", "Business"}
    ),
}


class RegistryError(Exception):
    """A detector declaration is incomplete or clashes with another one."""


@dataclass(frozen=True, slots=True)
class DetectorMeta:
    """What a detector is, declared once beside its code."""

    id: str
    title: str
    severity: Severity
    # What the detector fires on, in a line (the catalogue's "fires on" column; Markdown).
    description: str
    severity_rules: str
    next_step: str
    # The ASFF finding type's namespace and category ("TTPs/Persistence"); the export adds
    # the detector id as the classifier.
    asff_type: str
    # The MITRE ATT&CK techniques the detected activity is an instance of ("T1098.001").
    attack_techniques: tuple[str, ...]
    events: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Detectors keyed on who acted rather than on what was called (root use).
    identity_types: frozenset[str] = frozenset()
    # The automated remediation actions offered for its findings (iamwatch.runbooks'
    # REMEDIATION_ACTIONS; the runbook names them in its Remediation section).
    remediation_actions: tuple[str, ...] = ()
    # The read-only IAM actions enrichment may call for its findings: enrichment makes
    # exactly the look-ups these allow (iamwatch.aws.enrichment), and the deployed roles are
    # granted their union over the registry.
    enrichment_permissions: tuple[str, ...] = ()
    # Extra EventBridge ``detail`` conditions, so AWS filters before invoking Lambda.
    event_pattern_detail: Mapping[str, Any] = field(default_factory=dict)
    # Overrides the acting principal's recommended alternative when the point is the target.
    recommendation: str | None = None
    # Keeps state across records (``context.state``): its records must all reach the same
    # state store, in order.
    stateful: bool = False
    # The name of an EventBridge rule of its own, instead of the main rule (its pattern is
    # deploy/event-pattern-<name>.json): keeps each pattern within EventBridge's default size
    # quota (2,048 characters), and a rule that is disabled cannot route its own disabling,
    # so two rules can watch each other.
    own_rule: str | None = None
    # Of an own-rule detector's events, those the main rule routes too (the other half of
    # that mutual watch).
    main_rule_events: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Where a plugin's runbook lives (https); built-in runbooks are runbooks/<id>.md under
    # the configured runbook base URL.
    runbook_url: str | None = None

    @property
    def namespace(self) -> str | None:
        """The plugin's namespace ("acme" of "acme.role-assumed-from-home"); None: built in."""
        head, dot, _ = self.id.partition(".")
        return head if dot else None

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise RegistryError(f"detector {self.id!r}: " + "; ".join(problems))

    def _problems(self) -> Iterator[str]:
        if not _ID_PATTERN.match(self.id):
            yield (
                "id must be lowercase words joined by hyphens (a plugin's after its namespace "
                "and a dot)"
            )
        if self.runbook_url is not None and not _RUNBOOK_URL_PATTERN.match(self.runbook_url):
            yield "runbook_url must be an https URL"
        for name in ("title", "description", "severity_rules", "next_step"):
            if not getattr(self, name).strip():
                yield f"{name} is empty"
        if not isinstance(self.severity, Severity):
            yield "severity must be a Severity"
        yield from self._type_problems()
        if not self.events and not self.identity_types:
            yield "declares no events and no identity types"
        for source, names in self.events.items():
            if not _EVENT_SOURCE_PATTERN.match(source):
                yield f"event source {source!r} is not an AWS service host"
            if not names:
                yield f"event source {source!r} lists no event names"
            for name in names:
                if not _EVENT_NAME_PATTERN.match(name):
                    yield f"event name {name!r} is not an API action name"
        yield from self._action_problems()
        if self.own_rule is not None and not _ID_PATTERN.match(self.own_rule):
            yield "own_rule must name the rule in lowercase words joined by hyphens"
        if self.main_rule_events and self.own_rule is None:
            yield "main_rule_events is only for detectors with a rule of their own"
        for source, names in self.main_rule_events.items():
            if not names <= self.events.get(source, frozenset()):
                yield f"main_rule_events for {source!r} are not among its events"

    def _type_problems(self) -> Iterator[str]:
        namespace, _, category = self.asff_type.partition("/")
        if category not in ASFF_TYPES.get(namespace, ()):
            yield f"asff_type {self.asff_type!r} is not an ASFF namespace/category"
        if not self.attack_techniques:
            yield "declares no ATT&CK technique"
        for technique in self.attack_techniques:
            if not _ATTACK_TECHNIQUE_PATTERN.match(technique):
                yield f"ATT&CK technique {technique!r} is not like T1098 or T1098.001"
        if len(set(self.attack_techniques)) != len(self.attack_techniques):
            yield "attack_techniques repeats a technique"

    def _action_problems(self) -> Iterator[str]:
        from iamwatch.runbooks import REMEDIATION_ACTIONS

        for action in self.remediation_actions:
            if action not in REMEDIATION_ACTIONS:
                yield f"remediation action {action!r} is not one of {sorted(REMEDIATION_ACTIONS)}"
        if len(set(self.remediation_actions)) != len(self.remediation_actions):
            yield "remediation_actions repeats an action"
        for permission in self.enrichment_permissions:
            if not _PERMISSION_PATTERN.match(permission):
                yield f"enrichment permission {permission!r} is not like iam:GetUser"
            elif not permission.partition(":")[2].startswith(_READ_ONLY_VERBS):
                yield f"enrichment permission {permission!r} is not read-only"


@dataclass(frozen=True, slots=True)
class Hit:
    """What a detector saw; the engine turns it into a full ``Finding``."""

    summary: str
    target: str | None = None
    target_type: str | None = None
    severity: Severity | None = None
    # Groups repeats for noise control; defaults to detector, account, actor and target.
    dedup_key: str | None = None
    recommendation: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    # What the finding id derives from instead of the record's eventID. A sequence is raised by
    # whichever of its events completes it, and they arrive in any order: its finding id comes
    # from its first event, so it is the same finding however it was completed.
    identity: str | None = None
    # The events a sequence links, in the order they happened, its first event first.
    links: tuple[LinkedEvent, ...] = ()
    # The event the finding is about, when it is not the record evaluated (a sequence reports
    # its last event in time, whichever event completed it).
    event: EventRef | None = None


DEFAULT_SELF_PREFIX = "iamwatch-"
DEFAULT_SLACK_PARAMETER = "/iamwatch/slack-token"


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    login_failure_threshold: int = 5
    login_failure_window: timedelta = timedelta(minutes=15)
    # What makes a resource iamwatch's own, for the self-tamper detector: the names the
    # deployment gives its functions, rules, roles, queues, tables and stack start with this
    # prefix...
    self_prefix: str = DEFAULT_SELF_PREFIX
    # ...and the Slack token lives in this SSM parameter or Secrets Manager secret.
    self_token_parameter: str = DEFAULT_SLACK_PARAMETER
    self_token_secret: str | None = None
    # Accounts (besides each record's own) and AWS Organizations a role may trust.
    trusted_accounts: frozenset[str] = frozenset()
    trusted_organizations: frozenset[str] = frozenset()
    # How long the steps of a backdoored IAM user (created, credential, admin) may span.
    backdoor_window: timedelta = timedelta(hours=30)
    # ...in this account and these regions (the deployment's own; None: any, e.g. a scan of a
    # single account's logs). With organization forwarding, member accounts' events reach the
    # same bus, and their resources may well be named like iamwatch's.
    self_account: str | None = None
    self_regions: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class DetectionContext:
    """What a detector may use besides the record: settings, state for stateful ones, and
    the inventory (is this IAM user a person or a program?), which any detector may read."""

    state: StateStore
    settings: DetectionSettings = field(default_factory=DetectionSettings)
    inventory: InventoryView = field(default_factory=NoInventory)


DetectFunction = Callable[["CloudTrailRecord", DetectionContext], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Detector:
    meta: DetectorMeta
    detect: DetectFunction
    module: str

    def __call__(self, record: CloudTrailRecord, context: DetectionContext) -> Iterable[Hit]:
        return self.detect(record, context)


def detector(meta: DetectorMeta) -> Callable[[DetectFunction], Detector]:
    """Bind metadata to a detect function. Registration happens in ``detectors/__init__``."""

    def bind(function: DetectFunction) -> Detector:
        return Detector(meta=meta, detect=function, module=function.__module__)

    return bind


class Registry:
    """All detectors, indexed for dispatch by event and by identity type: the built-in ones,
    then those other packages add (``plugins``), which must carry a namespace in their ids and
    a runbook URL of their own."""

    def __init__(self, detectors: Iterable[Detector], plugins: Iterable[Detector] = ()) -> None:
        by_id: dict[str, Detector] = {}
        built_in = list(detectors)
        added = list(plugins)
        for item in built_in:
            if isinstance(item, Detector) and item.meta.namespace is not None:
                raise RegistryError(f"built-in detector {item.meta.id!r} has a namespace")
        for item in added:
            if isinstance(item, Detector) and item.meta.namespace is None:
                raise RegistryError(
                    f"plugin detector {item.meta.id!r} ({item.module}) needs a namespace: "
                    "'yourpackage.detector-name', so it cannot shadow a built-in detector"
                )
            if isinstance(item, Detector) and item.meta.runbook_url is None:
                raise RegistryError(
                    f"plugin detector {item.meta.id!r} ({item.module}) declares no runbook_url"
                )
        for item in [*built_in, *added]:
            if not isinstance(item, Detector):
                raise RegistryError(f"{item!r} is not a Detector; decorate it with @detector(META)")
            if item.meta.id in by_id:
                raise RegistryError(f"duplicate detector id {item.meta.id!r}")
            rule = item.meta.own_rule
            if rule is not None and any(other.meta.own_rule == rule for other in by_id.values()):
                raise RegistryError(f"duplicate rule name {rule!r} ({item.meta.id!r})")
            by_id[item.meta.id] = item
        self._by_id = by_id
        by_event: dict[tuple[str, str], list[Detector]] = {}
        by_identity: dict[str, list[Detector]] = {}
        for item in by_id.values():
            for source, names in item.meta.events.items():
                for name in names:
                    by_event.setdefault((source, name), []).append(item)
            for identity_type in item.meta.identity_types:
                by_identity.setdefault(identity_type, []).append(item)
        self._by_event = {key: tuple(value) for key, value in by_event.items()}
        self._by_identity = {key: tuple(value) for key, value in by_identity.items()}
        self._event_names = frozenset(name for _, name in self._by_event)
        self._dispatch_cache: dict[tuple[str, str, str | None], tuple[Detector, ...]] = {}

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, detector_id: object) -> bool:
        return detector_id in self._by_id

    def get(self, detector_id: str) -> Detector:
        try:
            return self._by_id[detector_id]
        except KeyError:
            raise KeyError(f"no detector with id {detector_id!r}") from None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    @property
    def built_in(self) -> tuple[Detector, ...]:
        """The detectors iamwatch ships (the public catalogue), without plugins."""
        return tuple(item for item in self._by_id.values() if item.meta.namespace is None)

    @property
    def identity_types(self) -> frozenset[str]:
        return frozenset(self._by_identity)

    def wants(self, event_source: str, event_name: str, identity_type: str | None) -> bool:
        """Cheap test, before any model is built, of whether any detector cares."""
        if event_name in self._event_names and (event_source, event_name) in self._by_event:
            return True
        return identity_type is not None and identity_type in self._by_identity

    def dispatch(
        self, event_source: str, event_name: str, identity_type: str | None
    ) -> tuple[Detector, ...]:
        key = (event_source, event_name, identity_type)
        cached = self._dispatch_cache.get(key)
        if cached is not None:
            return cached
        selected = list(self._by_event.get((event_source, event_name), ()))
        for item in self._by_identity.get(identity_type or "", ()):
            if item not in selected:
                selected.append(item)
        result = tuple(selected)
        self._dispatch_cache[key] = result
        return result
