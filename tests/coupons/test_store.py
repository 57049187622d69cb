"""The coupon conformance suite, written once and run against MemoryEngine, a real Redis and
a real Redis Cluster: batches, atomic claims, and a coupon's one use and one return through a
flash-sale order (the engine's coupon seam)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from liveroom.engine.base import Engine
from liveroom.engine.coupons import CouponAnswer, CouponKind, CouponStatus
from liveroom.features.coupons import coupon_store
from liveroom.features.coupons.rules import batch_from_body
from liveroom.features.coupons.store import Claim, CouponStore, audit
from liveroom.features.events import feed_source
from liveroom.features.flashsale import sale_store
from liveroom.features.flashsale.store import Answer, OrderStatus, SaleSpec, SaleStore
from liveroom.features.flashsale.store import audit as audit_sale
from tests.conftest import EVERY_ENGINE
from tests.timeouts import eventually

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)

ROOM = "r1"


async def issue(store: CouponStore, **body: Any) -> str:
    """A new batch in ROOM (100 fen off, 10 coupons unless ``body`` says otherwise)."""
    batch = batch_from_body(ROOM, {"value": 100, "count": 10, **body}, time.time())
    assert await store.issue(ROOM, batch)
    return batch.id


async def open_sale(engine: Engine, price: int = 1990, **more: Any) -> SaleStore:
    sales = sale_store(engine)
    spec = {"id": "s1", "sku": "SKU-1", "title": "Tea", "price": price, "stock": 10, "limit": 5}
    assert (await sales.create(ROOM, SaleSpec(**{**spec, **more}))).code is Answer.OK
    assert (await sales.open(ROOM, "s1")).code is Answer.OK
    return sales


async def events(engine: Engine, kind: str) -> list[dict[str, Any]]:
    """The payloads of ROOM's business events of type ``kind``, oldest first."""
    source = feed_source(engine)
    lane = "t" + uuid.uuid4().hex[:8]
    await source.open_lane(ROOM, lane, 0.0)
    read = await source.read(ROOM, lane, "n1", 10_000)
    return [e.event()["data"] for e in read.entries if e.event()["type"] == kind]


async def claimed(store: CouponStore, batch: str, user: str) -> str:
    result = await store.claim(ROOM, batch, user)
    assert result.answer is Claim.OK and result.coupon is not None, result
    return result.coupon.id


async def test_issue_then_read(engine: Engine) -> None:
    """An issued batch reads back whole, with nothing claimed; another room has none."""
    store = coupon_store(engine)
    batch = await issue(store, kind="percent", value=20, cap=500, min=1000, sku="SKU-1")
    found = await store.get(ROOM, batch)
    assert found is not None and found.claimed == 0 and found.left == 10
    assert (found.kind, found.value, found.cap, found.min, found.sku) == (
        CouponKind.PERCENT, 20, 500, 1000, "SKU-1"
    )  # fmt: skip
    assert [b.id for b in await store.in_room(ROOM)] == [batch]
    assert await store.get("r2", batch) is None and await store.in_room("r2") == []


async def test_a_claim_gives_one_coupon_per_user(engine: Engine) -> None:
    """The first claim makes the coupon and its event; the second gives the same coupon back."""
    store = coupon_store(engine)
    batch = await issue(store)
    first = await store.claim(ROOM, batch, "u1")
    assert first.answer is Claim.OK and first.coupon is not None and first.batch is not None
    assert first.coupon.user == "u1" and first.coupon.status is CouponStatus.CLAIMED
    assert first.batch.claimed == 1
    again = await store.claim(ROOM, batch, "u1")
    assert again.answer is Claim.ALREADY and again.coupon == first.coupon
    assert [c.id for c in await store.wallet(ROOM, "u1")] == [first.coupon.id]
    assert await store.wallet(ROOM, "u2") == []
    assert await events(engine, "coupon.claimed") == [
        {"coupon": first.coupon.id, "batch": batch, "user": "u1", "left": 9}
    ]


async def test_claims_never_exceed_the_count(engine: Engine) -> None:
    """Forty claimers at once for five coupons: five get one, the rest hear coupon_gone."""
    store = coupon_store(engine)
    batch = await issue(store, count=5)
    results = await asyncio.gather(*(store.claim(ROOM, batch, f"u{i}") for i in range(40)))
    answers = [r.answer for r in results]
    assert answers.count(Claim.OK) == 5 and answers.count(Claim.GONE) == 35
    found = await store.get(ROOM, batch)
    assert found is not None
    report = audit(found, await store.coupons(ROOM, batch))
    assert report["ok"] and report["claimed"] == 5, report


async def test_the_claim_window(engine: Engine) -> None:
    """Before its start a batch answers not_started; once closed, claim_closed."""
    store = coupon_store(engine)
    later = await issue(store, start=time.time() + 60)
    assert (await store.claim(ROOM, later, "u1")).answer is Claim.NOT_STARTED
    batch = await issue(store)
    closed = await store.close(ROOM, batch)
    assert closed is not None and closed.end > 0
    assert (await store.claim(ROOM, batch, "u1")).answer is Claim.CLOSED
    assert (await store.claim(ROOM, "nope", "u1")).answer is Claim.NOT_FOUND


async def test_a_keyword_batch_opens_to_who_said_it(engine: Engine) -> None:
    """Claiming needs the keyword said first; another text opens nothing."""
    store = coupon_store(engine)
    batch = await issue(store, eligibility="keyword", keyword="想要")
    assert await store.keywords(ROOM) == frozenset({"想要"})
    assert (await store.claim(ROOM, batch, "u1")).answer is Claim.NOT_ELIGIBLE
    assert await store.said(ROOM, "u1", "hello") == []
    assert await store.said(ROOM, "u1", "想要") == [batch]
    assert await store.said(ROOM, "u1", "想要") == []  # once
    assert (await store.claim(ROOM, batch, "u1")).answer is Claim.OK
    assert (await store.claim(ROOM, batch, "u2")).answer is Claim.NOT_ELIGIBLE


async def test_a_buy_with_a_coupon_pays_less(engine: Engine) -> None:
    """100 fen off a 1990 order: the order, the answer and the events say so."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons), "u1")
    sales = await open_sale(engine)
    answer = await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)
    assert answer.code is Answer.OK and answer.fresh
    assert (answer.price, answer.discount, answer.coupon) == (1990, 100, coupon)
    order = await sales.order(ROOM, "s1", answer.order or "")
    assert order is not None and (order.discount, order.coupon, order.total) == (100, coupon, 1890)
    (held,) = await coupons.wallet(ROOM, "u1")
    assert held.status is CouponStatus.USED and held.order == order.id
    (used,) = await events(engine, "coupon.used")
    assert used == {"coupon": coupon, "batch": held.batch, "user": "u1", "order": order.id,
                    "discount": 100}  # fmt: skip
    (reserved,) = await events(engine, "order.reserved")
    assert reserved["discount"] == 100 and reserved["coupon"] == coupon


async def test_a_percent_coupon_stops_at_its_cap_and_at_zero(engine: Engine) -> None:
    """20% of 3 x 1990 is 1194, capped at 500; 5000 fen off a 1990 order leaves 0, not less."""
    coupons = coupon_store(engine)
    percent = await claimed(coupons, await issue(coupons, kind="percent", value=20, cap=500), "u1")
    big = await claimed(coupons, await issue(coupons, value=5000), "u1")
    sales = await open_sale(engine)
    capped = await sales.buy(ROOM, "s1", "u1", 3, "q1", percent)
    assert capped.code is Answer.OK and capped.discount == 500
    whole = await sales.buy(ROOM, "s1", "u1", 1, "q2", big)
    assert whole.code is Answer.OK and whole.discount == 1990
    order = await sales.order(ROOM, "s1", whole.order or "")
    assert order is not None and order.total == 0


async def test_a_coupon_is_used_once_and_only_by_its_holder(engine: Engine) -> None:
    """A second order with a used coupon, someone else's coupon, an unknown one: refused, and
    the refused buys reserve nothing."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons), "u1")
    sales = await open_sale(engine)
    assert (await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)).code is Answer.OK
    assert (await sales.buy(ROOM, "s1", "u1", 1, "q2", coupon)).code is CouponAnswer.USED
    assert (await sales.buy(ROOM, "s1", "u2", 1, "q1", coupon)).code is CouponAnswer.NOT_YOURS
    assert (await sales.buy(ROOM, "s1", "u1", 1, "q3", "nope-1")).code is CouponAnswer.UNKNOWN
    sale = await sales.get(ROOM, "s1")
    assert sale is not None and sale.stock == 9
    assert len(await events(engine, "coupon.used")) == 1


async def test_a_replayed_buy_neither_uses_again_nor_changes_its_answer(engine: Engine) -> None:
    """The same request id answers the same order, price and discount."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons), "u1")
    sales = await open_sale(engine)
    first = await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)
    again = await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)
    assert again.code is Answer.OK and not again.fresh
    assert (again.order, again.discount, again.coupon) == (first.order, 100, coupon)
    assert len(await events(engine, "coupon.used")) == 1


async def test_a_coupon_that_does_not_apply(engine: Engine) -> None:
    """Another sku, or an order under the minimum spend: not_applicable, the coupon unused."""
    coupons = coupon_store(engine)
    other = await claimed(coupons, await issue(coupons, sku="SKU-9"), "u1")
    dear = await claimed(coupons, await issue(coupons, min=5000), "u1")
    sales = await open_sale(engine)
    assert (await sales.buy(ROOM, "s1", "u1", 1, "q1", other)).code is CouponAnswer.NOT_APPLICABLE
    assert (await sales.buy(ROOM, "s1", "u1", 1, "q2", dear)).code is CouponAnswer.NOT_APPLICABLE
    assert (await sales.buy(ROOM, "s1", "u1", 3, "q3", dear)).code is Answer.OK  # 5970 >= 5000
    statuses = {c.id: c.status for c in await coupons.wallet(ROOM, "u1")}
    assert statuses == {other: CouponStatus.CLAIMED, dear: CouponStatus.USED}


async def test_an_expired_coupon_is_refused(engine: Engine) -> None:
    """A coupon valid for 50 ms answers coupon_expired once that has passed."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons, valid_s=0.05), "u1")
    sales = await open_sale(engine)
    tries = iter(range(10_000))

    async def refused() -> bool:
        answer = await sales.buy(ROOM, "s1", "u1", 1, f"q{next(tries)}", coupon)
        assert answer.code in (CouponAnswer.EXPIRED, Answer.OK)
        if answer.code is Answer.OK:  # bought before the 50 ms ran out: give it back
            assert (await sales.cancel(ROOM, "s1", answer.order or "")).moved
        return answer.code is CouponAnswer.EXPIRED

    await eventually(refused)


async def test_a_sold_out_buy_leaves_the_coupon_unused(engine: Engine) -> None:
    """A buy the sale refuses does not touch its coupon."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons), "u1")
    sales = await open_sale(engine, stock=0)
    assert (await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)).code is Answer.SOLD_OUT
    (held,) = await coupons.wallet(ROOM, "u1")
    assert held.status is CouponStatus.CLAIMED and await events(engine, "coupon.used") == []


async def test_a_cancel_gives_the_coupon_back_once(engine: Engine) -> None:
    """Cancelled twice: one coupon.returned; the coupon then serves a new order."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons), "u1")
    sales = await open_sale(engine)
    order = (await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)).order or ""
    assert (await sales.cancel(ROOM, "s1", order)).moved
    assert not (await sales.cancel(ROOM, "s1", order)).moved
    (returned,) = await events(engine, "coupon.returned")
    assert returned["order"] == order and returned["reason"] == "cancelled"
    again = await sales.buy(ROOM, "s1", "u1", 1, "q2", coupon)
    assert again.code is Answer.OK and again.discount == 100


async def test_a_paid_order_keeps_its_coupon(engine: Engine) -> None:
    """Confirmed, then cancelled (a conflict): the coupon stays used."""
    coupons = coupon_store(engine)
    coupon = await claimed(coupons, await issue(coupons), "u1")
    sales = await open_sale(engine)
    order = (await sales.buy(ROOM, "s1", "u1", 1, "q1", coupon)).order or ""
    assert (await sales.confirm(ROOM, "s1", order)).code is Answer.OK
    assert (await sales.cancel(ROOM, "s1", order)).code is Answer.CONFLICT
    assert (await coupons.wallet(ROOM, "u1"))[0].status is CouponStatus.USED
    assert await events(engine, "coupon.returned") == []


async def test_an_expired_order_gives_the_coupon_back_once(engine: Engine) -> None:
    """Orders with 50 ms to pay, swept by two sweepers: each coupon comes back once."""
    coupons = coupon_store(engine)
    batch = await issue(coupons)
    sales = await open_sale(engine, payment_s=0.05)
    orders = []
    for user in ("u1", "u2", "u3"):
        coupon = await claimed(coupons, batch, user)
        orders.append((await sales.buy(ROOM, "s1", user, 1, "q1", coupon)).order)

    async def all_expired() -> bool:
        await asyncio.gather(sales.sweep(), sales.sweep())
        found = [await sales.order(ROOM, "s1", o or "") for o in orders]
        return all(o is not None and o.status is OrderStatus.EXPIRED for o in found)

    await eventually(all_expired)
    returned = await events(engine, "coupon.returned")
    assert sorted(r["order"] for r in returned) == sorted(orders)
    assert {r["reason"] for r in returned} == {"expired"}
    for user in ("u1", "u2", "u3"):
        assert (await coupons.wallet(ROOM, user))[0].status is CouponStatus.CLAIMED


async def test_buys_with_and_without_coupons_go_together(engine: Engine) -> None:
    """Twelve buys at once, every other one with a coupon (one ``sale_buy`` batch on Redis):
    each gets its own discount, and the sale's ledger balances."""
    coupons = coupon_store(engine)
    batch = await issue(coupons, value=250)
    sales = await open_sale(engine, stock=20)
    held = {f"u{i}": await claimed(coupons, batch, f"u{i}") for i in range(0, 12, 2)}
    answers = await asyncio.gather(
        *(sales.buy(ROOM, "s1", f"u{i}", 1, "q1", held.get(f"u{i}", "")) for i in range(12))
    )
    assert [a.code for a in answers] == [Answer.OK] * 12
    assert [a.discount for a in answers] == [250, 0] * 6
    assert [a.coupon for a in answers] == [held.get(f"u{i}", "") for i in range(12)]
    ledger = await sales.ledger(ROOM, "s1")
    assert ledger is not None and audit_sale(ledger)["ok"]
    assert sum(o.discount for o in ledger.orders) == 6 * 250
