"""A room's report, computed from what every node wrote (``RoomData``). No I/O.

Every figure is defined in ``docs/analytics.md``; the names here are the report's keys. The
audience figures come from the viewers' connected intervals: a user's intervals (tabs, nodes,
reconnections) are merged into their union first, so two tabs count once and the gap of a
reconnection is not watched.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import orjson

from liveroom.features.analytics.store import RoomData
from liveroom.features.analytics.tally import SOURCES
from liveroom.protocol import kept

#: retention is reported after these many minutes of watching
RETENTION_MINUTES = (1, 3, 5, 10, 30)
#: sources that reach the shop's own community; the rest are public
PRIVATE_SOURCES = ("follow", "share", "group")
#: the audience claims reported as a profile, each with k-anonymity folding
FACETS = ("region", "age", "gender")
#: the report's profile fields, in the order ``profile_of`` encodes them
PROFILE = ("source", "region", "age", "gender", "follower", "returning")
#: a node writes a room with its viewers but nothing new this often (the room's ``last`` and
#: keep time move on); its beat, every pulse, keeps their intervals live in between
QUIET_WRITE_S = 30.0
#: the group-buy funnel's steps (``AnalyticsSink.group_step``)
GROUP_STEPS = ("started", "joined", "formed", "failed")

Segment = tuple[float, float, bool]  # start, end, still open


def ratio(part: float, whole: float, places: int = 4) -> float | None:
    """``part / whole`` rounded to ``places`` decimals; None when ``whole`` is 0."""
    return round(part / whole, places) if whole else None


def union(intervals: list[tuple[float, float, bool]]) -> list[Segment]:
    """Merge overlapping or touching intervals; a segment is open if an open interval ends it."""
    out: list[Segment] = []
    for start, end, live in sorted(intervals):
        if out and start <= out[-1][1]:
            s, e, o = out[-1]
            if end > e:
                out[-1] = (s, end, live)
            elif end == e:
                out[-1] = (s, e, o or live)
        else:
            out.append((start, end, live))
    return out


def last_seen(data: RoomData, node: str, start: float, stale_s: float) -> float:
    """When ``node`` was last known to hold its open intervals in the room: its last write
    of the room, or its last beat if that came at most ``QUIET_WRITE_S + stale_s`` after the
    write (the node went on writing the room as a quiet one). A beat later than that does
    not count: the node stopped writing the room without closing its intervals (it dropped a
    batch, or it restarted under the same id), and they end at its last write."""
    wrote = data.nodes.get(node, start)
    beat = data.beats.get(node)
    if beat is not None and wrote < beat <= wrote + QUIET_WRITE_S + stale_s:
        return beat
    return wrote


def segments(data: RoomData, now: float, stale_s: float) -> dict[str, list[Segment]]:
    """Each user's union of connected intervals. An open interval ends now, or when its node
    was last seen (``last_seen``) if that is more than ``stale_s`` ago."""
    raw: dict[str, list[tuple[float, float, bool]]] = {user: [] for user in data.users}
    for user, intervals in data.intervals.items():
        raw.setdefault(user, []).extend((s, e, False) for s, e in intervals)
    for node, user, start in data.open:
        seen = last_seen(data, node, start, stale_s)
        live = now - seen <= stale_s
        end = max(start, now if live else seen)
        raw.setdefault(user, []).append((start, end, live))
    return {user: union(intervals) for user, intervals in raw.items()}


def profile_of(source: str, traits: dict[str, str], returning: bool | None) -> bytes:
    """A user's profile as kept (``PROFILE`` order), one per viewer: right-sized (``kept``)."""
    flag = "" if returning is None else ("1" if returning else "0")
    return kept(
        orjson.dumps(
            [
                source,
                traits.get("region", ""),
                traits.get("age", ""),
                traits.get("gender", ""),
                traits.get("follower", ""),
                flag,
            ]
        )
    )


def pins_of(
    boards: dict[int, tuple[float, list[str]]], now: float
) -> list[tuple[str, float, float]]:
    """Each card's pins ``(sku, start, end)`` from the boards in version order: a pin starts
    with the first board holding the card and ends with the next board without it (or now)."""
    pins = []
    pinned: dict[str, float] = {}
    for version in sorted(boards):
        at, skus = boards[version]
        for sku in [s for s in pinned if s not in skus]:
            start = pinned.pop(sku)
            pins.append((sku, start, max(start, at)))
        for sku in skus:
            pinned.setdefault(sku, at)
    pins += [(sku, start, max(start, now)) for sku, start in pinned.items()]
    return pins


def fold(counts: Counter[str], k: int) -> dict[str, int]:
    """A facet's counts with every value held by fewer than ``k`` viewers folded into "other".

    While "other" itself holds 1 to k - 1 viewers, the smallest value left is folded in too, so
    no bucket but "unknown" (no claim) holds fewer than k viewers.
    """
    named = {v: n for v, n in counts.items() if v and v != "other"}
    other = counts.get("other", 0) + sum(n for n in named.values() if n < k)
    named = {v: n for v, n in named.items() if n >= k}
    while 0 < other < k and named:
        smallest = min(named, key=lambda v: (named[v], v))
        other += named.pop(smallest)
    out = dict(sorted(named.items(), key=lambda kv: (-kv[1], kv[0])))
    if other:
        out["other"] = other
    if counts.get(""):
        out["unknown"] = counts[""]
    return out


def build(
    room: str, data: RoomData, *, now: float, k: int, stale_s: float, ended: bool
) -> dict[str, Any]:
    """The report of ``room`` at ``now``."""
    segs = segments(data, now, stale_s)
    profiles = {u: orjson.loads(p) for u, (_, p) in data.users.items()}
    uv = len(segs)
    counts = data.counts
    report: dict[str, Any] = {
        "room": room,
        "generated": now,
        "ended": ended,
        "host": data.host or None,
        "first": data.first,
        "last": data.last,
    }
    report["audience"], report["minutes"] = _audience(segs, counts, now)
    report["watch"] = _watch(segs)
    report["returning"] = _returning(profiles, bool(data.host))
    report["followers"] = {
        "followers": sum(1 for p in profiles.values() if p[4] == "1"),
        "others": sum(1 for p in profiles.values() if p[4] != "1"),
    }
    report["sources"] = _sources(profiles)
    interacting = counts.get("n:interacted", 0)
    report["interaction"] = {
        "comments": counts.get("comments", 0),
        "likes": counts.get("likes", 0),
        "shares": counts.get("shares", 0),
        "follows": counts.get("follows", 0),
        "interacting_viewers": interacting,
        "rate": ratio(interacting, uv),
    }
    report["products"], report["funnel"], report["heatmap"] = _products(data, segs, now)
    report["money"] = _money(counts, uv)
    report["groups"] = _groups(counts)
    report["profile"] = {
        "k": k,
        **{
            facet: fold(Counter(p[1 + i] for p in profiles.values()), k)
            for i, facet in enumerate(FACETS)
        },
    }
    return report


def _audience(
    segs: dict[str, list[Segment]], counts: dict[str, int], now: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    flat = [seg for user_segs in segs.values() for seg in user_segs]
    edges = sorted([(s, 1) for s, _, _ in flat] + [(e, -1) for _, e, o in flat if not o])
    peak, peak_at, here = 0, None, 0
    for t, step in edges:
        here += step
        if here > peak:
            peak, peak_at = here, t
    audience = {
        "online": sum(1 for user_segs in segs.values() if user_segs and user_segs[-1][2]),
        "peak": peak,
        "peak_at": peak_at,
        "unique_viewers": len(segs),
        "entries": len(flat),
        "exits": sum(1 for _, _, o in flat if not o),
    }
    figures = ("viewers", "entries", "exits", "comments", "likes", "shares")
    per: dict[str, Counter[int]] = {figure: Counter() for figure in figures}
    viewers, entries, exits = per["viewers"], per["entries"], per["exits"]
    for user_segs in segs.values():
        last = None
        for s, e, o in user_segs:
            first_minute = int(s // 60) * 60
            last_minute = max(first_minute, int(-(-e // 60)) * 60 - 60)
            entries[first_minute] += 1
            if not o:
                exits[int(e // 60) * 60] += 1
            for minute in range(
                first_minute if first_minute != last else first_minute + 60, last_minute + 1, 60
            ):
                viewers[minute] += 1
            last = last_minute
    for name, n in counts.items():
        if name.startswith("m:"):
            _, at, what = name.split(":", 2)
            if what in ("comments", "likes", "shares"):
                per[what][int(at)] += n
    seen = set().union(*per.values())
    minutes = [
        {"minute": minute, **{figure: per[figure][minute] for figure in figures}}
        for minute in (range(min(seen), max(seen) + 60, 60) if seen else ())
    ]
    return audience, minutes


def _watch(segs: dict[str, list[Segment]]) -> dict[str, Any]:
    watched = [round(sum(e - s for s, e, _ in user_segs), 3) for user_segs in segs.values()]
    n = len(watched)
    return {
        "viewers": n,
        "total_s": round(sum(watched), 3),
        "average_s": round(sum(watched) / n, 3) if n else None,
        "median_s": round(statistics.median(watched), 3) if n else None,
        "retention": {
            str(m): ratio(sum(1 for w in watched if w >= m * 60), n) for m in RETENTION_MINUTES
        },
    }


def _returning(profiles: dict[str, list[str]], has_host: bool) -> dict[str, Any]:
    if not has_host:
        return {"available": False, "new": None, "returning": None}
    back = sum(1 for p in profiles.values() if p[5] == "1")
    return {"available": True, "new": len(profiles) - back, "returning": back}


def _sources(profiles: dict[str, list[str]]) -> dict[str, Any]:
    by = Counter(p[0] for p in profiles.values())
    private = sum(by[s] for s in PRIVATE_SOURCES)
    total = len(profiles)
    return {
        "by_source": {s: by[s] for s in SOURCES},
        "public": total - private,
        "private": private,
        "private_share": ratio(private, total),
    }


def _products(
    data: RoomData, segs: dict[str, list[Segment]], now: float
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    counts = data.counts
    pins = pins_of(data.boards, now)
    skus = {sku for sku, _, _ in pins}
    heat: dict[str, dict[int, int]] = {}
    for name, n in counts.items():
        head, _, rest = name.partition(":")
        if head in ("click", "tried", "orders", "reservations", "gmv", "units"):
            skus.add(rest)
        elif head == "n" and ":" in rest:
            skus.add(rest.partition(":")[2])
        elif head == "m" and ":click:" in rest:
            minute, _, sku = rest.partition(":click:")
            heat.setdefault(sku, {})[int(minute)] = n
    products: list[dict[str, Any]] = []
    for sku in sorted(skus):
        exposures = 0
        for pin_sku, start, end in pins:
            if pin_sku == sku:
                exposures += sum(
                    1
                    for user_segs in segs.values()
                    if any(s < end and e > start for s, e, _ in user_segs)
                )
        clickers = counts.get(f"n:clickers:{sku}", 0)
        tried = counts.get(f"n:tried:{sku}", 0)
        reserved = counts.get(f"n:reserved:{sku}", 0)
        paid = counts.get(f"n:paid:{sku}", 0)
        orders = counts.get(f"orders:{sku}", 0)
        gmv = counts.get(f"gmv:{sku}", 0)
        products.append(
            {
                "sku": sku,
                "exposures": exposures,
                "clicks": counts.get(f"click:{sku}", 0),
                "clickers": clickers,
                "buyers_tried": tried,
                "buyers_reserved": reserved,
                "reservations": counts.get(f"reservations:{sku}", 0),
                "buyers_paid": paid,
                "orders_paid": orders,
                "units": counts.get(f"units:{sku}", 0),
                "gmv": gmv,
                "aov": gmv // orders if orders else None,
                "conversion": {
                    "click": ratio(clickers, exposures),
                    "try": ratio(tried, clickers),
                    "reserve": ratio(reserved, tried),
                    "pay": ratio(paid, reserved),
                },
            }
        )
    steps = ("exposures", "clickers", "buyers_tried", "buyers_reserved", "buyers_paid")
    funnel = {step: sum(p[step] for p in products) for step in steps}
    minutes = sorted({m for cells in heat.values() for m in cells})
    heatmap = {
        "minutes": minutes,
        "cards": [
            {"sku": sku, "clicks": [heat.get(sku, {}).get(m, 0) for m in minutes]}
            for sku in sorted(skus)
        ],
    }
    return products, funnel, heatmap


def _groups(counts: dict[str, int]) -> dict[str, Any]:
    """The group-buy funnel: groups started, places joined, groups formed and failed."""
    steps = {step: counts.get(f"groups:{step}", 0) for step in GROUP_STEPS}
    return {**steps, "form_rate": ratio(steps["formed"], steps["formed"] + steps["failed"])}


def _money(counts: dict[str, int], uv: int) -> dict[str, Any]:
    hours: dict[int, dict[str, int]] = {}
    for name, n in counts.items():
        if name.startswith("h:"):
            _, hour, what = name.split(":", 2)
            hours.setdefault(int(hour), {"gmv": 0, "spend": 0})[what] = n
    gmv = sum(counts.get(name, 0) for name in counts if name.startswith("gmv:"))
    spend = counts.get("spend", 0)
    return {
        "gmv": gmv,
        "units": sum(n for name, n in counts.items() if name.startswith("units:")),
        "orders": sum(n for name, n in counts.items() if name.startswith("orders:")),
        "ad_spend": spend,
        "uv_value": ratio(gmv, uv, 2),
        "roi": ratio(gmv, spend),
        "hours": [
            {"hour": h, "gmv": v["gmv"], "ad_spend": v["spend"], "roi": ratio(v["gmv"], v["spend"])}
            for h, v in sorted(hours.items())
        ],
    }
