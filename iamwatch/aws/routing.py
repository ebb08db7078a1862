"""Deployment files derived from the code, so there is one source of truth.

``python -m iamwatch.aws.routing`` writes deploy/event-pattern.json (the main EventBridge
rule's pattern, from the detector registry), deploy/event-pattern-<rule name>.json for each
detector routed by a rule of its own (the name its ``own_rule`` declares), and
deploy/enrichment-actions.json (the union of the IAM read actions the detectors declare for
enrichment), which serverless.yml includes; a test fails when they are stale.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from iamwatch.registry import Detector, Registry

API_CALL = "AWS API Call via CloudTrail"
SIGN_IN = "AWS Console Sign In via CloudTrail"
# Events AWS services emit without an API call: Identity Center's sign-in events
# (UserAuthentication, eventType AwsServiceEvent) arrive with this detail type.
SERVICE_EVENT = "AWS Service Event via CloudTrail"
DETAIL_TYPES = (API_CALL, SIGN_IN, SERVICE_EVENT)
PATTERN_FILE = Path("deploy") / "event-pattern.json"
ENRICHMENT_FILE = Path("deploy") / "enrichment-actions.json"
# EventBridge's default quota for one rule's pattern, in characters (adjustable to 4,096).
PATTERN_QUOTA = 2048


def _freeze(detail: Mapping[str, Any]) -> bytes:
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS)


def detection_pattern(registry: Registry) -> dict[str, Any]:
    """The main rule's pattern: every detector without a rule of its own, plus the events
    own-rule detectors ask the main rule to route too."""
    shared = [item for item in registry if item.meta.own_rule is None]
    mirrored = {
        source: names for item in registry for source, names in item.meta.main_rule_events.items()
    }
    return _pattern(shared, extra_events=mirrored)


def own_rule_patterns(registry: Registry) -> dict[str, dict[str, Any]]:
    """The pattern of each detector routed by a rule of its own, by rule name."""
    return {
        item.meta.own_rule: _pattern([item]) for item in registry if item.meta.own_rule is not None
    }


def own_rule_file(rule: str) -> Path:
    return Path("deploy") / f"event-pattern-{rule}.json"


def rule_patterns(registry: Registry) -> dict[Path, dict[str, Any]]:
    """Every rule's pattern, by the file serverless.yml includes it from."""
    patterns = {PATTERN_FILE: detection_pattern(registry)}
    for rule, pattern in own_rule_patterns(registry).items():
        patterns[own_rule_file(rule)] = pattern
    return patterns


def enrichment_actions(registry: Registry) -> list[str]:
    """The IAM actions the deployed roles grant for enrichment: the union of what the
    detectors declare, each an action of a look-up the enricher makes."""
    from iamwatch.aws.enrichment import ENRICHMENT_ACTIONS

    declared = {p for item in registry for p in item.meta.enrichment_permissions}
    unknown = sorted(declared - set(ENRICHMENT_ACTIONS))
    if unknown:
        raise ValueError(f"no enrichment look-up calls {', '.join(unknown)}")
    return sorted(declared)


def pattern_size(pattern: Mapping[str, Any]) -> int:
    """Characters of the pattern as EventBridge counts them (compact JSON, as CloudFormation
    sends it)."""
    return len(orjson.dumps(pattern).decode())


def _pattern(
    detectors: Iterable[Detector], extra_events: Mapping[str, frozenset[str]] | None = None
) -> dict[str, Any]:
    """One pattern matching exactly what the given detectors want, filtered in AWS.

    Detectors sharing an event source and the same extra conditions share a branch; each
    detector keyed on identity type (root) adds a branch on ``userIdentity.type``.
    """
    grouped: dict[tuple[str, bytes], set[str]] = {}
    extras: dict[bytes, Mapping[str, Any]] = {_freeze({}): {}}
    identity_types: set[str] = set()
    for item in detectors:
        meta = item.meta
        key = _freeze(meta.event_pattern_detail)
        extras[key] = meta.event_pattern_detail
        for source, names in meta.events.items():
            grouped.setdefault((source, key), set()).update(names)
        identity_types.update(meta.identity_types)
    for source, names in (extra_events or {}).items():
        grouped.setdefault((source, _freeze({})), set()).update(names)
    unfiltered = _freeze({})
    branches: list[dict[str, Any]] = []
    for (source, key), wanted in sorted(grouped.items()):
        if key != unfiltered and wanted <= grouped.get((source, unfiltered), set()):
            # Another detector wants these events whatever their details: a narrower branch
            # would route nothing more, and only spend the pattern's size quota.
            continue
        branches.append({"eventSource": [source], "eventName": sorted(wanted), **extras[key]})
    if identity_types:
        branches.append({"userIdentity": {"type": sorted(identity_types)}})
    # No detector reports a call that failed with an errorCode (failed sign-ins carry none),
    # so AWS can drop them before Lambda is invoked.
    detail = {"errorCode": [{"exists": False}], "$or": branches}
    # Only AWS services publish sources starting with "aws.", so an account allowed to put
    # events on the bus (an organization's, for the forwarders) cannot pass off a forged
    # CloudTrail record as one.
    aws_only = [{"prefix": "aws."}]
    return {"source": aws_only, "detail-type": list(DETAIL_TYPES), "detail": detail}


def render(registry: Registry) -> dict[Path, bytes]:
    files = {path: _json(pattern) for path, pattern in rule_patterns(registry).items()}
    files[ENRICHMENT_FILE] = _json(enrichment_actions(registry))
    return files


def _json(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def main() -> None:
    from detectors import REGISTRY

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path()
    for relative, content in render(REGISTRY).items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
