"""Coupons on group-buy orders, written once and run against MemoryEngine, a real Redis and a
real Redis Cluster: a place names a coupon, the join checks it, the fill uses it on the
member's order, and a cancel or an expiry gives it back once. The deal's audit and the batch's
audit hold after every step that may change them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liveroom.engine.base import Engine
from liveroom.engine.coupons import CouponAnswer, CouponStatus
from liveroom.features.coupons import coupon_store
from liveroom.features.coupons.store import CouponStore
from liveroom.features.coupons.store import audit as audit_batch
from liveroom.features.groupbuy import deal_store
from liveroom.features.groupbuy.store import (
    Answer,
    DealSpec,
    DealStore,
    GroupStatus,
    Mode,
    OrderStatus,
    audit,
)
from tests.conftest import EVERY_ENGINE
from tests.coupons.test_store import ROOM, claimed, events, issue
from tests.timeouts import eventually

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)

PRICE = 990


async def open_deal(engine: Engine, size: int = 2, **more: Any) -> DealStore:
    deals = deal_store(engine)
    fields: dict[str, Any] = {
        "id": "d1", "sku": "SKU-1", "title": "Tea", "size": size, "price": PRICE, "stock": 30,
        "limit": 3,
    }  # fmt: skip
    assert (await deals.create(ROOM, DealSpec(**{**fields, **more}))).code is Answer.OK
    assert (await deals.open(ROOM, "d1")).code is Answer.OK
    return deals


async def audited(deals: DealStore, coupons: CouponStore, batch: str) -> dict[str, Any]:
    """Both ledgers hold: the deal's audit and the batch's."""
    ledger = await deals.ledger(ROOM, "d1")
    assert ledger is not None
    report = audit(ledger)
    assert report["ok"], report
    found = await coupons.get(ROOM, batch)
    assert found is not None
    checked = audit_batch(found, await coupons.coupons(ROOM, batch))
    assert checked["ok"], checked
    return report


async def test_a_coupon_named_at_join_reduces_the_order_at_the_fill(engine: Engine) -> None:
    """u1 starts with a 100-fen coupon, u2 joins without: u1's order costs 100 less, u2's
    the group price; coupon.used names u1's order, order.reserved carries the discount."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine)
    first = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    assert first.code is Answer.OK and (first.coupon, first.discount) == (coupon, 100)
    assert (await coupons.wallet(ROOM, "u1"))[0].status is CouponStatus.CLAIMED
    assert first.group is not None
    second = await deals.join(ROOM, "d1", Mode.JOIN, "u2", "U2", 1, "q1", first.group.id)
    assert second.formed and second.group is not None
    orders = {m.user: await deals.order(ROOM, "d1", m.order) for m in second.group.members}
    mine, theirs = orders["u1"], orders["u2"]
    assert mine is not None and theirs is not None
    assert (mine.coupon, mine.discount, mine.total) == (coupon, 100, PRICE - 100)
    assert (theirs.coupon, theirs.discount, theirs.total) == ("", 0, PRICE)
    (used,) = await events(engine, "coupon.used")
    assert (used["order"], used["discount"]) == (mine.id, 100)
    reserved = {e["user"]: e for e in await events(engine, "order.reserved")}
    assert (reserved["u1"]["discount"], reserved["u1"]["coupon"]) == (100, coupon)
    assert reserved["u2"]["coupon"] is None
    wallet = (await coupons.wallet(ROOM, "u1"))[0]
    assert (wallet.status, wallet.order) == (CouponStatus.USED, mine.id)
    await audited(deals, coupons, batch)


async def test_a_coupon_never_takes_the_order_below_zero(engine: Engine) -> None:
    """A 5,000-fen coupon on a 990-fen place: the discount is 990 and the order costs 0."""
    coupons = coupon_store(engine)
    batch = await issue(coupons, value=5000)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine)
    first = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    assert first.discount == PRICE
    formed = await deals.join(ROOM, "d1", Mode.MATCH, "u2", "U2", 1, "q1")
    assert formed.group is not None
    order = await deals.order(ROOM, "d1", formed.group.members[0].order)
    assert order is not None and (order.discount, order.total) == (PRICE, 0)
    await audited(deals, coupons, batch)


async def test_a_place_with_a_coupon_it_may_not_use_is_refused(engine: Engine) -> None:
    """Someone else's coupon, an unknown one, one for another product: refused with the
    coupon's code, no place taken, the answer stored under the request id."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    theirs = await claimed(coupons, batch, "u2")
    other = await claimed(coupons, await issue(coupons, sku="SKU-9"), "u1")
    deals = await open_deal(engine)
    cases = [(theirs, CouponAnswer.NOT_YOURS), ("cp00-1", CouponAnswer.UNKNOWN)]
    cases.append((other, CouponAnswer.NOT_APPLICABLE))
    for n, (coupon, code) in enumerate(cases):
        answer = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, f"q{n}", coupon=coupon)
        assert (answer.code, answer.fresh) == (code, False)
        again = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, f"q{n}")
        assert again.code is code
    report = await audited(deals, coupons, batch)
    assert report["held"] == 0 and report["stock"] == 30


async def test_a_coupon_used_elsewhere_before_the_fill_leaves_the_order_at_full_price(
    engine: Engine,
) -> None:
    """u1 names its coupon in two groups; the first to form uses it, the second reserves
    u1's order at the group price and says why (coupon_refused: coupon_used)."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine)
    a = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    b = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q2", coupon=coupon)
    assert a.group is not None and b.group is not None and b.discount == 100
    first = await deals.join(ROOM, "d1", Mode.JOIN, "u2", "U2", 1, "q1", a.group.id)
    second = await deals.join(ROOM, "d1", Mode.JOIN, "u3", "U3", 1, "q1", b.group.id)
    assert first.group is not None and second.group is not None
    used = await deals.order(ROOM, "d1", first.group.members[0].order)
    full = await deals.order(ROOM, "d1", second.group.members[0].order)
    assert used is not None and full is not None
    assert (used.discount, used.coupon, used.coupon_refused) == (100, coupon, None)
    assert (full.discount, full.coupon, full.coupon_refused) == (0, "", CouponAnswer.USED)
    assert full.public()["coupon_refused"] == "coupon_used"
    assert len(await events(engine, "coupon.used")) == 1
    await audited(deals, coupons, batch)


async def test_a_cancel_gives_a_group_orders_coupon_back_once(engine: Engine) -> None:
    """Cancelled twice: one coupon.returned; the coupon then serves a new place."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine)
    await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    formed = await deals.join(ROOM, "d1", Mode.MATCH, "u2", "U2", 1, "q1")
    assert formed.group is not None
    order = formed.group.members[0].order
    assert (await deals.cancel(ROOM, "d1", order)).moved
    assert not (await deals.cancel(ROOM, "d1", order)).moved
    (returned,) = await events(engine, "coupon.returned")
    assert (returned["order"], returned["reason"]) == (order, "cancelled")
    assert (await coupons.wallet(ROOM, "u1"))[0].status is CouponStatus.CLAIMED
    again = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q2", coupon=coupon)
    assert again.code is Answer.OK and again.discount == 100
    await audited(deals, coupons, batch)


async def test_a_paid_group_order_keeps_its_coupon(engine: Engine) -> None:
    """Confirmed, then cancelled (a conflict): the coupon stays used, nothing returned."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine)
    await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    formed = await deals.join(ROOM, "d1", Mode.MATCH, "u2", "U2", 1, "q1")
    assert formed.group is not None
    order = formed.group.members[0].order
    assert (await deals.confirm(ROOM, "d1", order)).code is Answer.OK
    assert (await deals.cancel(ROOM, "d1", order)).code is Answer.CONFLICT
    assert (await coupons.wallet(ROOM, "u1"))[0].status is CouponStatus.USED
    assert await events(engine, "coupon.returned") == []
    await audited(deals, coupons, batch)


async def test_expired_group_orders_give_their_coupons_back_once(engine: Engine) -> None:
    """Orders with 50 ms to pay, swept by two sweepers at once: each coupon comes back once."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    deals = await open_deal(engine, size=3, payment_s=0.05)
    held = {user: await claimed(coupons, batch, user) for user in ("u1", "u2", "u3")}
    first = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=held["u1"])
    assert first.group is not None
    for user in ("u2", "u3"):
        await deals.join(ROOM, "d1", Mode.JOIN, user, user, 1, "q1", first.group.id, held[user])
    group = await deals.group(ROOM, "d1", first.group.id)
    assert group is not None and group.status is GroupStatus.FORMED
    orders = [m.order for m in group.members]

    async def all_expired() -> bool:
        await asyncio.gather(deals.sweep(), deals.sweep())
        found = [await deals.order(ROOM, "d1", o) for o in orders]
        return all(o is not None and o.status is OrderStatus.EXPIRED for o in found)

    await eventually(all_expired)
    returned = await events(engine, "coupon.returned")
    assert sorted(r["order"] for r in returned) == sorted(orders)
    assert {r["reason"] for r in returned} == {"expired"}
    for user in held:
        assert (await coupons.wallet(ROOM, user))[0].status is CouponStatus.CLAIMED
    await audited(deals, coupons, batch)


async def test_a_failed_group_uses_no_coupon(engine: Engine) -> None:
    """A group that never fills: its member's coupon was never used, so nothing comes back,
    and it serves the next place at once."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine, fill_s=0.05)
    await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)

    async def failed() -> bool:
        await asyncio.gather(deals.sweep(), deals.sweep())
        ledger = await deals.ledger(ROOM, "d1")
        return ledger is not None and ledger.deal.failed == 1

    await eventually(failed)
    assert await events(engine, "coupon.used") == []
    assert await events(engine, "coupon.returned") == []
    assert (await coupons.wallet(ROOM, "u1"))[0].status is CouponStatus.CLAIMED
    again = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q2", coupon=coupon)
    assert again.code is Answer.OK and again.discount == 100
    await audited(deals, coupons, batch)


async def test_a_replayed_place_keeps_its_coupon_answer(engine: Engine) -> None:
    """The same request id again: the same coupon and discount, no second place."""
    coupons = coupon_store(engine)
    batch = await issue(coupons, kind="percent", value=50, cap=300)
    coupon = await claimed(coupons, batch, "u1")
    deals = await open_deal(engine)
    first = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    again = await deals.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1", coupon=coupon)
    assert (first.discount, again.discount, again.coupon, again.fresh) == (300, 300, coupon, False)
    report = await audited(deals, coupons, batch)
    assert report["groups"]["open"] == 1
