"""The group-buy race (issue 22, acceptance 1): B distinct buyers go for S units in groups of K.

One place per buyer, over HTTP with the backend's key (``user`` in the body), spread over the
nodes given: a fifth start a group, two fifths join a group started shortly before (as a share
link would), the rest ask to be matched. Groups have a short fill time, so some expire during
the run and give their units back for later buyers. After the last answer the race waits for
the sweepers to fail every group still open, then reads the deal's audit.

``failures`` judges the outcome, and with the room's business events (``events``) the feed:
every group formed or failed, none over K, the audit holds, every formed group has exactly K
reserved orders, exactly one ``group.formed`` or ``group.failed`` per group, and every
acknowledged place is in its group's event. Used by ``python -m loadtest groupbuy`` and by
``tests/groupbuy``; the speed it measures is reported, never judged.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loadtest.keepalive import KeepAlive


@dataclass(frozen=True, slots=True)
class RaceSpec:
    buyers: int = 3000
    stock: int = 300
    size: int = 3
    fill_s: float = 1.0
    #: places asked for at once, over all nodes
    concurrency: int = 64
    #: places offered per second (0: as fast as they are answered); a paced race lasts several
    #: fill times, so groups expire while buyers still arrive however fast the server is
    rate: float = 0.0
    seed: int = 22


@dataclass(slots=True)
class Place:
    """One buyer's answer."""

    user: str
    how: str  # start, join or match
    status: int
    code: str  # "ok" or the refusal's code
    group: str = ""
    latency_s: float = 0.0


@dataclass(slots=True)
class RaceResult:
    deal: str
    spec: RaceSpec
    places: list[Place] = field(default_factory=list)
    audit: dict[str, Any] = field(default_factory=dict)
    window_s: float = 0.0
    settle_s: float = 0.0

    @property
    def joins_per_s(self) -> float:
        return round(len(self.places) / self.window_s, 1) if self.window_s > 0 else 0.0

    def latency_ms(self, share: float) -> float:
        """The latency below which ``share`` of the answers came, in ms."""
        ordered = sorted(p.latency_s for p in self.places)
        if not ordered:
            return 0.0
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 2)

    def codes(self) -> dict[str, int]:
        return dict(Counter(p.code for p in self.places))

    def placed(self) -> dict[str, int]:
        """Places that got in, by how they were asked for (start, join, match)."""
        return dict(Counter(p.how for p in self.places if p.code == "ok"))


async def race(bases: list[tuple[str, int]], api_key: str, room: str, spec: RaceSpec) -> RaceResult:
    """Run the race against the nodes at ``bases`` (host, port); see the module's docstring."""
    headers = {"Authorization": f"Bearer {api_key}"}
    per_node = spec.concurrency // len(bases) + 1
    pools = [await KeepAlive(host, port, headers, per_node).open() for host, port in bases]
    deal = "race-" + secrets.token_hex(3)
    path = f"/api/rooms/{room}/deals"
    try:
        status, body = await pools[0].call(
            "POST",
            path,
            {
                "id": deal,
                "sku": deal,
                "title": "group race",
                "size": spec.size,
                "price": 990,
                "stock": spec.stock,
                "limit": 1,
                "fill_s": spec.fill_s,
                "payment_s": 3600,
                "open": True,
            },
        )
        if status != 200:
            raise RuntimeError(f"creating the deal answered {status}: {body}")
        result = RaceResult(deal, spec)
        await _run(pools, f"{path}/{deal}", spec, result)
        settled = time.monotonic()
        result.audit = await _settled(pools[-1], f"{path}/{deal}/audit", spec.fill_s + 30)
        result.settle_s = round(time.monotonic() - settled, 3)
        return result
    finally:
        for pool in pools:
            await pool.close()


async def _run(pools: list[KeepAlive], base: str, spec: RaceSpec, result: RaceResult) -> None:
    rng = random.Random(spec.seed)
    begin = time.monotonic()
    started: list[str] = []  # group ids, newest last: what share links point at
    gate = asyncio.Semaphore(spec.concurrency)

    async def one(i: int) -> None:
        user = f"b{i}"
        if spec.rate > 0:  # the buyer's arrival time
            await asyncio.sleep(max(0.0, begin + i / spec.rate - time.monotonic()))
        async with gate:  # decided here, when earlier answers have come: groups to join
            roll = rng.random()
            if roll < 0.2 or (roll < 0.6 and not started):
                how, path = "start", base + "/groups"
            elif roll < 0.6:
                how, path = "join", f"{base}/groups/{rng.choice(started[-20:])}/join"
            else:
                how, path = "match", base + "/match"
            sent = time.monotonic()
            status, body = await pools[i % len(pools)].call(
                "POST", path, {"user": user, "request_id": "p1"}
            )
            took = time.monotonic() - sent
        code = "ok" if status == 200 else str(body.get("error", {}).get("code", status))
        group = str(body.get("group", {}).get("id", "")) if status == 200 else ""
        if how == "start" and group:
            started.append(group)
        result.places.append(Place(user, how, status, code, group, took))

    await asyncio.gather(*(one(i) for i in range(spec.buyers)))
    result.window_s = round(time.monotonic() - begin, 3)


async def _settled(pool: KeepAlive, path: str, timeout: float) -> dict[str, Any]:
    """The audit once no group is open any more (the sweepers failed the last ones)."""
    deadline = time.monotonic() + timeout
    while True:
        status, audit = await pool.call("GET", path)
        if status == 200 and audit["groups"]["open"] == 0 or time.monotonic() > deadline:
            return dict(audit)
        await asyncio.sleep(0.1)  # the sweepers run on their own interval: poll the audit


def failures(result: RaceResult, events: list[dict[str, Any]] | None = None) -> list[str]:
    """What is wrong with the race's outcome (empty: all holds). ``events``: the room's
    business events (``docs/events.md`` form), for the feed's checks."""
    spec, audit = result.spec, result.audit
    out = []
    groups = audit.get("groups", {})
    if not audit.get("ok"):
        out.append(f"audit not ok: {audit}")
    if groups.get("open"):
        out.append(f"{groups['open']} groups still open")
    if audit.get("bad_groups"):
        out.append(f"groups not well formed: {audit['bad_groups'][:5]}")
    formed = groups.get("formed", 0)
    if audit.get("reserved") != formed * spec.size or audit.get("paid") or audit.get("expired"):
        out.append(f"{formed} formed groups but {audit.get('reserved')} units reserved")
    if set(result.codes()) - {"ok", "deal_sold_out", "group_full", "group_not_open",
                              "no_open_group"}:  # fmt: skip
        out.append(f"unexpected answers: {result.codes()}")
    if events is not None:
        out += _feed_failures(result, events)
    return out


def _feed_failures(result: RaceResult, events: list[dict[str, Any]]) -> list[str]:
    out = []
    deal, size = result.deal, result.spec.size
    total = sum(result.audit.get("groups", {}).values())
    every = {f"{deal}-g{n}" for n in range(1, total + 1)}
    outcomes: Counter[str] = Counter()
    members: dict[str, set[str]] = {}
    reserved = 0
    for event in events:
        data = event["data"]
        if data.get("deal") != deal:
            continue
        if event["type"] in ("group.formed", "group.failed"):
            outcomes[data["group"]] += 1
            members[data["group"]] = set(data["members"])
            if event["type"] == "group.formed" and len(data["orders"]) != size:
                out.append(f"group {data['group']} formed with {len(data['orders'])} orders")
        elif event["type"] == "order.reserved":
            reserved += 1
    if set(outcomes) != every or any(n != 1 for n in outcomes.values()):
        twice = sorted(g for g, n in outcomes.items() if n != 1)[:5]
        missing = sorted(every - set(outcomes))[:5]
        out.append(f"feed: outcomes per group not exactly one (twice {twice}, none {missing})")
    lost = [
        p.user for p in result.places if p.code == "ok" and p.user not in members.get(p.group, ())
    ]
    if lost:
        out.append(f"feed: {len(lost)} acknowledged places missing from their group: {lost[:5]}")
    if reserved != result.audit.get("reserved"):
        out.append(f"feed: {reserved} order.reserved for {result.audit.get('reserved')} units")
    return out
