"""The CloudFormation template `make package` (osls package) produces, for tests to read."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from tests.conftest import ROOT

TEMPLATE = ROOT / ".serverless" / "cloudformation-template-update-stack.json"


@cache
def packaged_template() -> dict[str, Any]:
    assert TEMPLATE.is_file(), "no packaged template: run `make package` (make test does)"
    template: dict[str, Any] = orjson.loads(TEMPLATE.read_bytes())
    return template


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in packaged_template()["Resources"].items()
        if resource["Type"] == kind
    }


def pattern_rules() -> dict[str, dict[str, Any]]:
    """The EventBridge rules that route CloudTrail events (the others are schedules)."""
    return {
        name: rule
        for name, rule in resources_of("AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }


FORWARDER = (
    ROOT / "deploy" / "forwarder" / ".serverless" / "cloudformation-template-update-stack.json"
)


@cache
def forwarder_template() -> dict[str, Any]:
    assert FORWARDER.is_file(), "no packaged forwarder: run `make package` (make test does)"
    template: dict[str, Any] = orjson.loads(FORWARDER.read_bytes())
    return template


def forwarder_rules() -> dict[str, dict[str, Any]]:
    """The regional forwarder's rules, by logical name."""
    return {
        name: resource
        for name, resource in forwarder_template()["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
    }
