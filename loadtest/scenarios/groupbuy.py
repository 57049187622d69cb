"""``groupbuy``: the group-buy race of issue 22 (``loadtest.grouprace``) on the server.

B distinct buyers (``--buyers``, 3,000) go for S units (``--stock``, 300) in groups of K
(``--group-size``, 3) with a short fill time (``--fill-s``), offered all at once or at
``--buy-rate`` places per second, some starting, some joining a group by id, some matched;
then the deal's audit says whether every group formed or failed, none is over K and every
formed group holds K reserved orders. Run it on two nodes with ``--engine redis --nodes 2``
(``--nodes`` is ``--processes``). With ``--feed`` the webhook receiver must also get one
``group.formed`` or ``group.failed`` per group.

``places_per_s`` is the answered places per second over the race, ``latency_ms`` each place's
request→answer time (over HTTP, as a share link's join goes).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtest import grouprace
from loadtest.results import MAX_US, percentiles
from loadtest.run import Run
from loadtest.server import SetupError


async def feed_check(r: Run, groups: int, since: float) -> dict[str, Any] | None:
    """With ``--feed``: wait (at most a minute) for one outcome event per group."""
    receiver = r.target.feed
    if receiver is None:
        return None

    def outcomes() -> int:
        return int(receiver.types.get("group.formed", 0) + receiver.types.get("group.failed", 0))

    deadline = time.monotonic() + 60
    while outcomes() < groups and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # the receiver runs in this loop: poll its count
    out: dict[str, Any] = receiver.summary(since)
    got = outcomes()
    out["failures"] = [] if got == groups else [f"feed: {got} group outcomes of {groups} groups"]
    return out


async def run(r: Run) -> dict[str, Any]:
    opts = r.opts
    if not await r.target.exists(f"/api/rooms/{r.room}/deals"):
        raise SetupError("feature not available: the server has no group-buy API")
    spec = grouprace.RaceSpec(
        buyers=opts.buyers,
        stock=opts.stock,
        size=opts.group_size,
        fill_s=opts.fill_s,
        rate=opts.buy_rate,
    )
    start = r.usage()
    began = time.time()
    r.console.print(
        f"group race: {spec.buyers:,} buyers, {spec.stock:,} units, groups of {spec.size}"
    )
    result = await grouprace.race([(r.target.host, r.target.port)], r.target.api_key, r.room, spec)
    end = r.usage()
    groups = result.audit.get("groups", {})
    feed = await feed_check(r, sum(groups.values()), began)
    latency = HdrHistogram(1, MAX_US, 3)
    for place in result.places:
        latency.record_value(max(1, int(place.latency_s * 1e6)))
    return {
        "scenario": "groupbuy",
        "viewers": 0,
        "buyers": spec.buyers,
        "stock": spec.stock,
        "group_size": spec.size,
        "fill_s": spec.fill_s,
        "places_per_s": result.joins_per_s,
        "race_window_s": result.window_s,
        "settle_s": result.settle_s,
        "latency_ms": percentiles(latency),
        "answers": result.codes(),
        "placed": result.placed(),
        "groups_formed": groups.get("formed", 0),
        "groups_failed": groups.get("failed", 0),
        "reserved": result.audit.get("reserved", 0),
        "audit": result.audit,
        "server_cpu_s": round(end.cpu_s - start.cpu_s, 3) if end and start else None,
        "server_rss_mb": round(end.rss / 2**20, 1) if end else None,
        "feed": feed,
        "failures_extra": grouprace.failures(result) + (feed or {}).get("failures", []),
        "measured_at": time.time(),
    }
