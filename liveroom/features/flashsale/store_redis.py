"""RedisSaleStore: flash sales in Redis, for the Redis engine (through its ``RedisCore``).

Every atomic step is one Lua script (this package's ``lua/sale_*.lua``), called by SHA and
reloaded after NOSCRIPT. A sale's keys all carry its room's hash tag, so every script runs on
one Redis Cluster slot::

    <prefix>:{room:<room>}:sales                  set: the room's sale ids
    <prefix>:{room:<room>}:sale:<id>              hash: the sale (times in ms)
    <prefix>:{room:<room>}:sale:<id>:held         hash: user -> units reserved or paid
    <prefix>:{room:<room>}:sale:<id>:orders       hash: order id -> order JSON
    <prefix>:{room:<room>}:sale:<id>:log          list: order ids in creation order (ledger)
    <prefix>:{room:<room>}:sale:<id>:due          zset: reserved order id -> deadline ms
    <prefix>:{room:<room>}:sale:<id>:answers      hash: user "\\n" request id -> answer JSON
    <prefix>:{room:<room>}:sale:<id>:gate         string with PX: stock events throttle
    <prefix>:{room:<room>}:outbox                 stream: the room's business events
    <prefix>:{room:<room>}:coupons                hash: claimed coupons (``engine/coupons.py``)
    <prefix>:sales:active                         set: "room/sale" the sweepers visit

Times come from Redis' own clock (``TIME`` inside the scripts), so nodes with skewed clocks
still agree on windows and deadlines. Redis keeps them in integer milliseconds; this module
converts at the boundary (``_to_ms`` going in, ``/ 1000`` coming out), so callers see seconds.

A buy naming a coupon uses it in ``sale_buy`` itself (``-- uses: coupon_lib``). A confirm, a
cancel and an expiry are the core's ``order_lib.lua`` (``-- uses: order_lib``), which gives a
released order's coupon back: ``sale_settle`` (called through the engine's ``RedisOrders``) and
``sale_expire`` say only what names a sale in an order's events.

Buys that arrive together for one sale go to Redis as one ``sale_buy`` call (``Batcher``): a
rush costs a round trip per batch, not per buy, and each buyer still gets its own answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from liveroom.engine.batching import Batcher
from liveroom.engine.coupons import CouponAnswer, coupon_key
from liveroom.engine.orders import RedisOrders, order_fields
from liveroom.features.flashsale.store import (
    Answer,
    BuyAnswer,
    Ledger,
    Order,
    OrderAnswer,
    Sale,
    SaleChange,
    SaleSpec,
    SaleStatus,
    SaleStore,
    Swept,
)

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore, RoomKeys


class SaleKeys:
    """Key names of one sale; all share the room's hash tag."""

    __slots__ = ("index", "sale", "held", "orders", "log", "due", "answers", "gate", "coupons")

    def __init__(self, room_keys: RoomKeys, sale: str) -> None:
        self.index = room_keys.sub("sales")
        self.sale = room_keys.sub("sale", sale)
        self.held = self.sale + ":held"
        self.orders = self.sale + ":orders"
        self.log = self.sale + ":log"
        self.due = self.sale + ":due"
        self.answers = self.sale + ":answers"
        self.gate = self.sale + ":gate"
        self.coupons = coupon_key(room_keys)


#: sale scripts one process runs at once; the rest queue here instead of opening a connection
#: each (a burst of buys would otherwise open hundreds at once and time out connecting)
IN_FLIGHT = 32


class RedisSaleStore:
    """Satisfies ``SaleStore``. Reaches Redis through the node's ``RedisCore`` (client, scripts,
    guard)."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._buys: Batcher[tuple[str, str], tuple[str, str, int, str], BuyAnswer] = Batcher(
            self._buy_batch
        )
        self._orders: RedisOrders[Answer, Order] = RedisOrders(
            self._run, "sale_settle", Answer, _order
        )

    @property
    def active(self) -> str:
        return f"{self.core.prefix}:sales:active"

    def keys(self, room: str, sale: str) -> SaleKeys:
        return SaleKeys(self.core.keys(room), sale)

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        async with self._slots:
            return await self.core.run(name, keys, args, package=__package__)

    async def create(self, room: str, spec: SaleSpec) -> SaleChange:
        k = self.keys(room, spec.id)
        fields: list[Any] = [
            "sku", spec.sku,
            "title", spec.title,
            "price", spec.price,
            "total", spec.stock,
            "stock", spec.stock,
            "limit", spec.limit,
            "start", _to_ms(spec.start),
            "end", _to_ms(spec.end),
            "duration", _to_ms(spec.duration),
            "payment", _to_ms(spec.payment_s),
        ]  # fmt: skip
        code, flat = await self._run("sale_create", [k.sale, k.index], [spec.id, *fields])
        return SaleChange(Answer(_text(code)), _sale(room, spec.id, _pairs(flat)))

    async def get(self, room: str, sale: str) -> Sale | None:
        async with self.core.guard():
            raw = await self.core.client.hgetall(self.keys(room, sale).sale)
        return _sale(room, sale, {_text(f): v for f, v in raw.items()}) if raw else None

    async def in_room(self, room: str) -> list[Sale]:
        index = self.core.keys(room).sub("sales")
        async with self.core.guard():
            ids = sorted(_text(i) for i in await self.core.client.smembers(index))
            if not ids:
                return []
            # one slot (the room's tag), so this pipeline is fine on a cluster too
            pipe = self.core.client.pipeline(transaction=False)
            for sale in ids:
                pipe.hgetall(self.keys(room, sale).sale)
            rows = await pipe.execute()
        found = [
            _sale(room, sale, {_text(f): v for f, v in raw.items()})
            for sale, raw in zip(ids, rows, strict=True)
            if raw
        ]
        return sorted(found, key=lambda s: (s.created, s.id))

    async def _status(self, room: str, sale: str, action: str) -> SaleChange:
        outbox = await self.core.outbox(room)
        code, flat = await self._run(
            "sale_status", [self.keys(room, sale).sale, outbox], [action, sale]
        )
        answer = Answer(_text(code))
        state = _sale(room, sale, _pairs(flat)) if flat else None
        return SaleChange(answer, state)

    async def open(self, room: str, sale: str) -> SaleChange:
        change = await self._status(room, sale, "open")
        if change.code is Answer.OK:
            async with self.core.guard():
                await self.core.client.sadd(self.active, f"{room}/{sale}")
        return change

    async def close(self, room: str, sale: str) -> SaleChange:
        return await self._status(room, sale, "close")

    async def adjust(self, room: str, sale: str, delta: int) -> SaleChange:
        code, flat = await self._run("sale_adjust", [self.keys(room, sale).sale], [delta])
        return SaleChange(Answer(_text(code)), _sale(room, sale, _pairs(flat)) if flat else None)

    async def buy(
        self, room: str, sale: str, user: str, quantity: int, request_id: str, coupon: str = ""
    ) -> BuyAnswer:
        return await self._buys.submit((room, sale), (user, request_id, quantity, coupon))

    async def _buy_batch(
        self, key: tuple[str, str], buys: list[tuple[str, str, int, str]]
    ) -> list[BuyAnswer]:
        """One ``sale_buy`` call for every buy of one sale that arrived together."""
        room, sale = key
        k = self.keys(room, sale)
        outbox = await self.core.outbox(room)
        args: list[Any] = [sale]
        for buy in buys:
            args += buy
        flat = await self._run(
            "sale_buy",
            [k.sale, k.held, k.orders, k.log, k.due, k.answers, outbox, k.coupons],
            args,
        )
        return [_buy_answer(flat[4 * i : 4 * i + 4], buy[2]) for i, buy in enumerate(buys)]

    async def _settle(
        self, room: str, sale: str, order: str, confirm: bool, user: str
    ) -> OrderAnswer[Answer, Order]:
        k = self.keys(room, sale)
        outbox = await self.core.outbox(room)
        keys = [k.sale, k.held, k.orders, k.due, outbox, k.coupons]
        return await self._orders.settle(keys, sale, order, confirm=confirm, user=user)

    async def confirm(self, room: str, sale: str, order: str) -> OrderAnswer[Answer, Order]:
        return await self._settle(room, sale, order, True, "")

    async def cancel(
        self, room: str, sale: str, order: str, user: str = ""
    ) -> OrderAnswer[Answer, Order]:
        return await self._settle(room, sale, order, False, user)

    async def order(self, room: str, sale: str, order: str) -> Order | None:
        async with self.core.guard():
            raw = await self.core.client.hget(self.keys(room, sale).orders, order)
        return _order(sale, raw) if raw is not None else None

    async def sweep(self, batch: int = 500) -> list[Swept]:
        async with self.core.guard():
            members = await self.core.client.smembers(self.active)
        out: list[Swept] = []
        for member in sorted(_text(m) for m in members):
            room, _, sale = member.partition("/")
            k = self.keys(room, sale)
            outbox = await self.core.outbox(room)
            expired, stock, done = await self._run(
                "sale_expire", [k.sale, k.held, k.orders, k.due, outbox, k.coupons], [batch, sale]
            )
            if expired:
                out.append(Swept(room, sale, int(expired), int(stock)))
            if done:
                async with self.core.guard():
                    await self.core.client.srem(self.active, member)
        return out

    async def ledger(self, room: str, sale: str) -> Ledger | None:
        k = self.keys(room, sale)
        flat, held, orders, log = await self._run(
            "sale_ledger", [k.sale, k.held, k.orders, k.log], []
        )
        if not flat:
            return None
        by_id = {o.id: o for o in (_order(sale, raw) for raw in orders)}
        ids = [_text(i) for i in log]
        logged = dict.fromkeys(ids)  # (once: a set made per order made the audit quadratic)
        ordered = [by_id[i] for i in logged if i in by_id]
        ordered += [o for i, o in by_id.items() if i not in logged]
        return Ledger(
            _sale(room, sale, _pairs(flat)),
            ordered,
            {user: int(n) for user, n in _pairs(held).items()},
            ids,
        )

    async def stock_gate(self, room: str, sale: str, interval: float) -> float:
        gate = self.keys(room, sale).gate
        async with self.core.guard():
            if await self.core.client.set(gate, b"1", nx=True, px=max(1, _to_ms(interval))):
                return 0.0
            left = await self.core.client.pttl(gate)
        return max(left, 1) / 1000 if left != -2 else 0.001


def _buy_answer(reply: list[Any], quantity: int) -> BuyAnswer:
    code, raw, stock, fresh = reply
    if raw is None:
        return BuyAnswer(Answer(_text(code)), quantity)
    answer = orjson.loads(raw)
    deadline = answer.get("deadline")
    return BuyAnswer(
        _code(answer["status"]),
        int(answer["quantity"]),
        answer.get("order"),
        deadline / 1000 if deadline is not None else None,
        int(stock),
        bool(fresh),
        answer.get("price", 0),
        answer.get("discount", 0),
        answer.get("coupon", ""),
    )


#: what ``sale_buy`` answers of its own; any other status is the buy's coupon's refusal
_SALE_ANSWERS = frozenset(answer.value for answer in Answer)


def _code(status: str) -> Answer | CouponAnswer:
    """A buy's stored status: the sale's answer, or its coupon's refusal."""
    return Answer(status) if status in _SALE_ANSWERS else CouponAnswer(status)


def _to_ms(seconds: float) -> int:
    """Seconds as Redis keeps them: whole milliseconds."""
    return int(round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _sale(room: str, sale: str, f: dict[str, Any]) -> Sale:
    return Sale(
        id=sale,
        room=room,
        sku=_text(f["sku"]),
        title=_text(f["title"]),
        price=int(f["price"]),
        total=int(f["total"]),
        stock=int(f["stock"]),
        limit=int(f["limit"]),
        start=int(f["start"]) / 1000,
        end=int(f["end"]) / 1000,
        duration=int(f["duration"]) / 1000,
        payment_s=int(f["payment"]) / 1000,
        status=SaleStatus(_text(f["status"])),
        reserved=int(f["reserved"]),
        paid=int(f["paid"]),
        version=int(f["version"]),
        created=int(f["created"]) / 1000,
    )


def _order(sale: str, raw: bytes) -> Order:
    return Order(**order_fields(orjson.loads(raw)), sale=sale)


#: the static conformance check (mypy): a ``RedisSaleStore`` is a ``SaleStore``
_satisfies: Callable[[RedisCore], SaleStore] = RedisSaleStore
