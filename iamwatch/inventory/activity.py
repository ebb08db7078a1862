"""Evidence from CloudTrail (``iamwatch inventory --cloudtrail``): for each IAM user and root,
console sign-ins, calls made with a long-term access key, where from and with what.

Reads the same inputs as ``iamwatch scan``. Only records whose caller is an IAM user or root
count; a record that cannot be read is reported and skipped, as in a scan.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iamwatch.inventory.model import Activity
from iamwatch.sources import Problem, Source, read_source

# SDK user agents that say the program runs inside AWS (Lambda, ECS, EC2 metadata, CodeBuild).
_INSIDE_AWS_AGENTS = ("exec-env/AWS_", "AWS_Lambda", "AWS_ECS", "aws-internal", "CodeBuild")
_TOP = 5


@dataclass
class _Tally:
    console: int = 0
    calls: int = 0
    outside: int = 0
    first: datetime | None = None
    last: datetime | None = None
    agents: Counter[str] = field(default_factory=Counter)
    addresses: Counter[str] = field(default_factory=Counter)

    def seen(self, moment: datetime | None) -> None:
        if moment is None:
            return
        self.first = moment if self.first is None else min(self.first, moment)
        self.last = moment if self.last is None else max(self.last, moment)

    def activity(self) -> Activity:
        return Activity(
            console_sign_ins=self.console,
            api_calls=self.calls,
            first_seen=self.first,
            last_seen=self.last,
            user_agents=tuple(agent[:300] for agent, _ in self.agents.most_common(_TOP)),
            source_ips=tuple(address for address, _ in self.addresses.most_common(_TOP)),
            outside_aws_calls=self.outside,
        )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _principal(identity: Mapping[str, Any]) -> str | None:
    if identity.get("type") not in ("IAMUser", "Root"):
        return None
    arn = identity.get("arn")
    return arn if isinstance(arn, str) and arn else None


def read_activity(
    sources: Iterable[Source], report: Callable[[Problem], None]
) -> dict[str, Activity]:
    """Activity by principal ARN; unreadable records and files go to ``report``."""
    tallies: dict[str, _Tally] = {}
    for source in sources:
        for item in read_source(source):
            if isinstance(item, Problem):
                report(item)
                continue
            record = item.data
            if not isinstance(record, dict):
                report(Problem(item.location, "not a JSON object"))
                continue
            identity = record.get("userIdentity")
            arn = _principal(identity) if isinstance(identity, dict) else None
            if arn is None or record.get("errorCode"):
                continue
            tally = tallies.setdefault(arn, _Tally())
            tally.seen(_moment(record.get("eventTime")))
            agent = record.get("userAgent")
            address = record.get("sourceIPAddress")
            if record.get("eventName") == "ConsoleLogin":
                outcome = (record.get("responseElements") or {}).get("ConsoleLogin")
                if outcome == "Success":
                    tally.console += 1
            else:
                key = str((identity or {}).get("accessKeyId") or "")
                # Long-term keys start AKIA; console sessions use temporary ASIA keys.
                if not key.startswith("AKIA"):
                    continue
                tally.calls += 1
                inside = isinstance(agent, str) and any(m in agent for m in _INSIDE_AWS_AGENTS)
                if isinstance(address, str) and _is_ip(address) and not inside:
                    tally.outside += 1
            if isinstance(agent, str):
                tally.agents[agent] += 1
            if isinstance(address, str):
                tally.addresses[address[:100]] += 1
    return {arn: tally.activity() for arn, tally in tallies.items()}
