"""Acceptance 1: a scripted room's report equals figures computed here, exactly.

Known viewers join and leave at known times (two tabs of one user, a reconnection), from known
sources, comment, like, share, click, buy and pay, and the host enters ad spend. The room runs
on the memory engine (one node) and on Redis over two nodes; the clock is injected, so the
script covers an hour without waiting.
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.analytics.live import Clock, LiveNode, body, join, leave, live_node, ok

T0 = 1_800_000_000 // 3600 * 3600  # an hour's start
ROOM = "live1"
EARLIER = "live0"
HOST = "shop-7"

#: user -> [(join, leave)] seconds after T0: u2 reconnects, u3 has two tabs (one per node)
VISITS = {
    "u1": [(10, 700)],
    "u2": [(20, 200), (260, 800)],
    "u3": [(30, 130), (40, 400)],
    "u4": [(60, 90)],
    "u5": [(330, 3800)],
}
FIRST_SOURCE = {"u1": "feed", "u2": "share", "u3": "search", "u4": "other", "u5": "ad"}


def union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def expected_watch() -> dict[str, Any]:
    watched = [sum(e - s for s, e in union(v)) for v in VISITS.values()]
    n = len(watched)
    return {
        "viewers": n,
        "total_s": float(sum(watched)),
        "average_s": round(sum(watched) / n, 3),
        "median_s": float(statistics.median(watched)),
        "retention": {
            str(m): round(sum(1 for w in watched if w >= m * 60) / n, 4) for m in (1, 3, 5, 10, 30)
        },
    }


def expected_peak() -> int:
    edges = sorted(
        [(s, 1) for v in VISITS.values() for s, _ in union(v)]
        + [(e, -1) for v in VISITS.values() for _, e in union(v)]
    )
    here = best = 0
    for _, step in edges:
        here += step
        best = max(best, here)
    return best


def exposed(pin: tuple[int, int]) -> int:
    """Viewers present when the card was pinned, or joining while it was."""
    return sum(1 for v in VISITS.values() if any(s < pin[1] and e > pin[0] for s, e in union(v)))


@pytest.fixture(params=["memory", "redis", "redis-two-nodes"])
async def nodes(
    request: pytest.FixtureRequest, redis_url: str, prefix: str
) -> AsyncIterator[tuple[Clock, LiveNode, LiveNode]]:
    clock = Clock(T0 - 100)
    if request.param == "memory":
        async with live_node(clock, pulse_s=0.1) as a:
            yield clock, a, a
        return
    shared = {"engine": "redis", "redis_url": redis_url, "redis_prefix": prefix, "pulse_s": 0.1}
    if request.param == "redis":
        async with live_node(clock, **shared) as a:
            yield clock, a, a
        return
    async with live_node(clock, **shared) as a, live_node(clock, **shared) as b:
        yield clock, a, b


async def test_scripted_room_report_matches_independent_figures(
    nodes: tuple[Clock, LiveNode, LiveNode],
) -> None:
    """Every count, watch time, retention share, funnel figure, GMV and ROI is exact."""
    clock, a, b = nodes

    def at(seconds: int) -> None:
        assert T0 + seconds >= clock.t, "the script runs forward"
        clock.t = T0 + seconds

    for room in (EARLIER, ROOM):
        body(await a.api("PUT", f"/api/rooms/{room}", {"host": HOST, "title": room}))
    # an earlier live of the same host: u1 watched it, so u1 is a returning viewer
    early = await join(a, EARLIER, "u1", "feed")
    await leave(a, EARLIER, "u1", early)

    at(0)
    card = {"sku": "tea", "title": "Tea", "price": 1999, "image": "/img/tea.svg"}
    body(await a.api("POST", f"/api/rooms/{ROOM}/cards", card))
    body(await a.api("POST", f"/api/rooms/{ROOM}/ad-spend", {"cents": 5000}))

    at(10)
    u1 = await join(a, ROOM, "u1", "feed", region="north", age="18-24", gender="f", follower=True)
    at(20)
    u2 = await join(b, ROOM, "u2", "share", region="north")
    at(30)
    u3a = await join(a, ROOM, "u3", "search")
    at(40)
    u3b = await join(b, ROOM, "u3", "group")  # a second tab: the first join's source stays
    at(60)
    u4 = await join(a, ROOM, "u4", "no-such-source")
    at(70)
    await ok(u1, "comment", text="hello")
    await ok(u2, "like", count=3)
    await ok(u3b, "share")
    at(90)
    await ok(u1, "card_click", sku="tea")
    await ok(u2, "card_click", sku="tea")
    await ok(u1, "card_click", sku="tea")  # a second click: one more click, not a clicker
    await leave(a, ROOM, "u4", u4)
    at(100)
    sale = {"id": "s1", "sku": "tea", "title": "Tea", "price": 1999, "stock": 10, "limit": 2}
    body(await a.api("POST", f"/api/rooms/{ROOM}/sales", {**sale, "open": True}))
    order1 = (await ok(u1, "buy", sale="s1", quantity=2, request_id="r1"))["order"]
    order2 = (await ok(u2, "buy", sale="s1", quantity=1, request_id="r2"))["order"]
    refused = await u3a.command("buy", sale="s1", quantity=3, request_id="r3")
    assert not refused["ok"]  # over the limit: tried, not reserved
    at(120)
    cup = {"sku": "cup", "title": "Cup", "price": 500, "image": "/img/tea.svg"}
    body(await b.api("POST", f"/api/rooms/{ROOM}/cards", cup))
    at(130)
    await leave(a, ROOM, "u3", u3a)
    at(150)
    for _ in range(2):  # a repeated confirm is one payment
        body(await a.api("POST", f"/api/rooms/{ROOM}/sales/s1/orders/{order1}/confirm"))
    at(200)
    await leave(b, ROOM, "u2", u2)
    at(260)
    u2 = await join(a, ROOM, "u2", "feed")  # the reconnection: the gap is not watched
    at(300)
    body(await a.api("DELETE", f"/api/rooms/{ROOM}/cards/tea"))
    at(330)
    u5 = await join(b, ROOM, "u5", "ad")
    at(400)
    await leave(b, ROOM, "u3", u3b)
    at(700)
    await leave(a, ROOM, "u1", u1)
    at(800)
    await leave(a, ROOM, "u2", u2)
    at(3700)
    body(await b.api("POST", f"/api/rooms/{ROOM}/sales/s1/orders/{order2}/confirm"))
    spend = await b.api("POST", f"/api/rooms/{ROOM}/ad-spend", {"cents": 1000})
    assert body(spend) == {"hour": T0 + 3600, "added": 1000}
    at(3800)
    await leave(b, ROOM, "u5", u5)
    at(3900)
    for node in (a, b):
        await node.analytics.flush()

    report = body(await a.api("GET", f"/api/rooms/{ROOM}/report"))
    assert report == body(await b.api("GET", f"/api/rooms/{ROOM}/report"))

    assert report["audience"] == {
        "online": 0,
        "peak": expected_peak(),
        "peak_at": float(T0 + 60),
        "unique_viewers": 5,
        "entries": sum(len(union(v)) for v in VISITS.values()),
        "exits": sum(len(union(v)) for v in VISITS.values()),
    }
    assert expected_peak() == 4
    assert report["watch"] == expected_watch()
    assert report["watch"]["median_s"] == 690.0
    assert report["returning"] == {"available": True, "new": 4, "returning": 1}
    assert report["followers"] == {"followers": 1, "others": 4}
    by_source = dict.fromkeys(
        ("feed", "follow", "search", "share", "group", "official", "ad", "other"), 0
    )
    for source in FIRST_SOURCE.values():
        by_source[source] += 1
    assert report["sources"] == {
        "by_source": by_source,
        "public": 4,
        "private": 1,
        "private_share": 0.2,
    }
    assert report["interaction"] == {
        "comments": 1,
        "likes": 3,
        "shares": 1,
        "follows": 0,
        "interacting_viewers": 3,
        "rate": 0.6,
    }
    tea_exposures, cup_exposures = exposed((0, 300)), exposed((120, 3900))
    assert (tea_exposures, cup_exposures) == (4, 4)
    gmv = 2 * 1999 + 1 * 1999
    assert report["products"] == [
        {
            "sku": "cup",
            "exposures": cup_exposures,
            "clicks": 0,
            "clickers": 0,
            "buyers_tried": 0,
            "buyers_reserved": 0,
            "reservations": 0,
            "buyers_paid": 0,
            "orders_paid": 0,
            "units": 0,
            "gmv": 0,
            "aov": None,
            "conversion": {"click": 0.0, "try": None, "reserve": None, "pay": None},
        },
        {
            "sku": "tea",
            "exposures": tea_exposures,
            "clicks": 3,
            "clickers": 2,
            "buyers_tried": 3,
            "buyers_reserved": 2,
            "reservations": 2,
            "buyers_paid": 2,
            "orders_paid": 2,
            "units": 3,
            "gmv": gmv,
            "aov": gmv // 2,
            "conversion": {
                "click": round(2 / tea_exposures, 4),
                "try": round(3 / 2, 4),
                "reserve": round(2 / 3, 4),
                "pay": 1.0,
            },
        },
    ]
    assert report["funnel"] == {
        "exposures": tea_exposures + cup_exposures,
        "clickers": 2,
        "buyers_tried": 3,
        "buyers_reserved": 2,
        "buyers_paid": 2,
    }
    assert report["heatmap"] == {
        "minutes": [T0 + 60],
        "cards": [{"sku": "cup", "clicks": [0]}, {"sku": "tea", "clicks": [3]}],
    }
    assert report["money"] == {
        "gmv": gmv,
        "units": 3,
        "orders": 2,
        "ad_spend": 6000,
        "uv_value": round(gmv / 5, 2),
        "roi": round(gmv / 6000, 4),
        "hours": [
            {"hour": T0, "gmv": 2 * 1999, "ad_spend": 5000, "roi": round(2 * 1999 / 5000, 4)},
            {"hour": T0 + 3600, "gmv": 1999, "ad_spend": 1000, "roi": round(1999 / 1000, 4)},
        ],
    }
    minutes = {row["minute"]: row for row in report["minutes"]}
    assert minutes[T0] == {
        "minute": T0,
        "viewers": 3,  # u1, u2, u3 (u4 came at 60)
        "entries": 3,
        "exits": 0,
        "comments": 0,
        "likes": 0,
        "shares": 0,
    }
    assert minutes[T0 + 60] == {
        "minute": T0 + 60,
        "viewers": 4,
        "entries": 1,  # u4
        "exits": 1,  # u4 at 90
        "comments": 1,
        "likes": 3,
        "shares": 1,
    }
    assert minutes[T0 + 3780]["exits"] == 1  # u5 at 3800
    assert len(report["minutes"]) == (T0 + 3780 - T0) // 60 + 1
    assert report["profile"] == {
        "k": 10,
        "region": {"other": 2, "unknown": 3},
        "age": {"other": 1, "unknown": 4},
        "gender": {"other": 1, "unknown": 4},
    }
