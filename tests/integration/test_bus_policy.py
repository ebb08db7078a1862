"""Only iamwatch's forwarders may put events on the central bus (issue 12, defect 11).

With ``organizationId`` set, the bus policy let every principal of every account in the
organization call PutEvents on the account's default bus. The EventBridge patterns only pass
``aws.*`` sources, which only AWS can publish, so that did not let anyone forge a CloudTrail
record; but it let any principal flood the bus the detect function reads, and anything else
routed from that bus trusts it. It now admits only the forwarders' role, by ARN
(``aws:PrincipalArn``): the forwarder stack gives its role the path ``/iamwatch-forwarder/``.

The policy is evaluated here as EventBridge would for the condition operators it uses.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import orjson
import pytest

from tests.integration.test_template import FORWARDER
from tests.template import resources_of

pytestmark = pytest.mark.packaged

ORG = "o-a1b2c3d4e5"
MEMBER = "444455556666"


def _sub(value: Any, account: str = "111122223333") -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    if isinstance(value, dict) and "Ref" in value:
        value = {"OrganizationId": ORG}[value["Ref"]]
    text = str(value)
    return text.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", account)


def allowed(principal_arn: str, org: str = ORG) -> bool:
    """Whether the deployed bus policy lets this principal of an organization put events."""
    (policy,) = resources_of("AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "events:PutEvents"
    context = {"aws:PrincipalOrgID": org, "aws:PrincipalArn": principal_arn}
    for operator, conditions in statement["Condition"].items():
        for key, expected in conditions.items():
            values = [_sub(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = context[key]
            if operator == "StringEquals" and actual not in values:
                return False
            if operator in ("ArnLike", "StringLike") and not any(
                fnmatchcase(actual, value) for value in values
            ):
                return False
            if operator not in ("StringEquals", "ArnLike", "StringLike"):
                raise AssertionError(f"unexpected condition operator {operator}")
    return True


def forwarder_role_arn(account: str) -> str:
    resources = orjson.loads(FORWARDER.read_bytes())["Resources"]
    (role,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    path = role["Properties"].get("Path", "/")
    return f"arn:aws:iam::{account}:role{path}iamwatch-forwarder-prod-ForwardRole-1AB2C3D4E5F6"


def test_a_member_accounts_forwarder_may_put_events() -> None:
    assert allowed(forwarder_role_arn(MEMBER))


@pytest.mark.parametrize(
    "principal",
    [
        f"arn:aws:iam::{MEMBER}:role/developer",
        f"arn:aws:iam::{MEMBER}:user/mallory",
        f"arn:aws:iam::{MEMBER}:role/iamwatch-forwarder-prod-ForwardRole-fake",
        f"arn:aws:iam::{MEMBER}:role/other-path/iamwatch-forwarder/x",
    ],
)
def test_any_other_principal_of_the_organization_may_not(principal: str) -> None:
    assert not allowed(principal)


def test_the_forwarder_of_another_organization_may_not() -> None:
    assert not allowed(forwarder_role_arn(MEMBER), org="o-zzzzzzzzzz")
