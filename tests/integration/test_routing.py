"""EventBridge routing: the committed patterns match the registry, and the packaged template's
rules, deployed into moto's EventBridge with an SQS target, route every event a detector
needs, and nothing else; each rule reports the other being silenced."""

from __future__ import annotations

import gzip
import uuid
from dataclasses import replace
from typing import Any

import orjson
import pytest

from detectors import REGISTRY
from iamwatch.aws.routing import (
    ENRICHMENT_FILE,
    PATTERN_FILE,
    PATTERN_QUOTA,
    detection_pattern,
    enrichment_actions,
    own_rule_file,
    pattern_size,
    render,
    rule_patterns,
)
from iamwatch.registry import Registry, detector
from tests.aws import route_through_eventbridge
from tests.conftest import EXAMPLES_DIR, ROOT, detector_cases, new_engine
from tests.template import forwarder_rules, pattern_rules

# Reads what `make package` builds (osls, from npm): `make test` runs it, plain pytest does not.
pytestmark = pytest.mark.packaged


def test_committed_deploy_files_are_generated_from_the_code() -> None:
    rendered = render(REGISTRY)
    for relative, content in rendered.items():
        assert (ROOT / relative).read_bytes() == content, "run: python -m iamwatch.aws.routing"
    # No pattern file of a rule that no detector declares any more.
    patterns = {p.relative_to(ROOT) for p in (ROOT / "deploy").glob("event-pattern*.json")}
    assert patterns == set(rule_patterns(REGISTRY))


def test_own_rule_pattern_files_are_named_after_the_declared_rule() -> None:
    own = {item.meta.own_rule for item in REGISTRY if item.meta.own_rule is not None}
    assert own
    assert set(rule_patterns(REGISTRY)) == {PATTERN_FILE} | {own_rule_file(rule) for rule in own}
    assert all(own_rule_file(rule).name == f"event-pattern-{rule}.json" for rule in own)


def test_deployed_enrichment_permissions_are_the_union_the_detectors_declare() -> None:
    declared = {p for item in REGISTRY for p in item.meta.enrichment_permissions}
    assert orjson.loads((ROOT / ENRICHMENT_FILE).read_bytes()) == sorted(declared)
    undeclared = replace(
        REGISTRY.get(REGISTRY.ids[0]).meta, enrichment_permissions=("iam:GetRole",)
    )
    with pytest.raises(ValueError, match="no enrichment look-up calls iam:GetRole"):
        enrichment_actions(Registry([detector(undeclared)(lambda record, context: ())]))


def example_records() -> list[dict[str, Any]]:
    records = []
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz")):
        records.extend(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])
    return records


@pytest.fixture(scope="module")
def routing(moto_endpoint: str) -> tuple[list[dict[str, Any]], set[str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        records = example_records()
        return records, {
            e["detail"]["eventID"] for e in route_through_eventbridge(moto_endpoint, records)
        }


def test_every_event_that_raises_a_finding_is_routed(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    records, received = routing
    engine = new_engine()
    needed = set()
    for record in records:
        evaluation = engine.evaluate_raw(record)
        if evaluation is not None and evaluation.findings:
            needed.add(record["eventID"])
    assert len(needed) > 40
    assert needed - received == set()


def test_every_positive_fixture_of_every_detector_is_delivered(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    """Detector by detector: every event of a positive case that a detector wants (the steps
    of a sequence too, even those that raise nothing on their own) reaches the detect function
    through the deployed rules, with the detail type EventBridge gives it."""
    _, received = routing
    engine = new_engine()
    missing = {
        case.path.parent.name: sorted(
            {r["eventID"] for r in case.records if engine.wants(r) and not r.get("errorCode")}
            - received
        )
        for case in detector_cases()
        if case.path.stem.startswith("positive_")
    }
    assert {detector: ids for detector, ids in missing.items() if ids} == {}
    assert set(missing) == set(REGISTRY.ids)


def test_nothing_no_detector_wants_is_routed(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    records, received = routing
    engine = new_engine()
    wanted = {r["eventID"] for r in records if engine.wants(r)}
    assert received - wanted == set()
    noise = [r for r in records if not engine.wants(r)]
    assert len(noise) > 400, "the examples hold plenty of noise to be filtered out"


def test_failed_calls_are_filtered_in_aws(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    records, received = routing
    failed = {r["eventID"] for r in records if r.get("errorCode")}
    assert failed and not failed & received


def test_a_forged_record_put_on_the_bus_is_not_routed(
    routing: tuple[list[dict[str, Any]], set[str]], moto_endpoint: str
) -> None:
    """Accounts allowed on the bus (an organization's forwarders) can put events, but not
    with an ``aws.`` source: a CloudTrail record they made up is dropped in AWS."""
    records, received = routing
    forged = [r for r in records if r["eventID"] in received][:20]
    assert len(forged) == 20
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        assert route_through_eventbridge(moto_endpoint, forged, source="org.member") == []


def test_each_rule_pattern_is_within_the_eventbridge_quota() -> None:
    patterns = rule_patterns(REGISTRY)
    assert PATTERN_FILE in patterns
    assert len(patterns) == 1 + len({d.meta.own_rule for d in REGISTRY if d.meta.own_rule})
    for path, pattern in patterns.items():
        assert orjson.loads((ROOT / path).read_bytes()) == pattern
        assert pattern_size(pattern) <= PATTERN_QUOTA, path


# A rule cannot route its own disabling; the other rule must (iamwatch-tampering) --------------

SELF_PREFIX = "iamwatch-prod-"


def tampering_fixture(name: str) -> dict[str, Any]:
    path = ROOT / "tests" / "events" / "iamwatch-tampering" / f"{name}.json"
    record: dict[str, Any] = orjson.loads(path.read_bytes())["records"][0]
    return record


def rule_changes(rule: str) -> list[dict[str, Any]]:
    """Every way of silencing one rule, as CloudTrail records them."""
    base = tampering_fixture("positive_disable_main_rule")
    requests = {
        "DisableRule": {"name": rule},
        "DeleteRule": {"name": rule},
        "PutRule": {"name": rule, "state": "DISABLED", "eventPattern": '{"source":["none"]}'},
        "RemoveTargets": {"rule": rule, "ids": ["detect"]},
        "PutTargets": {"rule": rule, "targets": [{"id": "x", "arn": "arn:aws:sqs:::elsewhere"}]},
    }
    return [
        {**base, "eventName": name, "requestParameters": request, "eventID": str(uuid.uuid4())}
        for name, request in requests.items()
    ]


def tampering_findings(records: list[dict[str, Any]]) -> list[Any]:
    engine = new_engine(self_prefix=SELF_PREFIX)
    findings = []
    for record in records:
        evaluation = engine.evaluate_raw(record)
        assert evaluation is not None and evaluation.failures == []
        findings += [f for f in evaluation.findings if f.detector == "iamwatch-tampering"]
    return findings


@pytest.mark.parametrize("silenced", ["main", "own"])
def test_a_rule_out_of_action_is_reported_by_the_other_alone(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, silenced: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # The two rules that watch each other: the main rule and iamwatch-tampering's own.
    watching = {
        "main": detection_pattern(REGISTRY),
        "own": rule_patterns(REGISTRY)[own_rule_file("self-tamper")],
    }
    rules = {
        label: rule["Properties"]["Name"]
        for rule in pattern_rules().values()
        for label, pattern in watching.items()
        if rule["Properties"]["EventPattern"] == pattern
    }
    (other,) = set(rules.values()) - {rules[silenced]}
    records = rule_changes(rules[silenced])
    delivered = route_through_eventbridge(moto_endpoint, records, rules=[other])
    assert {e["detail"]["eventID"] for e in delivered} == {r["eventID"] for r in records}
    findings = tampering_findings(records)
    assert len(findings) == len(records)
    assert {(f.severity.value, f.target) for f in findings} == {("critical", rules[silenced])}


def test_cutting_the_backfill_path_is_routed_in_real_time(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    queue = "iamwatch-prod-BackfillQueue-Zr8LkW2pQm5T"
    url = f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue}"
    function = "arn:aws:lambda:us-east-1:123456789012:function:iamwatch-prod-backfill"
    concurrency = tampering_fixture("positive_put_function_concurrency_zero_silences_detect")
    purge = tampering_fixture("positive_purge_alert_queue_by_url")
    trigger = tampering_fixture("positive_disable_notify_queue_trigger")
    records = [
        {**concurrency, "requestParameters": {"functionName": function,
                                              "reservedConcurrentExecutions": 0}},
        {**purge, "requestParameters": {"queueUrl": url}},
        {**purge, "eventName": "DeleteQueue", "requestParameters": {"queueUrl": url}},
        {**trigger, "eventName": "DeleteEventSourceMapping20150331",
         "requestParameters": {"uUID": "0c4b7e2a-5d1f-4a9e-b3c8-7f6e5d4c3b2a"},
         "responseElements": {**trigger["responseElements"], "functionArn": function,
                              "eventSourceArn": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                              "state": "Deleting"}},
    ]  # fmt: skip
    for record in records:
        record["eventID"] = str(uuid.uuid4())
    delivered = route_through_eventbridge(moto_endpoint, records)
    assert {e["detail"]["eventID"] for e in delivered} == {r["eventID"] for r in records}
    findings = tampering_findings(records)
    assert {f.target for f in findings} == {"iamwatch-prod-backfill", queue}
    assert {f.severity.value for f in findings} == {"critical"} and len(findings) == 4


# The regional forwarder: what lands outside us-east-1 reaches the central bus -----------------

REGIONAL_SOURCES = {
    "signin.amazonaws.com",
    "sso.amazonaws.com",
    "sso-directory.amazonaws.com",
    "sts.amazonaws.com",
    "rolesanywhere.amazonaws.com",
}


def test_the_forwarder_routes_what_the_central_rules_route_but_self_tamper(
    routing: tuple[list[dict[str, Any]], set[str]], moto_endpoint: str
) -> None:
    """Deployed in a sign-in region or Identity Center's home region, the forwarder's rules
    send on exactly what the main and identity-source rules would route, Identity Center
    sign-ins (service events), its identity source, STS and Roles Anywhere included."""
    records, _ = routing
    forwarder = [rule["Properties"]["EventPattern"] for rule in forwarder_rules().values()]
    self_tamper = {
        orjson.dumps(p)
        for path, p in rule_patterns(REGISTRY).items()
        if path not in {PATTERN_FILE, own_rule_file("identity-source")}
    }
    central = [
        rule["Properties"]["Name"]
        for rule in pattern_rules().values()
        if orjson.dumps(rule["Properties"]["EventPattern"]) not in self_tamper
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        forwarded = [
            e["detail"]["eventID"]
            for e in route_through_eventbridge(moto_endpoint, records, patterns=forwarder)
        ]
        direct = {
            e["detail"]["eventID"]
            for e in route_through_eventbridge(moto_endpoint, records, rules=central)
        }
    assert set(forwarded) == direct
    assert len(forwarded) == len(set(forwarded)), "one forwarded copy of each event"
    regional = {r["eventSource"] for r in records if r["eventID"] in direct}
    assert regional >= REGIONAL_SOURCES
