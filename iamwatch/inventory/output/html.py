"""The inventory as one self-contained HTML page a security lead can open or attach: the
account at a glance, inline SVG charts, and the table, sortable and filterable, each row with
its evidence and commands.

No external assets, and a Content-Security-Policy that allows none. Every string from IAM or
CloudTrail is HTML-escaped (``html.escape`` with quotes) into text or attribute values; no
data is put inside the script, which reads the table from the DOM. The figures on the page
are ``iamwatch.inventory.output.figures``, the same numbers the JSON Lines add up to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from iamwatch.inventory.model import Inventory, Kind, Recommendation, Row
from iamwatch.inventory.output import figures

# Buckets of the two charts: (label, lowest day, highest day); None: never.
KEY_AGE_BUCKETS = (("0-30", 0, 30), ("31-90", 31, 90), ("91-180", 91, 180),
                   ("181-365", 181, 365), ("366+", 366, None))  # fmt: skip
LAST_USE_BUCKETS = (("0-7", 0, 7), ("8-45", 8, 45), ("46-90", 46, 90), ("91+", 91, None),
                    ("never", None, None))  # fmt: skip


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _bucket(value: int | None, buckets: Sequence[tuple[str, int | None, int | None]]) -> str:
    for label, low, high in buckets:
        if low is None:
            if value is None:
                return label
            continue
        if value is not None and value >= low and (high is None or value <= high):
            return label
    return buckets[-1][0]


def chart_figures(inventory: Inventory) -> dict[str, dict[str, int]]:
    """Active access keys by age, and identities by days since last use."""
    ages = {label: 0 for label, _, _ in KEY_AGE_BUCKETS}
    uses = {label: 0 for label, _, _ in LAST_USE_BUCKETS}
    for row in inventory.rows:
        for key in row.evidence["access_keys"]:
            if key["active"] and key["age_days"] is not None:
                ages[_bucket(key["age_days"], KEY_AGE_BUCKETS)] += 1
        last = row.evidence["last_activity"]
        idle = None
        if last is not None:
            from datetime import datetime

            idle = max(0, (inventory.as_of - datetime.fromisoformat(last)).days)
        uses[_bucket(idle, LAST_USE_BUCKETS)] += 1
    return {"key-age": ages, "last-use": uses}


def _bars(name: str, title: str, counts: dict[str, int], unit: str) -> str:
    width, bar_height, gap, label_width = 440, 22, 8, 100
    top = max(counts.values(), default=0) or 1
    height = len(counts) * (bar_height + gap) + gap
    parts = [
        f'<figure class="chart" data-chart="{_e(name)}"><figcaption>{_e(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
    ]
    for index, (label, count) in enumerate(counts.items()):
        y = gap + index * (bar_height + gap)
        length = int((width - label_width - 60) * count / top)
        parts.append(
            f'<text x="0" y="{y + 16}" class="axis">'
            f"{_e(label)}{_e(unit) * (label != 'never')}</text>"
            f'<rect x="{label_width}" y="{y}" width="{max(length, 1)}" height="{bar_height}" '
            f'rx="3" class="bar"/>'
            f'<text x="{label_width + length + 6}" y="{y + 16}" class="value" '
            f'data-figure="{_e(name)}.{_e(label)}">{count}</text>'
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def _cards(numbers: dict[str, Any]) -> str:
    cards = [f'<div class="card"><b data-figure="identities">{numbers["identities"]}</b>'
             "<span>identities</span></div>"]  # fmt: skip
    for kind in Kind:
        cards.append(
            f'<div class="card kind-{kind.value}"><b data-figure="kind.{kind.value}">'
            f"{numbers['kind'][kind.value]}</b><span>{kind.value}</span></div>"
        )
    moves = [
        f'<li><b data-figure="recommendation.{item.value}">'
        f"{numbers['recommendation'][item.value]}</b> {item.value}</li>"
        for item in Recommendation
    ]
    checks = [
        f'<li><b data-figure="checks.{_e(check)}">{count}</b> {_e(check)}</li>'
        for check, count in numbers["checks"].items()
    ] or ["<li>none</li>"]
    return (
        f'<section class="cards">{"".join(cards)}</section>'
        f'<section class="lists"><div><h2>Would move to</h2><ul>{"".join(moves)}</ul></div>'
        f'<div><h2>Checks failed (<span data-figure="failing">{numbers["failing"]}</span> '
        f"identities)</h2><ul>{''.join(checks)}</ul></div></section>"
    )


def _list(items: Iterable[object]) -> str:
    values = [_e(item) for item in items]
    return ", ".join(values) if values else "none"


# Facts whose values are built from already escaped parts.
_PRE_ESCAPED = frozenset({"Groups", "Admin", "Tags", "CloudTrail"})


def _evidence(row: Row) -> str:
    evidence = row.evidence
    console = evidence["console"]
    keys = "".join(
        f"<li>{_e(key['id'] or 'key ' + str(key['slot']))}: "
        f"{'active' if key['active'] else 'inactive'}, {_e(key['age_days'])} days old, "
        f"last used {_e(key['last_used'] or 'never')}"
        f"{', ' + _e(key['last_used_service']) if key['last_used_service'] else ''}"
        f"{' in ' + _e(key['last_used_region']) if key['last_used_region'] else ''}</li>"
        for key in evidence["access_keys"]
    )
    trail = evidence["cloudtrail"]
    facts = [
        ("Created", evidence["created"] or "unknown"),
        (
            "Console",
            f"password {'yes' if console['password'] else 'no'}, last used "
            f"{console['last_used'] or 'never'}",
        ),
        ("MFA", "yes" if evidence["mfa"] else "no"),
        ("Groups", _list(evidence["groups"])),
        ("Admin", "yes: " + _list(evidence["admin_via"]) if evidence["admin"] else "no"),
        ("Boundary", evidence["boundary"] or "none"),
        ("Tags", _list(f"{k}={v}" for k, v in evidence["tags"].items())),
        ("Protected", evidence["protected"] or "no"),
    ]
    if trail is not None:
        facts.append(("CloudTrail", f"{trail['console_sign_ins']} sign-ins, "
                      f"{trail['api_calls']} key calls ({trail['outside_aws_calls']} from "
                      f"outside AWS); from {_list(trail['source_ips'])}"))  # fmt: skip
    if evidence["identity_center_user"]:
        facts.append(("Identity Center", evidence["identity_center_user"]))
    rows = "".join(
        f"<dt>{_e(label)}</dt><dd>{value if label in _PRE_ESCAPED else _e(value)}</dd>"
        for label, value in facts
    )
    checks = "".join(f"<li><code>{_e(c.id)}</code> {_e(c.detail)}</li>" for c in row.check_details)
    commands = _e("\n".join(row.next_steps))
    return (
        f"<details><summary>evidence and commands</summary><dl>{rows}</dl>"
        f"<h4>Access keys</h4><ul>{keys or '<li>none</li>'}</ul>"
        f"<h4>Checks</h4><ul>{checks or '<li>none failed</li>'}</ul>"
        f"<h4>Next steps</h4><pre>{commands}</pre></details>"
    )


def _table(rows: Sequence[Row]) -> str:
    body = []
    for row in rows:
        body.append(
            f'<tr class="identity" data-user="{_e(row.user)}" data-kind="{row.kind.value}" '
            f'data-recommendation="{row.recommendation.value}" '
            f'data-checks="{_e(" ".join(row.checks))}" data-count="{len(row.checks)}">'
            f'<td class="user"><b>{_e(row.user)}</b><br><small>{_e(row.arn)}</small></td>'
            f'<td class="kind"><span class="pill kind-{row.kind.value}">'
            f"{row.kind.value}</span></td>"
            f"<td>{row.recommendation.value}</td>"
            f'<td data-sort="{len(row.checks)}">'
            f"{'<br>'.join(_e(c) for c in row.checks) or '-'}</td>"
            f"<td>{_e(row.reason)}{_evidence(row)}</td></tr>"
        )
    kinds = "".join(f'<option value="{k.value}">{k.value}</option>' for k in Kind)
    moves = "".join(f'<option value="{r.value}">{r.value}</option>' for r in Recommendation)
    return (
        '<section class="controls"><label>Kind <select id="kind"><option value="">all</option>'
        f'{kinds}</select></label> <label>Move to <select id="recommendation">'
        f'<option value="">all</option>{moves}</select></label> <label>Search '
        '<input id="q" type="search" placeholder="user, check, reason"></label> '
        '<span id="shown"></span></section>'
        '<table id="inventory"><thead><tr>'
        '<th data-col="0" data-type="text">User</th><th data-col="1" data-type="text">Kind</th>'
        '<th data-col="2" data-type="text">Move to</th>'
        '<th data-col="3" data-type="number">Checks</th><th>Why</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:8px 0}h4{margin:8px 0 2px}
.meta{color:#5b6472;margin-bottom:16px}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:10px 16px;min-width:90px}
.card b{display:block;font-size:26px}.lists{display:flex;gap:48px;margin:12px 0}
.lists ul{margin:0;padding-left:18px}.charts{display:flex;gap:32px;flex-wrap:wrap}
.chart figcaption{font-weight:600;margin-bottom:4px}.bar{fill:#4c6ef5}
.axis,.value{font-size:12px;fill:#1d2330}.controls{margin:16px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e4e7ec;padding:6px 8px;text-align:left;vertical-align:top}
th[data-col]{cursor:pointer;user-select:none}th[aria-sort]::after{content:" \\2195"}
.pill{border-radius:10px;padding:1px 8px;background:#eef}.kind-human{background:#e3f2fd}
.kind-workload{background:#f3e5f5}.kind-mixed{background:#fff3cd}.kind-dormant{background:#eee}
.kind-root{background:#fde2e1}pre{white-space:pre-wrap;background:#f4f5f7;padding:8px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dd{margin:0}
small{color:#5b6472;word-break:break-all}
"""

# Reads the table from the DOM; filter and sort follow the URL fragment (#kind=human&q=...),
# so a link can share a view. Marks the page ready when done (the browser test waits for it).
_SCRIPT = """
(function(){
"use strict";
var table=document.getElementById("inventory"),body=table.tBodies[0];
var rows=Array.prototype.slice.call(body.rows);
var kind=document.getElementById("kind"),move=document.getElementById("recommendation");
var q=document.getElementById("q"),shown=document.getElementById("shown");
function state(){var s={};location.hash.replace(/^#/,"").split("&").forEach(function(p){
 if(!p)return;var i=p.indexOf("=");var k=decodeURIComponent(i<0?p:p.slice(0,i));
 s[k]=i<0?"":decodeURIComponent(p.slice(i+1).replace(/\\+/g," "));});return s;}
function apply(){var text=q.value.toLowerCase(),n=0;rows.forEach(function(r){
 var ok=(!kind.value||r.dataset.kind===kind.value)&&
  (!move.value||r.dataset.recommendation===move.value)&&
  (!text||r.textContent.toLowerCase().indexOf(text)>=0);
 r.hidden=!ok;if(ok)n++;});shown.textContent=n+" of "+rows.length+" shown";
 shown.setAttribute("data-visible",String(n));}
function sortBy(col,dir){var th=table.tHead.rows[0].cells[col];var num=th.dataset.type==="number";
 rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];
  var u=num?Number(x.dataset.sort):x.textContent.trim().toLowerCase();
  var v=num?Number(y.dataset.sort):y.textContent.trim().toLowerCase();
  return (u<v?-1:u>v?1:0)*dir;});
 rows.forEach(function(r){body.appendChild(r);});
 Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.removeAttribute("aria-sort");});
 th.setAttribute("aria-sort",dir>0?"ascending":"descending");}
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th){
 if(!th.dataset.col)return;th.addEventListener("click",function(){
 sortBy(Number(th.dataset.col),th.getAttribute("aria-sort")==="ascending"?-1:1);});});
[kind,move,q].forEach(function(el){el.addEventListener("input",apply);});
var s=state();if(s.kind)kind.value=s.kind;if(s.recommendation)move.value=s.recommendation;
if(s.q)q.value=s.q;
if(s.sort){var parts=s.sort.split(":");var heads=table.tHead.rows[0].cells;
 for(var i=0;i<heads.length;i++){if(heads[i].textContent.toLowerCase()===parts[0]){
  sortBy(i,parts[1]==="desc"?-1:1);}}}
apply();document.documentElement.setAttribute("data-ready","1");
})();
"""


def render_html(inventory: Inventory) -> bytes:
    numbers = figures(inventory)
    charts = chart_figures(inventory)
    age = ""
    if inventory.report_age_seconds is not None:
        minutes = int(inventory.report_age_seconds // 60)
        age = f"; credential report {minutes // 60} h {minutes % 60} min old"
    account_checks = "".join(
        f"<li><code>{_e(c.id)}</code> {_e(c.detail)}</li>" for c in inventory.account_checks
    )
    notes = "".join(f"<li>{_e(note)}</li>" for note in inventory.notes)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>iamwatch inventory {_e(inventory.account or '')}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>IAM identities of account {_e(inventory.account or 'several accounts')}</h1>"
        f'<p class="meta">As of {_e(inventory.as_of.isoformat())} '
        f"({_e(inventory.as_of_source)}){_e(age)}. People belong in IAM Identity Center, "
        "programs in IAM roles (Roles Anywhere outside AWS); IAM users only for documented "
        "exceptions.</p>"
        f"{_cards(numbers)}"
        + (
            f"<section><h2>Account</h2><ul>{account_checks}</ul></section>"
            if account_checks
            else ""
        )
        + (f"<section><h2>Notes</h2><ul>{notes}</ul></section>" if notes else "")
        + '<section class="charts">'
        + _bars("key-age", "Active access keys by age", charts["key-age"], " days")
        + _bars("last-use", "Identities by days since last use", charts["last-use"], " days")
        + "</section>"
        + _table(inventory.rows)
        + f"<script>{_SCRIPT}</script></body></html>"
    )
    return page.encode("utf-8")
