"""Flash sales (秒杀): the ``buy`` and ``cancel_order`` commands, stock events, the sweeper.

The store (``engine.sales``) makes every decision in one atomic step; this module turns its
answers into replies and room events:

- ``sale``: a sale's public state. Sent at once on create/open/close/adjust; stock movements
  are coalesced so that, over all nodes together, a sale's stock goes out at most once per
  ``sale_stock_throttle_ms`` (the first movement goes out at once, the last one always follows).
- ``sold_out``: the same body, sent at once by the node whose buy took the last unit.
- ``purchases``: "X 等 N 人已下单", one per sale per node per second, not one per order.

Product cards follow the stock by the ``sku`` in ``sale`` and ``sold_out`` events; HTTP routes
are in ``flashsale_api.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.routing import BaseRoute

from liveroom.connection.session import Session
from liveroom.engine.sales import (
    MAX_QUANTITY,
    Answer,
    Order,
    OrderAnswer,
    Sale,
    SaleChange,
    SaleSpec,
    SaleStatus,
    audit,
    store_of,
)
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.features import Feature, find
from liveroom.protocol import OBJECT_ID, Command, ident_field, register, room_event_body

if TYPE_CHECKING:
    from liveroom.app import Node

log = logging.getLogger("liveroom.flashsale")

NOTICE_WINDOW_S = 1.0  # purchase notices: one per sale per node per window
#: how often a node adds its new buyers to the room's ``buy_tried`` funnel counter
FUNNEL_FLUSH_S = 1.0
NOTICE_NAMES = 3  # names kept per notice
SWEEP_BATCH = 500  # orders expired per sale per sweep call

#: store answers that refuse a buy, as client-visible codes with a message
REFUSALS: dict[Answer, tuple[ErrorCode, str]] = {
    Answer.SOLD_OUT: (ErrorCode.SOLD_OUT, "sold out"),
    Answer.LIMIT_REACHED: (ErrorCode.LIMIT_REACHED, "over the per-user limit for this sale"),
    Answer.NOT_STARTED: (ErrorCode.NOT_STARTED, "the sale has not started"),
    Answer.ENDED: (ErrorCode.ENDED, "the sale has ended"),
    Answer.NOT_FOUND: (ErrorCode.NOT_FOUND, "no such sale in this room"),
    Answer.CONFLICT: (ErrorCode.CONFLICT, "not possible in the current state"),
}


# --------------------------------------------------------------------------- commands


def quantity_field(value: Any) -> int:
    """A buy's quantity: a whole number 1..MAX_QUANTITY, else ``invalid_quantity``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_QUANTITY:
        raise CommandError(
            ErrorCode.INVALID_QUANTITY, f"quantity must be a whole number from 1 to {MAX_QUANTITY}"
        )
    return value


def request_id_field(value: Any) -> str:
    """The client's idempotency key: 1-64 of ``A-Z a-z 0-9 _ . : -``."""
    if not isinstance(value, str) or not OBJECT_ID.match(value):
        raise CommandError(
            ErrorCode.BAD_REQUEST,
            "request_id is required: 1 to 64 letters, digits or _ . : -",
        )
    return value


@dataclass(frozen=True, slots=True)
class Buy(Command):
    """Reserve ``quantity`` units. Resending the same ``request_id`` never buys twice."""

    type: ClassVar[str] = "buy"
    sale: str = ""
    quantity: int = 1
    request_id: str = ""

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(
            rid,
            ident_field(body.get("sale"), "sale", OBJECT_ID),
            quantity_field(body.get("quantity", 1)),
            request_id_field(body.get("request_id")),
        )


@dataclass(frozen=True, slots=True)
class CancelOrder(Command):
    """Give back one of the sender's reserved orders."""

    type: ClassVar[str] = "cancel_order"
    sale: str = ""
    order: str = ""

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(
            rid,
            ident_field(body.get("sale"), "sale", OBJECT_ID),
            ident_field(body.get("order"), "order", OBJECT_ID),
        )


register(Buy, CancelOrder)


# --------------------------------------------------------------------------- the domain


def refuse(code: Answer, sale: str, **details: Any) -> CommandError:
    error, message = REFUSALS[code]
    return CommandError(error, message, sale=sale, **details)


class FlashSale:
    """Flash sales on one node: lifecycle, buys, orders, and the events viewers see."""

    def __init__(self, engine: Any, settings: Any) -> None:
        self.engine = engine
        self.store = store_of(engine)
        self.settings = settings
        self.throttle = settings.sale_stock_throttle_ms / 1000
        self._ticks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._notices: dict[tuple[str, str], _Notice] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: users who tried to buy, per room, not yet counted in the room's funnel
        self._tried: dict[str, set[str]] = {}

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

    async def audit(self, room: str, sale: str) -> dict[str, Any]:
        ledger = await self.store.ledger(room, sale)
        if ledger is None:
            raise refuse(Answer.NOT_FOUND, sale)
        return audit(ledger)

    # ------------------------------------------------------------------ buying

    async def buy(
        self, room: str, sale: str, user: str, name: str, quantity: int, request_id: str
    ) -> dict[str, Any]:
        """One buy; the reply body on ok, else ``CommandError`` with the answer's code."""
        self._tried.setdefault(room, set()).add(user)
        answer = await self.store.buy(room, sale, user, quantity, request_id)
        if answer.fresh:
            self.stock_moved(room, sale)
            self._purchase(room, sale, name)
            if answer.stock == 0:
                self._spawn(self._sold_out(room, sale))
        if answer.code is not Answer.OK:
            raise refuse(answer.code, sale, request_id=request_id)
        return {
            "status": "ok",
            "sale": sale,
            "order": answer.order,
            "deadline": answer.deadline,
            "quantity": answer.quantity,
            "request_id": request_id,
            "stock": answer.stock,
        }

    async def cancel(self, room: str, sale: str, order: str, user: str = "") -> dict[str, Any]:
        return self._settled(room, sale, await self.store.cancel(room, sale, order, user))

    async def confirm(self, room: str, sale: str, order: str) -> dict[str, Any]:
        return self._settled(room, sale, await self.store.confirm(room, sale, order))

    def _settled(self, room: str, sale: str, answer: OrderAnswer) -> dict[str, Any]:
        if answer.moved:
            self.stock_moved(room, sale)
        if answer.code is Answer.NOT_FOUND or answer.order is None:
            raise CommandError(ErrorCode.NOT_FOUND, "no such order", sale=sale)
        if answer.code is not Answer.OK:
            raise CommandError(
                ErrorCode.CONFLICT,
                f"the order is {answer.order.status.value}",
                sale=sale,
                order=answer.order.public(),
            )
        return {"order": answer.order.public(), "stock": answer.stock}

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
                    ts=time.time(),
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
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


@dataclass(slots=True)
class _Notice:
    count: int = 0
    names: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the feature


class FlashSaleFeature(Feature):
    """Plugs flash sales into a node: snapshot part, routes, and the expiry sweeper."""

    name = "flashsale"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.sales = FlashSale(node.engine, node.settings)
        self._sweeper: asyncio.Task[None] | None = None
        self._counter: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="liveroom-sale-sweeper")
        self._counter = asyncio.create_task(self._count_loop(), name="liveroom-sale-funnel")

    async def close(self) -> None:
        for task in (self._sweeper, self._counter):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self.sales.shutdown()

    async def _sweep_loop(self) -> None:
        """Every node sweeps; the store's script decides which sweep releases an order."""
        while True:
            await asyncio.sleep(self.node.settings.sweep_interval_s)
            try:
                await self.sales.sweep()
            except EngineUnavailable:
                pass
            except Exception:
                log.exception("sale sweep failed")

    async def _count_loop(self) -> None:
        while True:
            await asyncio.sleep(FUNNEL_FLUSH_S)
            try:
                await self.sales.count_tries()
            except EngineUnavailable:
                pass  # count_tries kept the rooms it could not count for the next round
            except Exception:
                log.exception("buy funnel count failed")

    def routes(self) -> list[BaseRoute]:
        from liveroom.features.flashsale_api import routes

        return routes()

    async def snapshot(self, room: str) -> dict[str, Any]:
        return await self.sales.snapshot(room)


def setup(node: Node) -> FlashSaleFeature:
    return FlashSaleFeature(node)


def flash_sale(node: Node) -> FlashSale:
    """The node's ``FlashSale``."""
    return find(node, FlashSaleFeature).sales


# --------------------------------------------------------------------------- handlers


@Session.handles(Buy)
async def handle_buy(session: Session, command: Buy) -> dict[str, Any]:
    return await flash_sale(session.node).buy(
        session.room.id,
        command.sale,
        session.who.user,
        session.who.name,
        command.quantity,
        command.request_id,
    )


@Session.handles(CancelOrder)
async def handle_cancel_order(session: Session, command: CancelOrder) -> dict[str, Any]:
    return await flash_sale(session.node).cancel(
        session.room.id, command.sale, command.order, session.who.user
    )
