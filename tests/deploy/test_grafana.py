"""deploy/grafana/liveroom.json: an importable dashboard whose every query reads what a real
server exports at /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from liveroom.errors import CloseCode
from tests.deploy.manifests import ROOT
from tests.liveclient import LiveClient
from tests.servers import API_KEY, ServerProcess, StartServer
from tests.timeouts import scaled

DASHBOARD = ROOT / "deploy" / "grafana" / "liveroom.json"
BACKEND = {"Authorization": f"Bearer {API_KEY}"}

#: labels Prometheus attaches at scrape time, so no /metrics output carries them
TARGET_LABELS = frozenset({"instance", "job"})

FUNCTIONS = frozenset(
    """abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes
    clamp clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year
    days_in_month deg delta deriv end exp floor histogram_avg histogram_count
    histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum
    holt_winters hour idelta increase irate label_join label_replace last_over_time ln log10
    log2 mad_over_time max_over_time min_over_time minute month predict_linear
    present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
    sort_by_label sort_by_label_desc sort_desc sqrt start stddev_over_time stdvar_over_time
    sum_over_time tan tanh time timestamp vector year""".split()
)
AGGREGATIONS = frozenset(
    """avg bottomk count count_values group limit_ratio limitk max min quantile stddev stdvar
    sum topk""".split()
)
#: keywords that take a parenthesised list of label names
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = GROUPING | {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
MATCHERS = frozenset({"=", "!=", "=~", "!~"})

TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<variable>\$\{[^}]*\}|\$\w+|\[\[\w+\]\])
    | (?P<number>(?:0x[0-9a-fA-F]+|\d*\.?\d+(?:[eE][+-]?\d+)?)[a-zA-Z0-9]*)
    | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){}\[\],@:])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Query:
    """What one PromQL expression reads: series names, and label names it matches or groups by."""

    metrics: frozenset[str]
    labels: frozenset[str]


def tokens(expr: str) -> list[tuple[str, str]]:
    """``(kind, text)`` pairs, blanks dropped; anything unreadable is an error."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read {expr[pos:]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            out.append((kind, match.group()))
        pos = match.end()
    return out


def read_promql(expr: str) -> Query:
    """The series and label names in ``expr``; functions, keywords, literals and
    ``$variables`` are not series. An unknown function is an error, not a series."""
    toks = tokens(expr)
    metrics: set[str] = set()
    labels: set[str] = set()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        after = toks[i + 1][1] if i + 1 < len(toks) else ""
        if text == "[":  # a range or subquery: durations and $__rate_interval only
            i = toks.index(("op", "]"), i)
        elif text == "{":  # label matchers
            end = toks.index(("op", "}"), i)
            for j in range(i + 1, end):
                if toks[j][0] == "name" and toks[j + 1][1] in MATCHERS:
                    labels.add(toks[j][1])
            i = end
        elif kind == "name" and text.lower() in GROUPING and after == "(":
            end = toks.index(("op", ")"), i)
            labels.update(t for k, t in toks[i + 2 : end] if k == "name")
            i = end
        elif kind == "name" and text.lower() in KEYWORDS:
            pass
        elif kind == "name" and text.lower() in AGGREGATIONS and after.lower() in GROUPING:
            pass  # ``sum by (code) (...)``: the grouping comes before the argument
        elif kind == "name" and after == "(":
            if text not in FUNCTIONS and text.lower() not in AGGREGATIONS:
                raise ValueError(f"unknown PromQL function {text!r} in {expr!r}")
        elif kind == "name":
            metrics.add(text)
        i += 1
    return Query(frozenset(metrics), frozenset(labels))


def read_variable_query(query: str) -> Query:
    """A Grafana ``label_values(<selector>, <label>)`` variable query."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query)
    assert match, f"not a label_values() query: {query!r}"
    inner = read_promql(match.group(1))
    return Query(inner.metrics, inner.labels | {match.group(2)})


def load_dashboard() -> dict[str, Any]:
    board = json.loads(DASHBOARD.read_text())
    assert isinstance(board, dict)
    return board


def all_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(board: dict[str, Any]) -> dict[str, Query]:
    """Each panel target's and each query variable's reading, keyed by where it is."""
    found: dict[str, Query] = {}
    for panel in all_panels(board):
        for target in panel.get("targets", []):
            where = f"panel {panel['id']} {panel['title']!r} target {target['refId']}"
            found[where] = read_promql(target["expr"])
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found[f"variable ${variable['name']}"] = read_variable_query(text)
    return found


async def scrape_after_traffic(server: ServerProcess) -> dict[str, set[str]]:
    """Drive a comment, two buys, a lucky-bag draw and a refused connection through
    ``server``, then scrape it: each series name with the label names it carries."""
    room = "grafana"
    async with httpx.AsyncClient(base_url=server.url, headers=BACKEND, timeout=scaled(10)) as http:
        sale = {"id": "s1", "sku": "SKU-1", "title": "Tea", "price": 1990, "stock": 1, "limit": 2}
        opened = await http.post(f"/api/rooms/{room}/sales", json={**sale, "open": True})
        assert opened.status_code == 200, opened.text
        bag = {"prize": "Mug", "value_fen": 1000, "winners": 1, "duration_s": 60, "open": True}
        created = await http.post(f"/api/rooms/{room}/bags", json=bag)
        assert created.status_code == 200, created.text
        clients: list[LiveClient] = []
        try:
            viewer = await LiveClient.connect(server.ws_url, room, "v1")
            clients.append(viewer)
            refused = await LiveClient.connect(server.ws_url, room, tok="not-a-token")
            clients.append(refused)
            await viewer.event("snapshot")
            assert (await viewer.command("comment", text="hello"))["ok"] is True
            await viewer.event("comment", text="hello")
            bought = await viewer.command("buy", sale="s1", quantity=1, request_id="b1")
            assert bought["ok"] is True, bought
            late = await viewer.command("buy", sale="s1", quantity=1, request_id="b2")
            assert late["error"]["code"] == "sold_out", late
            drawn = await http.post(f"/api/rooms/{room}/bags/{created.json()['bag']['id']}/draw")
            assert drawn.status_code == 200, drawn.text
            assert (await refused.closed_with())[0] == CloseCode.AUTH_FAILED
        finally:
            for client in clients:
                await client.close()
        scraped = await http.get("/metrics")
    assert scraped.status_code == 200
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scraped.text):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def test_dashboard_is_importable() -> None:
    """The JSON loads; every panel has a Prometheus ``${datasource}``, targets and a unique id."""
    board = load_dashboard()
    assert board["schemaVersion"] >= 36 and board["uid"] and board["title"]
    assert board["id"] is None  # import assigns one
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance"} <= variables.keys()
    panels = list(all_panels(board))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    shown = [panel for panel in panels if panel["type"] != "row"]
    assert shown
    for panel in shown:
        what = f"panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, what
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, what
        assert panel["targets"], f"{what} has no target"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), what
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], what
            assert target["expr"].strip(), what


def test_promql_reader_finds_series_not_syntax() -> None:
    """Functions, keywords, labels, strings, numbers, ranges and variables are not series."""
    expr = (
        'histogram_quantile(0.99, sum by (le, type) (rate(a_bucket{job=~"$job", code!="x y"}'
        "[$__rate_interval]))) / on (instance) group_left (node) b_total offset 5m"
        ' or vector(0) > bool 1e3 unless label_replace(c, "dst", "$1", "src", "(.*)")'
        " and max without (q) (d[1h:30s]) * ${scale}"
    )
    assert read_promql(expr) == Query(
        frozenset({"a_bucket", "b_total", "c", "d"}),
        frozenset({"le", "type", "job", "code", "instance", "node", "q"}),
    )
    with pytest.raises(ValueError, match="unknown PromQL function"):
        read_promql("rat(a_total[5m])")


async def test_every_queried_series_is_exported(start_server: StartServer) -> None:
    """Each series name in a panel or variable query appears in a live server's /metrics."""
    exported = await scrape_after_traffic(start_server())
    found = queries(load_dashboard())
    assert all(query.metrics for query in found.values())
    missing = {
        where: sorted(query.metrics - exported.keys())
        for where, query in found.items()
        if query.metrics - exported.keys()
    }
    assert not missing, f"queried but not exported: {missing}"


async def test_every_queried_label_is_exported(start_server: StartServer) -> None:
    """Each label a query matches or groups by is on one of its series (or is instance/job)."""
    exported = await scrape_after_traffic(start_server())
    missing: dict[str, list[str]] = {}
    for where, query in queries(load_dashboard()).items():
        carried = TARGET_LABELS.union(*(exported.get(name, set()) for name in query.metrics))
        if query.labels - carried:
            missing[where] = sorted(query.labels - carried)
    assert not missing, f"labels the queried series do not carry: {missing}"
