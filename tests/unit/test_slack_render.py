"""Rendering findings as Block Kit: every detector's sample, Slack's limits, and hostile input.

``assert_safe_message`` is the specification: the payload passes slack-sdk's model validation
and Slack's limits, no text contains a live mention or link (or anything Slack could
auto-link), formatting characters only come from the message's own labels, values cannot add
lines, and the only URLs are the runbook and a CloudTrail console link built from validated
values.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from detectors import REGISTRY
from iamwatch.finding import Finding, finding_id_for, runbook_url_for
from iamwatch.principal import PrincipalKind
from iamwatch.runbooks import load_runbook
from iamwatch.severity import Severity
from iamwatch.slack.escape import ELLIPSIS, utf16_length
from iamwatch.slack.links import cloudtrail_event_url
from iamwatch.slack.render import (
    ACKNOWLEDGE_ACTION,
    CLOUDTRAIL_ACTION,
    FIELD_TEXT_MAX,
    HEADER_MAX,
    LABELS,
    REMEDIATE_ACTION,
    RUNBOOK_ACTION,
    SECTION_TEXT_MAX,
    Repeat,
    render,
    render_links,
    render_repeat,
)
from iamwatch.slack.samples import sample_finding, sample_records
from tests.conftest import new_engine, run_records
from tests.slack_server import button_urls, live_tokens, message_texts, payload_problems

RUNBOOKS = "https://runbooks.example.test/iamwatch"
CLOUDTRAIL_LINK = re.compile(
    r"^https://[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}\.console\.(?:aws\.amazon\.com|amazonaws-us-gov\.com"
    r"|amazonaws\.cn)/cloudtrailv2/home\?region=[a-z0-9-]+#/events/[0-9a-f-]{36}$"
)
_LABEL = re.compile(r"\*(?:" + "|".join(re.escape(label) for label in LABELS) + r")\*")
_LONE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _blocks(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in payload["blocks"] if block["type"] == kind]


def assert_safe_message(payload: dict[str, Any], finding: Finding) -> None:
    # slack-sdk's own validation, re-parsed from the JSON that is sent.
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        assert parsed.to_dict() == block
    assert payload_problems(payload) == []
    assert len(payload["blocks"]) <= 50
    assert payload["text"]
    (header,) = _blocks(payload, "header")
    assert utf16_length(header["text"]["text"]) <= HEADER_MAX
    for section in _blocks(payload, "section"):
        if "text" in section:
            assert utf16_length(section["text"]["text"]) <= SECTION_TEXT_MAX
        for item in section.get("fields", []):
            assert utf16_length(item["text"]) <= FIELD_TEXT_MAX
            # One label line, one value line: a value cannot forge another field.
            assert re.fullmatch(r"\*[A-Za-z ]+\*\n[^\n]*", item["text"]), item["text"]
        assert len(section.get("fields", [])) <= 10
    for text, kind in message_texts(payload):
        assert live_tokens(text) == [], (text, live_tokens(text))
        if kind == "mrkdwn":
            bare = _LABEL.sub("", text)
            for char in "*~`":
                assert char not in bare, (char, text)
            assert not _LONE_UNDERSCORE.search(bare), text
    for block in _blocks(payload, "context"):
        for element in block["elements"]:
            assert "\n" not in element["text"]
    mrkdwn_objects = [
        obj
        for block in payload["blocks"]
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    ]
    assert all(obj.get("verbatim") is True for obj in mrkdwn_objects)
    # The only links: the runbook, and CloudTrail for a validated region and event id.
    for url in button_urls(payload):
        assert url == finding.runbook_url or CLOUDTRAIL_LINK.match(url), url


def _finding(**changes: Any) -> Finding:
    return sample_finding("access-key-created", RUNBOOKS).model_copy(update=changes)


@pytest.mark.parametrize("detector_id", REGISTRY.ids)
def test_every_detector_sample_renders_a_valid_safe_alert(detector_id: str) -> None:
    finding = sample_finding(detector_id, RUNBOOKS)
    assert finding.detector == detector_id
    payload = render(finding).payload()
    assert_safe_message(payload, finding)
    (actions,) = _blocks(payload, "actions")
    buttons = {element["action_id"]: element for element in actions["elements"]}
    assert buttons[RUNBOOK_ACTION]["url"] == f"{RUNBOOKS}/{detector_id}.md"
    assert buttons[RUNBOOK_ACTION]["text"]["text"] == "Open runbook"
    assert buttons[CLOUDTRAIL_ACTION]["url"] == (
        f"https://{finding.region}.console.aws.amazon.com/cloudtrailv2/home"
        f"?region={finding.region}#/events/{finding.event_id}"
    )
    header = payload["blocks"][0]["text"]["text"]
    assert finding.severity.value.upper() in header and finding.title in header
    assert payload["text"].startswith(f"[{finding.severity.value.upper()}] {finding.title}: ")


def test_sample_records_come_from_the_real_detectors() -> None:
    # The samples are raised by the registry's detectors, not built by hand.
    for detector_id in REGISTRY.ids:
        findings = run_records(sample_records(detector_id), new_engine())
        assert detector_id in {f.detector for f in findings}, detector_id


def test_fields_name_actor_with_kind_target_account_region_ip_and_time() -> None:
    finding = _finding()
    payload = render(finding).payload()
    fields = {
        item["text"].split("\n")[0].strip("*"): item["text"].split("\n", 1)[1]
        for item in _blocks(payload, "section")[1]["fields"]
    }
    assert fields["Actor"].startswith("helpdesk-ana (IAM user) \u00b7 arn:aws:iam::123456789012:")
    assert fields["Target"] == "payroll-batch (iam-user)"
    assert fields["Account"] == "123456789012"
    assert fields["Region"] == "us-east-1"
    assert fields["Source IP"] == "192.0.2.50"
    assert fields["Time"] == "2026-11-03 21:22:51 UTC"
    assert fields["API call"] == "iam:CreateAccessKey"
    assert fields["User agent"].startswith("aws-cli/2.15.30")


def test_summary_recommendation_next_step_and_finding_id_are_shown() -> None:
    finding = _finding()
    payload = render(finding).payload()
    assert _blocks(payload, "section")[0]["text"]["text"].startswith("helpdesk-ana (IAM user)")
    context = " ".join(e["text"] for b in _blocks(payload, "context") for e in b["elements"])
    assert "*Recommended:*" in context and "IAM roles" in context
    assert "*Next step:*" in context
    assert finding.finding_id in context
    assert finding.finding_id == finding_id_for(finding.detector, finding.event_id)


def test_no_recommendation_line_when_the_finding_has_none() -> None:
    payload = render(_finding(recommendation=None)).payload()
    context = " ".join(e["text"] for b in _blocks(payload, "context") for e in b["elements"])
    assert "Recommended" not in context


def test_long_values_are_truncated_with_a_marker_never_rejected() -> None:
    huge = "A" * 20_000
    finding = _finding(
        summary=huge,
        actor_name=huge,
        actor="arn:aws:iam::123456789012:user/" + huge,
        target=huge,
        user_agent="\U0001f600" * 5_000,  # astral: two UTF-16 units each
        details={f"key{i}": "v" * 3_000 for i in range(40)},
        enrichment={"tags": "t" * 10_000},
        observations=tuple("o" * 1_000 for _ in range(20)),
        recommendation=huge,
        next_step=huge,
        title="T" * 400,
    )
    payload = render(finding).payload()
    assert_safe_message(payload, finding)
    summary = _blocks(payload, "section")[0]["text"]["text"]
    assert summary.endswith(ELLIPSIS) and utf16_length(summary) == SECTION_TEXT_MAX
    fields = _blocks(payload, "section")[1]["fields"]
    assert all(item["text"].endswith(ELLIPSIS) for item in fields[:2])
    assert fields[7]["text"].endswith(ELLIPSIS)
    details = _blocks(payload, "section")[2]["text"]["text"]
    assert "more" in details.rsplit("\n", 1)[-1]
    assert payload["blocks"][0]["text"]["text"].endswith(ELLIPSIS)


def test_enrichment_and_observations_are_rendered_and_neutralised() -> None:
    finding = _finding(
        enrichment={"tags": "owner=<!here>", "mfa_devices": "0"},
        observations=("the user has no owner tag", "see https://evil.example"),
    )
    payload = render(finding).payload()
    assert_safe_message(payload, finding)
    texts = [b["text"]["text"] for b in _blocks(payload, "section") if "text" in b]
    assert any(t.startswith("*Context*\ntags: owner=&lt;!here&gt;") for t in texts)
    assert any(t.startswith("*Observations*\n\u2022 the user has no owner tag") for t in texts)


@pytest.mark.parametrize(
    ("field", "hostile", "shown"),
    [
        ("actor_name", "<!channel> root", "&lt;!channel&gt; root"),
        ("target", "<@U024BE7LH>", "&lt;@U024BE7LH&gt;"),
        ("account", "<#C024BE7LR|general>", "&lt;#C024BE7LR|general&gt;"),
        ("user_agent", "<https://evil.example|click here>", "&lt;https:\u200b//evil.\u200bexample"),
        ("source_ip", "*URGENT* _rotate_ ~now~ `x`", "\u2217URGENT\u2217 \u02cdrotate\u02cd"),
        ("region", "us-east-1\n*Actor*\nroot", "us-east-1 \u2217Actor\u2217 root"),
        ("target", "bob @here", "bob \uff20here"),
    ],
)
def test_hostile_values_are_shown_inert(field: str, hostile: str, shown: str) -> None:
    finding = _finding(**{field: hostile})
    payload = render(finding).payload()
    assert_safe_message(payload, finding)
    assert any(shown in text for text, _ in message_texts(payload)), shown


def test_iam_path_characters_in_arns_are_escaped_not_dropped() -> None:
    arn = "arn:aws:iam::123456789012:user/division_abc/<b>&!/alice"
    payload = render(_finding(actor=arn)).payload()
    actor = _blocks(payload, "section")[1]["fields"][0]["text"]
    assert actor.endswith("arn:aws:iam::123456789012:user/division_abc/&lt;b&gt;&amp;!/alice")


@pytest.mark.parametrize(
    ("region", "event_id", "expected"),
    [
        ("us-east-1", "EXAMPLE-not-a-uuid", None),
        ("us-east-1", "synthetic-0123456789abcdef0123456789abcdef", None),
        ("us-east-1/../../evil.example", "d50aa4c1-2062-5e9f-a40c-6871e3964d45", None),
        ("us-east-1#", "d50aa4c1-2062-5e9f-a40c-6871e3964d45", None),
        (None, "d50aa4c1-2062-5e9f-a40c-6871e3964d45", None),
        (
            "us-gov-west-1",
            "D50AA4C1-2062-5E9F-A40C-6871E3964D45",
            "https://us-gov-west-1.console.amazonaws-us-gov.com/cloudtrailv2/home"
            "?region=us-gov-west-1#/events/d50aa4c1-2062-5e9f-a40c-6871e3964d45",
        ),
        (
            "eu-north-1",
            "d50aa4c1-2062-5e9f-a40c-6871e3964d45",
            "https://eu-north-1.console.aws.amazon.com/cloudtrailv2/home"
            "?region=eu-north-1#/events/d50aa4c1-2062-5e9f-a40c-6871e3964d45",
        ),
    ],
)
def test_cloudtrail_link_only_for_validated_region_and_event_id(
    region: str | None, event_id: str, expected: str | None
) -> None:
    assert cloudtrail_event_url(region, event_id) == expected
    finding = _finding(region=region, event_id=event_id)
    payload = render(finding).payload()
    assert_safe_message(payload, finding)
    consoles = [url for url in button_urls(payload) if url != finding.runbook_url]
    assert consoles == ([expected] if expected else [])


@pytest.mark.parametrize(
    "runbook_url",
    ["javascript:alert(1)", "https://evil.example/<x>", "https://a b/x.md", "ftp://host/x.md"],
)
def test_an_unsafe_runbook_url_never_becomes_a_button(runbook_url: str) -> None:
    payload = render(_finding(runbook_url=runbook_url)).payload()
    assert runbook_url not in button_urls(payload)
    (actions,) = _blocks(payload, "actions")
    assert [e["action_id"] for e in actions["elements"]] == [CLOUDTRAIL_ACTION]


def test_repeat_count_and_thread_reply_render_and_validate() -> None:
    finding = _finding()
    later = finding.event_time + timedelta(minutes=20)
    payload = render(finding, repeat=Repeat(3, finding.event_time, later)).payload()
    assert_safe_message(payload, finding)
    context = " ".join(e["text"] for b in _blocks(payload, "context") for e in b["elements"])
    assert "*Repeats:* seen 3 times, first 2026-11-03 21:22:51 UTC, latest 2026-11-03 21:42:51" in (
        context
    )
    reply = render_repeat(finding.model_copy(update={"summary": "<!channel> again"}), 3).payload()
    assert payload_problems(reply) == []
    assert reply["blocks"][0]["text"]["text"].startswith("\U0001f501 *Repeat* #3: &lt;!channel&gt;")
    assert all(live_tokens(text) == [] for text, _ in message_texts(reply))


def test_builder_json_is_blocks_only() -> None:
    message = render(_finding())
    assert set(message.builder_json()) == {"blocks"}
    assert message.builder_json()["blocks"] == message.payload()["blocks"]


# Property: hostile strings in every event-derived field ------------------------------------

PAYLOADS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0123|@security>",
    "<!date^1392734382^{date}|Feb 18>",
    "<@U024BE7LH>",
    "<#C024BE7LR>",
    "<https://evil.example|click>",
    "<mailto:x@evil.example|mail>",
    "https://evil.example/login",
    "HTTP://EVIL.EXAMPLE",
    "hxxps://evil[.]example",
    "www.evil.example",
    "evil.example.com",
    "evil\u3002com",
    "evil\uff0ecom",
    "user@evil.example",
    "@here",
    "@channel",
    "@everyone",
    "*bold*",
    "_italic_",
    "~strike~",
    "`code`",
    "```block```",
    "> quote",
    "&lt;!channel&gt;",
    "&amp;",
    "&",
    "<",
    ">",
    "|",
    "!",
    ":",
    "//",
    ".",
    "\n",
    "\r\n",
    "\u2028",
    "\u2029",
    "\u0085",
    "\x00",
    "\x1b[31m",
    "\u200b",
    "\u2060",
    "\u202e",
    "\ufeff",
    "\ud83d",
    "\U0001f600",
    ":skull:",
    "javascript:alert(1)",
    "arn:aws:iam::123456789012:user/a_b/",
]
hostile = st.lists(
    st.one_of(
        st.sampled_from(PAYLOADS),
        st.text(alphabet="<>&!@#*_~`|:/.\n\r aZ09-", max_size=12),
        st.text(max_size=8),
    ),
    max_size=10,
).map("".join)
optional = st.one_of(st.none(), hostile)
# Records arrive through orjson, which rejects lone surrogates, so record text never has them.
record_text = hostile.map(lambda text: text.encode("utf-8", "replace").decode("utf-8"))
mapping = st.dictionaries(hostile, hostile, max_size=4)


@st.composite
def hostile_findings(draw: st.DrawFn) -> Finding:
    detector = draw(st.sampled_from(REGISTRY.ids))
    event_id = draw(st.one_of(hostile, st.uuids().map(str)))
    region = draw(st.one_of(optional, st.sampled_from(["us-east-1", "eu-west-2", "us-gov-east-1"])))
    return Finding(
        finding_id=draw(st.one_of(hostile, st.uuids().map(str))),
        detector=detector,
        severity=draw(st.sampled_from(list(Severity))),
        title=REGISTRY.get(detector).meta.title,
        summary=draw(hostile),
        actor=draw(hostile),
        actor_kind=draw(st.sampled_from(list(PrincipalKind))),
        actor_name=draw(hostile),
        target=draw(optional),
        target_type=draw(optional),
        account=draw(optional),
        region=region,
        source_ip=draw(optional),
        user_agent=draw(optional),
        event_time=draw(
            st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2100, 1, 1),
                timezones=st.just(UTC),
            )
        ),
        event_name=draw(hostile),
        event_source=draw(hostile),
        event_id=event_id,
        dedup_key=draw(hostile),
        runbook_url=runbook_url_for(RUNBOOKS, detector),
        recommendation=draw(optional),
        next_step=draw(hostile),
        details=draw(mapping),
        enrichment=draw(mapping),
        observations=tuple(draw(st.lists(hostile, max_size=3))),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(finding=hostile_findings(), count=st.integers(min_value=2, max_value=10_000))
def test_hostile_findings_never_yield_live_mentions_or_links(finding: Finding, count: int) -> None:
    payload = render(
        finding, repeat=Repeat(count, finding.event_time, finding.event_time)
    ).payload()
    assert_safe_message(payload, finding)
    reply = render_repeat(finding, count).payload()
    assert payload_problems(reply) == []
    for text, _ in message_texts(reply):
        assert live_tokens(text) == []


@settings(max_examples=150, deadline=None)
@given(
    user=record_text,
    agent=record_text,
    ip=record_text,
    region=record_text,
    event_id=record_text,
    group=record_text,
    arn_path=record_text,
)
def test_hostile_cloudtrail_records_through_real_detectors_render_safely(
    user: str, agent: str, ip: str, region: str, event_id: str, group: str, arn_path: str
) -> None:
    record = sample_records("user-added-to-group")[0]
    record["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDAJQABLZS4A3QDU576Q",
        "arn": f"arn:aws:iam::123456789012:user/{arn_path}/{user}",
        "accountId": "123456789012",
        "userName": user,
    }
    record.update(
        userAgent=agent,
        sourceIPAddress=ip,
        awsRegion=region,
        eventID=event_id,
        requestParameters={"userName": user, "groupName": group},
    )
    for finding in run_records([record], new_engine()):
        assert_safe_message(render(finding).payload(), finding)


# Buttons (interactivity on) ----------------------------------------------------------------


def _elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [element for block in _blocks(payload, "actions") for element in block["elements"]]


@pytest.mark.parametrize("detector_id", REGISTRY.ids)
def test_interactive_alerts_carry_acknowledge_and_remediate_when_the_runbook_has_actions(
    detector_id: str,
) -> None:
    finding = sample_finding(detector_id, RUNBOOKS)
    payload = render(finding, interactive=True).payload()
    assert_safe_message(payload, finding)
    buttons = {e["action_id"]: e for e in _elements(payload)}
    assert buttons[RUNBOOK_ACTION]["url"] == finding.runbook_url, "the runbook button stays"
    assert buttons[ACKNOWLEDGE_ACTION]["value"] == finding.finding_id
    assert "url" not in buttons[ACKNOWLEDGE_ACTION]
    offers_actions = bool(load_runbook(detector_id).actions)
    assert (REMEDIATE_ACTION in buttons) is offers_actions
    if offers_actions:
        assert buttons[REMEDIATE_ACTION]["value"] == finding.finding_id
        assert buttons[REMEDIATE_ACTION]["style"] == "danger"


def test_alerts_have_no_interactive_buttons_unless_interactivity_is_on() -> None:
    finding = _finding()
    ids = {e["action_id"] for e in _elements(render(finding).payload())}
    assert ids == {RUNBOOK_ACTION, CLOUDTRAIL_ACTION}


def test_a_finding_id_that_is_not_a_uuid_gets_no_buttons() -> None:
    finding = _finding(finding_id="<!channel> not-a-uuid")
    payload = render(finding, interactive=True).payload()
    assert {e["action_id"] for e in _elements(payload)} == {RUNBOOK_ACTION, CLOUDTRAIL_ACTION}


# Sequences: the alert lists the events it links; its thread reply names their own alerts -------

SEQUENCE_DETECTORS = ("iam-user-backdoor-sequence", "console-takeover-sequence",
                      "mfa-removed-then-sign-in")  # fmt: skip


@pytest.mark.parametrize("detector_id", SEQUENCE_DETECTORS)
def test_a_sequence_alert_lists_its_events_in_order(detector_id: str) -> None:
    finding = sample_finding(detector_id, RUNBOOKS)
    payload = render(finding).payload()
    assert_safe_message(payload, finding)
    (listing,) = [
        s["text"]["text"]
        for s in _blocks(payload, "section")
        if "text" in s and s["text"]["text"].startswith("*Sequence*")
    ]
    lines = listing.splitlines()[1:]
    assert len(lines) == len(finding.links) >= 2
    for line, link in zip(lines, finding.links, strict=True):
        assert link.event_name in line and link.event_time.strftime("%H:%M:%S") in line


@pytest.mark.parametrize("detector_id", SEQUENCE_DETECTORS)
def test_the_linked_alerts_reply_names_each_event_and_its_finding(detector_id: str) -> None:
    finding = sample_finding(detector_id, RUNBOOKS)
    delivered = {link.finding_id for link in finding.links[:1]}
    reply = render_links(finding, lambda finding_id: finding_id in delivered).payload()
    assert payload_problems(reply) == []
    body = reply["blocks"][1]["text"]["text"]
    for index, link in enumerate(finding.links):
        assert link.event_id in body
        if link.finding_id is not None:
            state = "alerted" if index == 0 else "no alert delivered here yet"
            assert f"finding {link.finding_id} ({state})" in body
        else:
            assert "no alert of its own" in body
    assert reply["text"].startswith("Linked alerts: ")


def test_hostile_link_summaries_render_inert() -> None:
    finding = sample_finding("iam-user-backdoor-sequence", RUNBOOKS)
    hostile = [
        link.model_copy(update={"summary": f"<!channel> {p} *bold* `x`", "event_name": p})
        for link, p in zip(finding.links, PAYLOADS, strict=False)
    ]
    changed = finding.model_copy(update={"links": tuple(hostile)})
    assert_safe_message(render(changed).payload(), changed)
    reply = render_links(changed, lambda finding_id: True).payload()
    assert payload_problems(reply) == []
    assert all(live_tokens(text) == [] for text, _ in message_texts(reply))


def test_only_sequences_get_a_linked_alerts_reply() -> None:
    with pytest.raises(ValueError, match="links events"):
        render_links(_finding(), lambda finding_id: True)
