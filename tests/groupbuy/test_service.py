"""``GroupBuy`` on both engines: the seams it calls (``order_paid``, analytics' group funnel)
and the room events its answers become."""

from __future__ import annotations

import time
from typing import Any

import orjson

from liveroom.engine.base import Engine
from liveroom.features.analytics.tally import Tally
from liveroom.features.coupons import coupon_store
from liveroom.features.coupons.rules import batch_from_body
from liveroom.features.groupbuy import GroupBuy, deal_store
from liveroom.features.groupbuy.settings import GroupSettings
from liveroom.features.groupbuy.store import DealSpec, Mode
from tests.timeouts import eventually

SETTINGS = GroupSettings(payment_s=60, throttle_s=0.05, sweep_interval_s=0.1)


def spec(**more: Any) -> DealSpec:
    fields: dict[str, Any] = {
        "id": "d1", "sku": "TEA", "title": "Tea", "size": 2, "price": 990, "stock": 10,
    }  # fmt: skip
    fields.update(more)
    return DealSpec(**fields)


async def room_events(engine: Engine, room: str) -> list[dict[str, Any]]:
    """The room's history (the test's engines keep 50 events)."""
    epoch = (await engine.head(room)).epoch
    return [orjson.loads(raw) for raw in (await engine.history(room, 0, 100, epoch)).events]


async def test_a_confirm_tells_the_order_paid_seam_and_analytics(engine: Engine) -> None:
    """Each confirm calls ``order_paid`` with kind "group" and the order's price and discount;
    the tally counts the funnel's steps and the payment once."""
    paid: list[tuple[str, str, dict[str, Any]]] = []

    async def order_paid(room: str, user: str, order: dict[str, Any]) -> None:
        paid.append((room, user, order))

    tally = Tally(time.time)
    groups = GroupBuy(engine, deal_store(engine), SETTINGS, lambda: tally, order_paid)
    try:
        await groups.create("r1", spec(), open_now=True)
        first = await groups.take("r1", "d1", Mode.START, "a", "Ann", 1, "q")
        second = await groups.take("r1", "d1", Mode.JOIN, "b", "Bob", 1, "q", first["group"]["id"])
        assert second["formed"] and second["order"]
        await groups.confirm("r1", "d1", second["order"])
        await groups.confirm("r1", "d1", second["order"])  # a repeat is told again
        assert [(r, u) for r, u, _ in paid] == [("r1", "b"), ("r1", "b")]
        order = paid[0][2]
        assert order["kind"] == "group" and order["id"] == second["order"]
        assert (order["price"], order["discount"], order["group"]) == (
            990, 0, first["group"]["id"]
        )  # fmt: skip
        (batch,) = tally.drain()
        counts = batch.counts
        assert (counts["groups:started"], counts["groups:joined"], counts["groups:formed"]) == (
            1, 1, 1
        )  # fmt: skip
        assert list(batch.paid) == [f"d1/{second['order']}"]
        assert batch.paid[f"d1/{second['order']}"].cents == 990
    finally:
        await groups.shutdown()


async def test_outcomes_and_progress_reach_the_room(engine: Engine) -> None:
    """A start gives a ``groups`` event ("needs 1"); a fill gives ``group_formed``; a sweep
    past the fill time gives ``group_failed``, once, and the funnel counts it."""
    tally = Tally(time.time)

    async def order_paid(room: str, user: str, order: dict[str, Any]) -> None:
        pass

    groups = GroupBuy(engine, deal_store(engine), SETTINGS, lambda: tally, order_paid)
    try:
        await groups.create("r2", spec(fill_s=0.2), open_now=True)
        formed = await groups.take("r2", "d1", Mode.START, "a", "Ann", 1, "q")
        await groups.take("r2", "d1", Mode.JOIN, "b", "Bob", 1, "q", formed["group"]["id"])
        lonely = await groups.take("r2", "d1", Mode.START, "c", "Cy", 1, "q")

        async def progress() -> dict[str, Any] | None:
            events = await room_events(engine, "r2")
            found = [
                g for e in events if e["type"] == "groups" for g in e["groups"]
                if g["id"] == lonely["group"]["id"]
            ]  # fmt: skip
            return found[-1] if found else None

        card = await eventually(progress, timeout=5)
        assert card["needs"] == 1 and "还差 1 人" in card["text"]

        async def failed() -> int:
            return await groups.sweep()

        assert await eventually(failed, timeout=5) == 1
        assert await groups.sweep() == 0
        events = await room_events(engine, "r2")
        kinds = [e["type"] for e in events if e["type"].startswith("group_")]
        assert kinds == ["group_formed", "group_failed"]
        assert [e["group"]["id"] for e in events if e["type"] == "group_failed"] == [
            lonely["group"]["id"]
        ]
        counts = tally.drain()[0].counts
        assert (counts["groups:started"], counts["groups:formed"], counts["groups:failed"]) == (
            2, 1, 1
        )  # fmt: skip
    finally:
        await groups.shutdown()


async def test_closing_announces_each_failed_group(engine: Engine) -> None:
    """Close: every open group fails with reason "closed" and the room hears each one; the
    deal event says closed."""

    async def order_paid(room: str, user: str, order: dict[str, Any]) -> None:
        pass

    groups = GroupBuy(engine, deal_store(engine), SETTINGS, lambda: Tally(time.time), order_paid)
    try:
        await groups.create("r3", spec(size=3), open_now=True)
        a = await groups.take("r3", "d1", Mode.START, "a", "Ann", 1, "q")
        b = await groups.take("r3", "d1", Mode.START, "b", "Bob", 1, "q")
        closed = await groups.close("r3", "d1")
        assert closed.status.value == "closed" and closed.stock == 10
        events = await room_events(engine, "r3")
        failed = [e["group"] for e in events if e["type"] == "group_failed"]
        assert sorted(g["id"] for g in failed) == sorted([a["group"]["id"], b["group"]["id"]])
        assert {g["reason"] for g in failed} == {"closed"}
        assert [e["deal"]["status"] for e in events if e["type"] == "deal"] == ["open", "closed"]
    finally:
        await groups.shutdown()


async def test_analytics_count_a_group_order_paid_after_its_coupon(engine: Engine) -> None:
    """A member's 250-fen coupon, used at the fill: the paid cents analytics count are the
    order's total (990 - 250), and ``order_paid`` sees the discount and the coupon."""
    paid: list[dict[str, Any]] = []

    async def order_paid(room: str, user: str, order: dict[str, Any]) -> None:
        paid.append(order)

    batch = batch_from_body("r1", {"value": 250, "count": 5}, time.time())
    coupons = coupon_store(engine)
    assert await coupons.issue("r1", batch)
    held = (await coupons.claim("r1", batch.id, "b")).coupon
    assert held is not None
    tally = Tally(time.time)
    groups = GroupBuy(engine, deal_store(engine), SETTINGS, lambda: tally, order_paid)
    try:
        await groups.create("r1", spec(), open_now=True)
        first = await groups.take("r1", "d1", Mode.START, "a", "Ann", 1, "q")
        gid = first["group"]["id"]
        second = await groups.take("r1", "d1", Mode.JOIN, "b", "Bob", 1, "q", gid, held.id)
        assert (second["discount"], second["coupon"]) == (250, held.id)
        await groups.confirm("r1", "d1", second["order"])
        assert (paid[0]["discount"], paid[0]["coupon"], paid[0]["total"]) == (250, held.id, 740)
        (drained,) = tally.drain()
        assert drained.paid[f"d1/{second['order']}"].cents == 740
    finally:
        await groups.shutdown()
