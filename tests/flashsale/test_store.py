"""The sale store conformance suite: written once, run against MemoryEngine, a real Redis and a
real Redis Cluster."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from liveroom.engine.base import Engine
from liveroom.features.flashsale import sale_store
from liveroom.features.flashsale.store import (
    Answer,
    OrderStatus,
    SaleSpec,
    SaleStatus,
    SaleStore,
    audit,
)
from tests.conftest import EVERY_ENGINE
from tests.timeouts import eventually

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)


def spec(sale: str = "s1", stock: int = 10, limit: int = 2, **more: object) -> SaleSpec:
    fields: dict[str, object] = {
        "id": sale,
        "sku": "SKU-" + sale,
        "title": "Tea " + sale,
        "price": 1990,
        "stock": stock,
        "limit": limit,
    }
    fields.update(more)
    return SaleSpec(**fields)  # type: ignore[arg-type]


async def open_sale(store: SaleStore, sale: str = "s1", **more: object) -> None:
    assert (await store.create("r1", spec(sale, **more))).code is Answer.OK  # type: ignore[arg-type]
    assert (await store.open("r1", sale)).code is Answer.OK


async def assert_audit(store: SaleStore, sale: str = "s1") -> dict[str, object]:
    ledger = await store.ledger("r1", sale)
    assert ledger is not None
    report = audit(ledger)
    assert report["ok"], report
    return report


async def test_create_then_read(engine: Engine) -> None:
    """A created sale reads back whole, starts CREATED, and a second create of its id conflicts."""
    store = sale_store(engine)
    change = await store.create("r1", spec(stock=7))
    assert change.code is Answer.OK and change.sale is not None
    sale = await store.get("r1", "s1")
    assert sale is not None
    assert (sale.sku, sale.title, sale.price, sale.stock, sale.total, sale.limit) == (
        "SKU-s1", "Tea s1", 1990, 7, 7, 2
    )  # fmt: skip
    assert sale.status is SaleStatus.CREATED
    again = await store.create("r1", spec(stock=99))
    assert again.code is Answer.CONFLICT and again.sale is not None and again.sale.stock == 7
    assert await store.get("r2", "s1") is None
    assert [s.id for s in await store.in_room("r1")] == ["s1"]
    assert await store.in_room("r2") == []


async def test_buy_before_open_is_not_started(engine: Engine) -> None:
    """A created sale, or one scheduled later, answers not_started and keeps its stock."""
    store = sale_store(engine)
    await store.create("r1", spec())
    assert (await store.buy("r1", "s1", "u1", 1, "q1")).code is Answer.NOT_STARTED
    await open_sale(store, "s2", start=time.time() + 60)
    assert (await store.buy("r1", "s2", "u1", 1, "q1")).code is Answer.NOT_STARTED
    assert (await store.get("r1", "s2")).stock == 10  # type: ignore[union-attr]


async def test_buy_reserves_stock_and_creates_an_order(engine: Engine) -> None:
    """ok: stock down, an order with a payment deadline, the user's count up."""
    store = sale_store(engine)
    await open_sale(store, payment_s=60)
    before = time.time()
    answer = await store.buy("r1", "s1", "u1", 2, "q1")
    assert answer.code is Answer.OK and answer.fresh and answer.stock == 8
    assert answer.order and answer.deadline is not None
    assert before + 59 < answer.deadline < time.time() + 61
    order = await store.order("r1", "s1", answer.order)
    assert order is not None
    assert (order.user, order.quantity, order.status) == ("u1", 2, OrderStatus.RESERVED)
    sale = await store.get("r1", "s1")
    assert sale is not None and (sale.stock, sale.reserved) == (8, 2)
    await assert_audit(store)


async def test_same_request_id_gets_the_same_answer(engine: Engine) -> None:
    """A retried request id replays its answer and never buys twice."""
    store = sale_store(engine)
    await open_sale(store)
    first = await store.buy("r1", "s1", "u1", 1, "q1")
    again = await asyncio.gather(*(store.buy("r1", "s1", "u1", 1, "q1") for _ in range(5)))
    for answer in again:
        assert (answer.code, answer.order, answer.deadline) == (
            first.code, first.order, first.deadline
        )  # fmt: skip
        assert not answer.fresh
    assert (await store.get("r1", "s1")).stock == 9  # type: ignore[union-attr]
    other = await store.buy("r1", "s1", "u2", 1, "q1")
    assert other.code is Answer.OK and other.order != first.order
    report = await assert_audit(store)
    assert report["orders"] == 2


async def test_refusals_are_replayed_too(engine: Engine) -> None:
    """A refused request id keeps its refusal even when stock comes back."""
    store = sale_store(engine)
    await open_sale(store, stock=1)
    ok = await store.buy("r1", "s1", "u1", 1, "q1")
    assert (await store.buy("r1", "s1", "u2", 1, "q2")).code is Answer.SOLD_OUT
    assert ok.order is not None
    await store.cancel("r1", "s1", ok.order)
    assert (await store.buy("r1", "s1", "u2", 1, "q2")).code is Answer.SOLD_OUT
    assert (await store.buy("r1", "s1", "u2", 1, "q3")).code is Answer.OK


async def test_limit_per_user(engine: Engine) -> None:
    """A user gets at most ``limit`` units over all their buys."""
    store = sale_store(engine)
    await open_sale(store, limit=2)
    assert (await store.buy("r1", "s1", "u1", 1, "a")).code is Answer.OK
    assert (await store.buy("r1", "s1", "u1", 2, "b")).code is Answer.LIMIT_REACHED
    assert (await store.buy("r1", "s1", "u1", 1, "c")).code is Answer.OK
    assert (await store.buy("r1", "s1", "u1", 1, "d")).code is Answer.LIMIT_REACHED
    assert (await store.buy("r1", "s1", "u2", 3, "e")).code is Answer.LIMIT_REACHED
    assert (await store.get("r1", "s1")).stock == 8  # type: ignore[union-attr]
    await assert_audit(store)


async def test_sold_out_when_stock_is_short(engine: Engine) -> None:
    """stock < quantity is sold_out; the last unit still sells to a buyer of one."""
    store = sale_store(engine)
    await open_sale(store, stock=3, limit=5)
    assert (await store.buy("r1", "s1", "u1", 2, "a")).code is Answer.OK
    assert (await store.buy("r1", "s1", "u2", 2, "b")).code is Answer.SOLD_OUT
    last = await store.buy("r1", "s1", "u2", 1, "c")
    assert last.code is Answer.OK and last.stock == 0
    assert (await store.buy("r1", "s1", "u3", 1, "d")).code is Answer.SOLD_OUT


async def test_closed_or_past_end_is_ended(engine: Engine) -> None:
    """A closed sale, or one past its end, answers ended; opening it again is a conflict."""
    store = sale_store(engine)
    await open_sale(store)
    assert (await store.close("r1", "s1")).code is Answer.OK
    assert (await store.buy("r1", "s1", "u1", 1, "a")).code is Answer.ENDED
    assert (await store.open("r1", "s1")).code is Answer.CONFLICT
    await open_sale(store, "s2", start=time.time() - 60, end=time.time() - 1)
    assert (await store.buy("r1", "s2", "u1", 1, "a")).code is Answer.ENDED


async def test_open_sets_start_and_end_from_duration(engine: Engine) -> None:
    """Opening stamps start with now and end with start + duration; again changes nothing."""
    store = sale_store(engine)
    await store.create("r1", spec(duration=30))
    before = time.time()
    sale = (await store.open("r1", "s1")).sale
    assert sale is not None and sale.status is SaleStatus.OPEN
    assert before - 1 < sale.start < time.time() + 1
    assert abs(sale.end - (sale.start + 30)) < 0.01
    again = (await store.open("r1", "s1")).sale
    assert again is not None and again.version == sale.version


async def test_unknown_sale_is_not_found(engine: Engine) -> None:
    """Every operation on a sale that does not exist says not_found."""
    store = sale_store(engine)
    await open_sale(store)
    assert (await store.buy("r2", "s1", "u1", 1, "a")).code is Answer.NOT_FOUND
    assert (await store.buy("r1", "nope", "u1", 1, "a")).code is Answer.NOT_FOUND
    assert (await store.open("r1", "nope")).code is Answer.NOT_FOUND
    assert (await store.close("r1", "nope")).code is Answer.NOT_FOUND
    assert (await store.adjust("r1", "nope", 1)).code is Answer.NOT_FOUND
    assert (await store.confirm("r1", "s1", "s1-99")).code is Answer.NOT_FOUND
    assert (await store.cancel("r1", "s1", "s1-99")).code is Answer.NOT_FOUND
    assert await store.ledger("r1", "nope") is None


async def test_confirm_makes_an_order_final(engine: Engine) -> None:
    """A paid order stays paid: confirming again is ok, cancelling it is a conflict."""
    store = sale_store(engine)
    await open_sale(store)
    order = (await store.buy("r1", "s1", "u1", 2, "a")).order
    assert order is not None
    paid = await store.confirm("r1", "s1", order)
    assert paid.code is Answer.OK and paid.order is not None
    assert paid.order.status is OrderStatus.PAID
    assert (await store.confirm("r1", "s1", order)).code is Answer.OK
    assert (await store.cancel("r1", "s1", order)).code is Answer.CONFLICT
    report = await assert_audit(store)
    assert (report["paid"], report["reserved"], report["stock"]) == (2, 0, 8)


async def test_cancel_returns_stock_and_quota_once(engine: Engine) -> None:
    """Cancelling gives stock and quota back once, however many cancels race."""
    store = sale_store(engine)
    await open_sale(store, limit=2)
    order = (await store.buy("r1", "s1", "u1", 2, "a")).order
    assert order is not None
    answers = await asyncio.gather(*(store.cancel("r1", "s1", order) for _ in range(5)))
    assert all(a.code is Answer.OK for a in answers)
    assert sum(a.moved for a in answers) == 1
    assert (await store.get("r1", "s1")).stock == 10  # type: ignore[union-attr]
    assert (await store.confirm("r1", "s1", order)).code is Answer.CONFLICT
    assert (await store.buy("r1", "s1", "u1", 2, "b")).code is Answer.OK
    await assert_audit(store)


async def test_cancel_by_someone_else_is_not_found(engine: Engine) -> None:
    """A user may cancel only their own order; another user's attempt changes nothing."""
    store = sale_store(engine)
    await open_sale(store)
    order = (await store.buy("r1", "s1", "u1", 1, "a")).order
    assert order is not None
    assert (await store.cancel("r1", "s1", order, user="u2")).code is Answer.NOT_FOUND
    assert (await store.cancel("r1", "s1", order, user="u1")).code is Answer.OK


async def test_expired_orders_come_back_once_with_concurrent_sweeps(engine: Engine) -> None:
    """Past the deadline, racing sweeps release each order exactly once; units sell again."""
    store = sale_store(engine)
    await open_sale(store, stock=4, limit=2, payment_s=0.3)
    orders = [(await store.buy("r1", "s1", f"u{i}", 2, "a")).order for i in range(2)]
    assert (await store.buy("r1", "s1", "u9", 1, "a")).code is Answer.SOLD_OUT
    expired = 0

    async def swept() -> bool:
        nonlocal expired
        rounds = await asyncio.gather(*(store.sweep() for _ in range(4)))
        expired += sum(s.expired for results in rounds for s in results)
        return expired >= 2

    await eventually(swept, timeout=5)
    assert expired == 2
    for order_id in orders:
        assert order_id is not None
        order = await store.order("r1", "s1", order_id)
        assert order is not None and order.status is OrderStatus.EXPIRED
    report = await assert_audit(store)
    assert (report["stock"], report["reserved"], report["expired"]) == (4, 0, 4)
    assert (await store.buy("r1", "s1", "u0", 2, "b")).code is Answer.OK


async def test_confirm_after_the_deadline_expires_the_order(engine: Engine) -> None:
    """The deadline decides: a late confirm is a conflict and the stock comes back."""
    store = sale_store(engine)
    await open_sale(store, payment_s=0.05)
    bought = await store.buy("r1", "s1", "u1", 1, "a")
    assert bought.order is not None and bought.deadline is not None
    deadline = bought.deadline
    await eventually(lambda: time.time() > deadline + 0.02)
    late = await store.confirm("r1", "s1", bought.order)
    assert late.code is Answer.CONFLICT and late.moved
    assert late.order is not None and late.order.status is OrderStatus.EXPIRED
    assert (await store.get("r1", "s1")).stock == 10  # type: ignore[union-attr]
    assert await store.sweep() == []
    await assert_audit(store)


async def test_adjust_moves_stock_and_total(engine: Engine) -> None:
    """Adding or taking unreserved units keeps the ledger balanced; too many is a conflict."""
    store = sale_store(engine)
    await open_sale(store, stock=5)
    await store.buy("r1", "s1", "u1", 2, "a")
    grown = (await store.adjust("r1", "s1", 10)).sale
    assert grown is not None and (grown.stock, grown.total) == (13, 15)
    assert (await store.adjust("r1", "s1", -14)).code is Answer.CONFLICT
    shrunk = (await store.adjust("r1", "s1", -13)).sale
    assert shrunk is not None and (shrunk.stock, shrunk.total) == (0, 2)
    await assert_audit(store)


async def test_concurrent_buyers_never_oversell(engine: Engine) -> None:
    """Hundreds of racing buys take exactly the stock, no more, none above the limit."""
    store = sale_store(engine)
    await open_sale(store, stock=50, limit=2)
    answers = await asyncio.gather(
        *(store.buy("r1", "s1", f"u{i % 90}", 1 + i % 2, f"q{i}") for i in range(300))
    )
    sold = sum(a.quantity for a in answers if a.code is Answer.OK)
    assert sold == 50
    assert len({a.order for a in answers if a.order}) == sum(a.code is Answer.OK for a in answers)
    report = await assert_audit(store)
    assert (report["stock"], report["reserved"]) == (0, 50)


async def test_stock_gate_opens_once_per_interval(engine: Engine) -> None:
    """The gate lets one publisher through per interval and tells the others how long to wait."""
    store = sale_store(engine)
    await open_sale(store)
    assert await store.stock_gate("r1", "s1", 5.0) == 0
    wait = await store.stock_gate("r1", "s1", 5.0)
    assert 4 < wait <= 5
    await open_sale(store, "s2")
    assert await store.stock_gate("r1", "s2", 0.05) == 0  # each sale has its own gate

    async def opened_again() -> bool:
        return await store.stock_gate("r1", "s2", 0.05) == 0

    await eventually(opened_again)


async def test_racing_buys_are_served_in_arrival_order(engine: Engine) -> None:
    """Buys sent together are answered first come, first served, each with its own answer."""
    store = sale_store(engine)
    await open_sale(store, stock=20, limit=1)
    answers = await asyncio.gather(
        *(store.buy("r1", "s1", f"u{i}", 1, "q") for i in range(60)),
        store.buy("r1", "s1", "u0", 1, "q"),  # u0's request again, in the same rush
        store.buy("r1", "s1", "u1", 1, "other"),  # a second request of u1: over the limit
    )
    winners = [i for i, a in enumerate(answers[:60]) if a.code is Answer.OK]
    assert winners == list(range(20))
    assert {a.code for a in answers[20:60]} == {Answer.SOLD_OUT}
    assert [a.stock for a in answers[:20]] == list(range(19, -1, -1))
    again, second = answers[60], answers[61]
    assert again.code is Answer.OK and again.order == answers[0].order and not again.fresh
    assert second.code is Answer.LIMIT_REACHED
    assert sum(a.fresh for a in answers) == 20
    report = await assert_audit(store)
    assert (report["stock"], report["reserved"]) == (0, 20)


def _settle_table() -> dict[str, tuple[str, str]]:
    """The settling table of ``docs/flashsale.md``: order status → (confirm's, cancel's code)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "flashsale.md").read_text()
    rows: dict[str, tuple[str, str]] = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`(reserved|paid|cancelled|expired)`", cells[0]):
            codes = [re.match(r"`(\w+)`", c) for c in cells[1:]]
            assert all(codes), line
            rows[cells[0].strip("`")] = (codes[0][1], codes[1][1])  # type: ignore[index]
    return rows


async def test_settling_answers_as_the_docs_table_says(engine: Engine) -> None:
    """Confirm and cancel of an order in each state answer what ``docs/flashsale.md``'s table
    says: a repeat of the same settlement is ``ok`` and changes nothing; the other one on a
    settled order is ``conflict``."""
    table = _settle_table()
    assert set(table) == {"reserved", "paid", "cancelled", "expired"}, table
    store = sale_store(engine)
    await open_sale(store, stock=20, limit=20)
    await open_sale(store, "s2", stock=20, limit=20, payment_s=0.05)

    async def order_in(status: str, user: str) -> tuple[str, str]:
        sale = "s2" if status == "expired" else "s1"
        bought = await store.buy("r1", sale, user, 1, "q-" + user)
        assert bought.order is not None and bought.deadline is not None
        if status == "paid":
            assert (await store.confirm("r1", sale, bought.order)).code is Answer.OK
        elif status == "cancelled":
            assert (await store.cancel("r1", sale, bought.order)).code is Answer.OK
        elif status == "expired":
            deadline = bought.deadline
            await eventually(lambda: time.time() > deadline + 0.02)
            assert await store.sweep()
        return sale, bought.order

    for status, (confirm_code, cancel_code) in table.items():
        for action, code in (("confirm", confirm_code), ("cancel", cancel_code)):
            sale, order = await order_in(status, f"{status}-{action}")
            before = await store.order("r1", sale, order)
            assert before is not None and before.status.value == status
            settle = store.confirm if action == "confirm" else store.cancel
            answer = await settle("r1", sale, order)
            assert answer.code.value == code, (status, action, answer)
            if code == "conflict" or status != "reserved":
                # refused, or a repeat: the order is as it was
                assert answer.order is not None and answer.order.status.value == status
                assert not answer.moved
    await assert_audit(store)
    await assert_audit(store, "s2")
