"""Deployment files derived from the code, so there is one source of truth.

``python -m iamwatch.aws.routing`` writes deploy/event-pattern.json (the EventBridge pattern,
from the detector registry) and deploy/enrichment-actions.json (the IAM read actions
enrichment calls), which serverless.yml includes; a test fails when they are stale.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from iamwatch.registry import Registry

API_CALL = "AWS API Call via CloudTrail"
SIGN_IN = "AWS Console Sign In via CloudTrail"
PATTERN_FILE = Path("deploy") / "event-pattern.json"
ENRICHMENT_FILE = Path("deploy") / "enrichment-actions.json"


def _freeze(detail: Mapping[str, Any]) -> bytes:
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS)


def detection_pattern(registry: Registry) -> dict[str, Any]:
    """One pattern matching exactly what some detector wants, filtered in AWS.

    Detectors sharing an event source and the same extra conditions share a branch; each
    detector keyed on identity type (root) adds a branch on ``userIdentity.type``.
    """
    grouped: dict[tuple[str, bytes], set[str]] = {}
    extras: dict[bytes, Mapping[str, Any]] = {}
    identity_types: set[str] = set()
    for item in registry:
        meta = item.meta
        key = _freeze(meta.event_pattern_detail)
        extras[key] = meta.event_pattern_detail
        for source, names in meta.events.items():
            grouped.setdefault((source, key), set()).update(names)
        identity_types.update(meta.identity_types)
    branches: list[dict[str, Any]] = []
    for (source, key), wanted in sorted(grouped.items()):
        branches.append({"eventSource": [source], "eventName": sorted(wanted), **extras[key]})
    if identity_types:
        branches.append({"userIdentity": {"type": sorted(identity_types)}})
    # No detector reports a call that failed with an errorCode (failed sign-ins carry none),
    # so AWS can drop them before Lambda is invoked.
    detail = {"errorCode": [{"exists": False}], "$or": branches}
    return {"detail-type": [API_CALL, SIGN_IN], "detail": detail}


def render(registry: Registry) -> dict[Path, bytes]:
    from iamwatch.aws.enrichment import ENRICHMENT_ACTIONS

    return {
        PATTERN_FILE: _json(detection_pattern(registry)),
        ENRICHMENT_FILE: _json(sorted(ENRICHMENT_ACTIONS)),
    }


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
