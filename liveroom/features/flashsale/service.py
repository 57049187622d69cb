"""Flash sales (秒杀) on one node: ``FlashSale`` turns the store's answers into replies and
room events.

The store (``store.py``) makes every decision in one atomic step. The events:

- ``sale``: a sale's public state. Sent at once on create/open/close/adjust; stock movements
  are coalesced so that, over all nodes together, a sale's stock goes out at most once per
  ``sale_stock_throttle_ms`` (the first movement goes out at once, the last one always follows).
- ``sold_out``: the same body, sent at once by the node whose buy took the last unit.
- ``purchases``: "X 等 N 人已下单", one per sale per node per second, not one per order.

Product cards follow the stock by the ``sku`` in ``sale`` and ``sold_out`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liveroom.engine.coupons import COUPON_REFUSALS, CouponAnswer
from liveroom.engine.orders import settled_reply
from liveroom.errors import Code, CommandError, EngineUnavailable, ErrorCode
from liveroom.features.flashsale.errors import SaleCode
from liveroom.features.flashsale.store import (
    Answer,
    Order,
    OrderAnswer,
    Sale,
    SaleChange,
    SaleSpec,
    SaleStatus,
    SaleStore,
    audit,
)
from liveroom.protocol import room_event_body
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.context import AnalyticsSink
    from liveroom.engine.base import Engine
    from liveroom.features.flashsale.settings import SaleSettings

log = logging.getLogger("liveroom.flashsale")

NOTICE_WINDOW_S = 1.0  # purchase notices: one per sale per node per window
#: how often a node adds its new buyers to the room's ``buy_tried`` funnel counter
FUNNEL_FLUSH_S = 1.0
NOTICE_NAMES = 3  # names kept per notice
SWEEP_BATCH = 500  # orders expired per sale per sweep call

#: store answers that refuse a buy, as client-visible codes with a message (a coupon's
#: refusals are the engine's ``COUPON_REFUSALS``)
REFUSALS: dict[Answer, tuple[Code, str]] = {
    Answer.SOLD_OUT: (SaleCode.SOLD_OUT, "sold out"),
    Answer.LIMIT_REACHED: (ErrorCode.LIMIT_REACHED, "over the per-user limit for this sale"),
    Answer.NOT_STARTED: (ErrorCode.NOT_STARTED, "the sale has not started"),
    Answer.ENDED: (ErrorCode.ENDED, "the sale has ended"),
    Answer.NOT_FOUND: (ErrorCode.NOT_FOUND, "no such sale in this room"),
    Answer.CONFLICT: (ErrorCode.CONFLICT, "not possible in the current state"),
}


def refuse(code: Answer | CouponAnswer, sale: str, **details: Any) -> CommandError:
    error, message = COUPON_REFUSALS[code] if isinstance(code, CouponAnswer) else REFUSALS[code]
    return CommandError(error, message, sale=sale, **details)


class FlashSale:
    """Flash sales on one node: lifecycle, buys, orders, and the events viewers see."""

    def __init__(
        self,
        engine: Engine,
        store: SaleStore,
        settings: SaleSettings,
        clock: Callable[[], float],
        analytics: Callable[[], AnalyticsSink] | None = None,
        paid: Callable[[str, str, dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        #: the node's ``order_paid`` seam (``liveroom.context.NodeContext``): told of each
        #: confirmed order, with ``kind`` "sale"
        self.paid = paid
        #: the node's analytics seam (``liveroom.context.AnalyticsSink``), read at each call
        self.analytics = analytics
        self.store = store
        self.clock = clock  # wall-clock seconds since the epoch (the node's ``now``)
        self.throttle = settings.stock_throttle_s
        self._ticks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._notices: dict[tuple[str, str], _Notice] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: users who tried to buy, per room, not yet counted in the room's funnel
        self._tried: dict[str, set[str]] = {}
        #: (room, sale) -> (sku, unit price): fixed at a sale's creation, read once per node
        self._products: dict[tuple[str, str], tuple[str, int]] = {}

    # ------------------------------------------------------------------ lifecycle

    async def create(self, room: str, spec: SaleSpec, *, open_now: bool = False) -> Sale:
        change = await self.store.create(room, spec)
        if change.code is Answer.CONFLICT:
            raise CommandError(ErrorCode.CONFLICT, f"sale {spec.id!r} exists in this room")
        if open_now:
            change = await self.store.open(room, spec.id)
        return await self._changed(room, spec.id, change)

    async def open(self, room: str, sale: str) -> Sale:
        return await self._changed(room, sale, await self.store.open(room, sale))

    async def close(self, room: str, sale: str) -> Sale:
        return await self._changed(room, sale, await self.store.close(room, sale))

    async def adjust(self, room: str, sale: str, delta: int) -> Sale:
        change = await self.store.adjust(room, sale, delta)
        if change.code is Answer.CONFLICT:
            raise CommandError(ErrorCode.CONFLICT, "fewer unreserved units than that", sale=sale)
        return await self._changed(room, sale, change)

    async def _changed(self, room: str, sale: str, change: SaleChange) -> Sale:
        if change.code is not Answer.OK or change.sale is None:
            raise refuse(change.code, sale)
        await self.publish_sale(change.sale)
        return change.sale

    async def get(self, room: str, sale: str) -> Sale:
        state = await self.store.get(room, sale)
        if state is None:
            raise refuse(Answer.NOT_FOUND, sale)
        return state

    async def stock(self, room: str, sale: str) -> tuple[str, int] | None:
        """``(sku, units left)`` of a sale, None when the room has none by that id. What product
        cards read through the ``liveroom.context.SaleStock`` seam."""
        state = await self.store.get(room, sale)
        return (state.sku, state.stock) if state is not None else None

    async def audit(self, room: str, sale: str) -> dict[str, Any]:
        ledger = await self.store.ledger(room, sale)
        if ledger is None:
            raise refuse(Answer.NOT_FOUND, sale)
        return audit(ledger)

    # ------------------------------------------------------------------ buying

    async def buy(
        self,
        room: str,
        sale: str,
        user: str,
        name: str,
        quantity: int,
        request_id: str,
        coupon: str = "",
    ) -> dict[str, Any]:
        """One buy, with ``coupon`` (one of ``user``'s claimed coupons) when not empty; the
        reply body on ok, else ``CommandError`` with the answer's code."""
        self._tried.setdefault(room, set()).add(user)
        answer = await self.store.buy(room, sale, user, quantity, request_id, coupon)
        sink = self.analytics() if self.analytics is not None else None
        if sink is not None and sink.enabled:
            product = await self._product(room, sale)
            if product is not None:
                sink.buy_tried(room, user, product[0])
                if answer.fresh and answer.code is Answer.OK:
                    sink.order_reserved(room, user, product[0], answer.quantity)
        if answer.fresh:
            self.stock_moved(room, sale)
            self._purchase(room, sale, name)
            if answer.stock == 0:
                self._spawn(self._sold_out(room, sale))
        if answer.code is not Answer.OK:
            named = {"coupon": coupon} if coupon else {}
            raise refuse(answer.code, sale, request_id=request_id, **named)
        return {
            "status": "ok",
            "sale": sale,
            "order": answer.order,
            "deadline": answer.deadline,
            "quantity": answer.quantity,
            "request_id": request_id,
            "stock": answer.stock,
            "price": answer.price,
            "discount": answer.discount,
            "coupon": answer.coupon or None,
            "total": answer.total,
        }

    async def cancel(self, room: str, sale: str, order: str, user: str = "") -> dict[str, Any]:
        return self._settled(room, sale, await self.store.cancel(room, sale, order, user))

    async def confirm(self, room: str, sale: str, order: str) -> dict[str, Any]:
        answer = await self.store.confirm(room, sale, order)
        settled = self._settled(room, sale, answer)
        sink = self.analytics() if self.analytics is not None else None
        if sink is not None and sink.enabled and answer.order is not None:
            product = await self._product(room, sale)
            if product is not None:
                paid = answer.order
                # what the buyer paid, coupon taken off; an order reserved before orders kept
                # their price (price 0) paid the sale's price
                cents = paid.total if paid.price else paid.quantity * product[1]
                sink.order_paid(
                    room, paid.user, product[0], f"{sale}/{paid.id}", paid.quantity, cents
                )
        if self.paid is not None and answer.order is not None:
            await self.paid(room, answer.order.user, {"kind": "sale", **answer.order.public()})
        return settled

    async def _product(self, room: str, sale: str) -> tuple[str, int] | None:
        """The sale's sku and unit price (for analytics), None when there is no such sale."""
        key = (room, sale)
        found = self._products.get(key)
        if found is None:
            state = await self.store.get(room, sale)
            if state is None:
                return None
            found = self._products[key] = (state.sku, state.price)
            if len(self._products) > 10_000:
                self._products = {key: found}
        return found

    def _settled(self, room: str, sale: str, answer: OrderAnswer[Answer, Order]) -> dict[str, Any]:
        if answer.moved:
            self.stock_moved(room, sale)
        return settled_reply(answer, sale=sale)

    async def order(self, room: str, sale: str, order: str, user: str = "") -> Order:
        found = await self.store.order(room, sale, order)
        if found is None or (user and found.user != user):
            raise CommandError(ErrorCode.NOT_FOUND, "no such order", sale=sale)
        return found

    async def sweep(self) -> int:
        """Expire overdue orders in every sale; stock events follow. Returns orders expired."""
        swept = await self.store.sweep(SWEEP_BATCH)
        for item in swept:
            self.stock_moved(item.room, item.sale)
        return sum(item.expired for item in swept)

    # ------------------------------------------------------------------ events

    async def publish_sale(self, sale: Sale, kind: str = "sale") -> None:
        await self.engine.publish(sale.room, room_event_body(kind, sale=sale.public()))

    def stock_moved(self, room: str, sale: str) -> None:
        """The sale's stock changed: a ``sale`` event follows, coalesced over all nodes."""
        key = (room, sale)
        if key not in self._ticks:
            self._ticks[key] = self._spawn(self._tick(key))

    async def _tick(self, key: tuple[str, str]) -> None:
        room, sale = key
        delay = 0.0
        try:
            while True:
                if delay:
                    await asyncio.sleep(delay)
                try:
                    delay = await self.store.stock_gate(room, sale, self.throttle)
                    if delay:
                        continue
                    # from here on a new movement schedules a new tick: nothing is missed
                    self._ticks.pop(key, None)
                    state = await self.store.get(room, sale)
                    if state is not None:
                        await self.publish_sale(state)
                    return
                except EngineUnavailable:
                    delay = 1.0
        finally:
            if self._ticks.get(key) is asyncio.current_task():
                del self._ticks[key]

    async def count_tries(self) -> None:
        """Add this node's new buyers to the room counter ``buy_tried`` (the funnel's "buy
        tried" step): each user once per room, whichever node they bought on. Runs off the buy
        path, once a second, so a rush of buys costs one Redis call per room a second, however
        many buyers. If it fails, the rooms not counted wait for the next round: the set and the
        counter move together, so a user already counted is not counted again."""
        pending, self._tried = self._tried, {}
        try:
            for room in list(pending):
                await self.engine.incr_unique(
                    room, "buy_tried", *pending[room], count_as="buy_tried"
                )
                del pending[room]
        finally:
            for room, users in pending.items():  # not counted yet: back into the next round
                self._tried.setdefault(room, set()).update(users)

    async def _sold_out(self, room: str, sale: str) -> None:
        with contextlib.suppress(EngineUnavailable):
            state = await self.store.get(room, sale)
            if state is not None and state.sold_out:
                await self.publish_sale(state, "sold_out")

    def _purchase(self, room: str, sale: str, name: str) -> None:
        key = (room, sale)
        notice = self._notices.get(key)
        if notice is None:
            notice = self._notices[key] = _Notice()
            self._spawn(self._announce(key))
        notice.count += 1
        if len(notice.names) < NOTICE_NAMES:
            notice.names.append(name)

    async def _announce(self, key: tuple[str, str]) -> None:
        await asyncio.sleep(NOTICE_WINDOW_S)
        notice = self._notices.pop(key)
        room, sale = key
        first = notice.names[0]
        text = f"{first} 已下单" if notice.count == 1 else f"{first} 等 {notice.count} 人已下单"
        try:
            state = await self.store.get(room, sale)
            await self.engine.publish(
                room,
                room_event_body(
                    "purchases",
                    sale=sale,
                    sku=state.sku if state else None,
                    names=notice.names,
                    count=notice.count,
                    text=text,
                    ts=self.clock(),
                ),
            )
        except EngineUnavailable:
            log.info("purchase notice for %s/%s dropped: engine unavailable", room, sale)

    async def snapshot(self, room: str) -> dict[str, Any]:
        sales = await self.store.in_room(room)
        return {"sales": [s.public() for s in sales if s.status is not SaleStatus.CLOSED]}

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("flash-sale task failed", exc_info=task.exception())

    async def shutdown(self) -> None:
        """Cancel this node's pending stock events and notices (at node close)."""
        await stop(list(self._tasks))


@dataclass(slots=True)
class _Notice:
    count: int = 0
    names: list[str] = field(default_factory=list)
