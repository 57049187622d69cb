"""MemorySaleStore: flash sales in this process's memory, for the memory engine.

Every method runs without awaiting in the middle, so each is atomic like its Lua twin in
``store_redis.py``; the answers are the same, and so are the business events each change
appends to the room's outbox (``emit``: the memory engine's ``MemoryHost.emit_now``). A buy's
coupon is used through the memory engine's ``MemoryCoupons`` (``MemoryHost.coupons``) inside the
same step; a confirm, a cancel and an expiry are the engine's ``MemoryOrders``
(``liveroom.engine.orders``), the twin of ``order_lib.lua``, which gives a released order's
coupon back. Time comes from the memory engine's clock (``MemoryHost.clock``), in seconds, kept
to the millisecond as the Redis store keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from liveroom.engine.coupons import CouponAnswer, MemoryCoupons
from liveroom.engine.orders import MemoryOrders, round_ms
from liveroom.features.flashsale.store import (
    Answer,
    BuyAnswer,
    Ledger,
    Order,
    OrderAnswer,
    OrderStatus,
    Sale,
    SaleChange,
    SaleSpec,
    SaleStatus,
    SaleStore,
    Swept,
)


@dataclass(slots=True)
class _Sale:
    sale: Sale
    seq: int = 0
    held: dict[str, int] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    due: dict[str, float] = field(default_factory=dict)  # reserved order id -> deadline
    answers: dict[tuple[str, str], BuyAnswer] = field(default_factory=dict)
    gate: float = 0.0

    # the sale as ``MemoryOrders`` sees it (an ``OrderBook``)
    @property
    def stock(self) -> int:
        return self.sale.stock

    def count(self, *, stock: int = 0, reserved: int = 0, paid: int = 0) -> None:
        s = self.sale
        self.sale = replace(
            s,
            version=s.version + 1,
            stock=s.stock + stock,
            reserved=s.reserved + reserved,
            paid=s.paid + paid,
        )


class MemorySaleStore:
    """Satisfies ``SaleStore``."""

    def __init__(
        self,
        clock: Callable[[], float],
        emit: Callable[[str, str, dict[str, Any]], str],
        coupons: MemoryCoupons,
    ) -> None:
        self.clock = clock
        self.emit = emit
        self.coupons = coupons
        self.orders: MemoryOrders[Answer, Order] = MemoryOrders(
            clock, emit, coupons, Answer, _order_event
        )
        self._sales: dict[tuple[str, str], _Sale] = {}
        #: room -> its sales by id, as Redis keeps a set per room: a snapshot of a room lists
        #: that room's sales, not every room's in the process
        self._by_room: dict[str, dict[str, _Sale]] = {}
        self._active: set[tuple[str, str]] = set()

    def _bump(self, rec: _Sale, **changes: object) -> Sale:
        rec.sale = replace(rec.sale, version=rec.sale.version + 1, **changes)  # type: ignore[arg-type]
        return rec.sale

    async def create(self, room: str, spec: SaleSpec) -> SaleChange:
        rec = self._sales.get((room, spec.id))
        if rec is not None:
            return SaleChange(Answer.CONFLICT, rec.sale)
        sale = Sale(
            id=spec.id,
            room=room,
            sku=spec.sku,
            title=spec.title,
            price=spec.price,
            total=spec.stock,
            stock=spec.stock,
            limit=spec.limit,
            start=spec.start,
            end=spec.end,
            duration=spec.duration,
            payment_s=spec.payment_s,
            status=SaleStatus.CREATED,
            reserved=0,
            paid=0,
            version=1,
            created=round_ms(self.clock()),
        )
        rec = _Sale(sale)
        self._sales[(room, spec.id)] = rec
        self._by_room.setdefault(room, {})[spec.id] = rec
        return SaleChange(Answer.OK, sale)

    async def get(self, room: str, sale: str) -> Sale | None:
        rec = self._sales.get((room, sale))
        return rec.sale if rec is not None else None

    async def in_room(self, room: str) -> list[Sale]:
        found = [rec.sale for rec in self._by_room.get(room, {}).values()]
        return sorted(found, key=lambda s: (s.created, s.id))

    async def open(self, room: str, sale: str) -> SaleChange:
        rec = self._sales.get((room, sale))
        if rec is None:
            return SaleChange(Answer.NOT_FOUND)
        current = rec.sale
        if current.status is SaleStatus.CLOSED:
            return SaleChange(Answer.CONFLICT, current)
        if current.status is SaleStatus.CREATED:
            start = current.start or round_ms(self.clock())
            end = current.end
            if not end and current.duration > 0:
                end = start + current.duration
            opened = self._bump(rec, status=SaleStatus.OPEN, start=start, end=end)
            self.emit(
                room,
                "sale.opened",
                {
                    "sale": sale,
                    "sku": opened.sku,
                    "stock": opened.stock,
                    "start": start,
                    "end": end or None,
                },
            )
        self._active.add((room, sale))
        return SaleChange(Answer.OK, rec.sale)

    async def close(self, room: str, sale: str) -> SaleChange:
        rec = self._sales.get((room, sale))
        if rec is None:
            return SaleChange(Answer.NOT_FOUND)
        if rec.sale.status is not SaleStatus.CLOSED:
            closed = self._bump(rec, status=SaleStatus.CLOSED)
            self.emit(
                room,
                "sale.closed",
                {
                    "sale": sale,
                    "sku": closed.sku,
                    "stock": closed.stock,
                    "reserved": closed.reserved,
                    "paid": closed.paid,
                },
            )
        return SaleChange(Answer.OK, rec.sale)

    async def adjust(self, room: str, sale: str, delta: int) -> SaleChange:
        rec = self._sales.get((room, sale))
        if rec is None:
            return SaleChange(Answer.NOT_FOUND)
        current = rec.sale
        if current.stock + delta < 0:
            return SaleChange(Answer.CONFLICT, current)
        self._bump(rec, stock=current.stock + delta, total=current.total + delta)
        return SaleChange(Answer.OK, rec.sale)

    async def buy(
        self, room: str, sale: str, user: str, quantity: int, request_id: str, coupon: str = ""
    ) -> BuyAnswer:
        rec = self._sales.get((room, sale))
        if rec is None:
            return BuyAnswer(Answer.NOT_FOUND, quantity)
        current = rec.sale
        stored = rec.answers.get((user, request_id))
        if stored is not None:
            return replace(stored, stock=current.stock, fresh=False)
        now = round_ms(self.clock())
        code: Answer | CouponAnswer = Answer.OK
        if current.status is SaleStatus.CREATED or (current.start and now < current.start):
            code = Answer.NOT_STARTED
        elif current.status is SaleStatus.CLOSED or (current.end and now >= current.end):
            code = Answer.ENDED
        elif rec.held.get(user, 0) + quantity > current.limit:
            code = Answer.LIMIT_REACHED
        elif current.stock < quantity:
            code = Answer.SOLD_OUT
        order_id = f"{sale}-{rec.seq + 1}"
        discount = 0
        if code is Answer.OK and coupon:
            used, discount = self.coupons.use(
                room, coupon, user, current.sku, current.price * quantity, order_id, now
            )
            if used is not CouponAnswer.OK:
                code = used
        if code is not Answer.OK:
            answer = BuyAnswer(code, quantity, stock=current.stock)
            rec.answers[(user, request_id)] = answer
            return answer
        rec.seq += 1
        order = Order(
            id=order_id,
            sale=sale,
            user=user,
            quantity=quantity,
            status=OrderStatus.RESERVED,
            deadline=round_ms(now + current.payment_s),
            request_id=request_id,
            created=now,
            price=current.price,
            discount=discount,
            coupon=coupon,
        )
        rec.orders[order.id] = order
        rec.log.append(order.id)
        rec.due[order.id] = order.deadline
        rec.held[user] = rec.held.get(user, 0) + quantity
        self._bump(rec, stock=current.stock - quantity, reserved=current.reserved + quantity)
        self.emit(
            room,
            "order.reserved",
            {
                "order": order.id,
                "sale": sale,
                "sku": current.sku,
                "user": user,
                "quantity": quantity,
                "price": current.price,
                "discount": discount,
                "coupon": coupon or None,
                "deadline": order.deadline,
                "request_id": request_id,
            },
        )
        if rec.sale.stock <= 0:
            self.emit(room, "sale.sold_out", {"sale": sale, "sku": current.sku})
        answer = BuyAnswer(
            Answer.OK,
            quantity,
            order.id,
            order.deadline,
            rec.sale.stock,
            fresh=True,
            price=current.price,
            discount=discount,
            coupon=coupon,
        )
        rec.answers[(user, request_id)] = replace(answer, fresh=False)
        return answer

    async def confirm(self, room: str, sale: str, order: str) -> OrderAnswer[Answer, Order]:
        return self.orders.settle(room, self._sales.get((room, sale)), order, confirm=True, user="")

    async def cancel(
        self, room: str, sale: str, order: str, user: str = ""
    ) -> OrderAnswer[Answer, Order]:
        rec = self._sales.get((room, sale))
        return self.orders.settle(room, rec, order, confirm=False, user=user)

    async def order(self, room: str, sale: str, order: str) -> Order | None:
        rec = self._sales.get((room, sale))
        return rec.orders.get(order) if rec is not None else None

    async def sweep(self, batch: int = 500) -> list[Swept]:
        now = round_ms(self.clock())
        out: list[Swept] = []
        for key in list(self._active):
            rec = self._sales.get(key)
            if rec is None:
                self._active.discard(key)
                continue
            expired = self.orders.expire(key[0], rec, now, batch)
            current = rec.sale
            if expired:
                out.append(Swept(key[0], key[1], expired, current.stock))
            ended = current.status is SaleStatus.CLOSED or (current.end and now >= current.end)
            if ended and not rec.due:
                self._active.discard(key)
        return out

    async def ledger(self, room: str, sale: str) -> Ledger | None:
        rec = self._sales.get((room, sale))
        if rec is None:
            return None
        orders = [rec.orders[order_id] for order_id in rec.log]
        return Ledger(rec.sale, orders, dict(rec.held), list(rec.log))

    async def stock_gate(self, room: str, sale: str, interval: float) -> float:
        rec = self._sales.get((room, sale))
        if rec is None:
            return 0.0
        now = self.clock()
        if now >= rec.gate:
            rec.gate = now + interval
            return 0.0
        return rec.gate - now


def _order_event(order: Order) -> dict[str, Any]:
    """The body of an order's ``order.paid``, ``order.cancelled`` or ``order.expired`` event."""
    return {"order": order.id, "sale": order.sale, "user": order.user, "quantity": order.quantity}


#: the static conformance check (mypy): a ``MemorySaleStore`` is a ``SaleStore``
_satisfies: Callable[
    [Callable[[], float], Callable[[str, str, dict[str, Any]], str], MemoryCoupons], SaleStore
] = MemorySaleStore
