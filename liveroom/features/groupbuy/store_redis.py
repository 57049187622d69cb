"""RedisDealStore: group deals in Redis, for the Redis engine (through its ``RedisCore``).

Every atomic step is one Lua script (this package's ``lua/*.lua``), called by SHA and reloaded
after NOSCRIPT. A deal's keys all carry its room's hash tag, so every script runs on one Redis
Cluster slot::

    <prefix>:{room:<room>}:deals                  set: the room's deal ids
    <prefix>:{room:<room>}:deal:<id>              hash: the deal (times in ms; counters)
    <prefix>:{room:<room>}:deal:<id>:held         hash: user -> units (open places, reserved, paid)
    <prefix>:{room:<room>}:deal:<id>:groups       hash: group id -> group JSON (its members)
    <prefix>:{room:<room>}:deal:<id>:open         zset: open groups in match order
    <prefix>:{room:<room>}:deal:<id>:fill         zset: open group id -> fill deadline ms
    <prefix>:{room:<room>}:deal:<id>:orders       hash: order id -> order JSON
    <prefix>:{room:<room>}:deal:<id>:due          zset: reserved order id -> payment deadline ms
    <prefix>:{room:<room>}:deal:<id>:answers      hash: user "\\n" request id -> answer JSON
    <prefix>:{room:<room>}:deal:<id>:gate:<what>  string with PX: event throttles
    <prefix>:{room:<room>}:outbox                 stream: the room's business events
    <prefix>:{room:<room>}:coupons                hash: claimed coupons (``engine/coupons.py``)
    <prefix>:groupbuy:active                      set: "room/deal" the sweepers visit

Times come from Redis' own clock (``TIME`` inside the scripts), so nodes with skewed clocks
still agree on windows and deadlines; this module converts milliseconds at the boundary.

A place naming a coupon has it checked in ``group_join``, and the fill (in the same script)
uses it (``-- uses: coupon_lib``). A confirm, a cancel and an order's expiry are the core's
``order_lib.lua`` (``-- uses: order_lib``), which gives a released order's coupon back:
``group_settle`` (called through the engine's ``RedisOrders``) and ``group_sweep`` say only
what names a deal and a group in an order's events.

Places asked together for one deal go to Redis as one ``group_join`` call (the engine's
``Batcher``): a rush costs a round trip per batch, not per place; the script takes them one
after another in arrival order, each as if alone, and each caller gets its own answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from liveroom.engine.batching import Batcher
from liveroom.engine.coupons import CouponAnswer, coupon_key
from liveroom.engine.orders import RedisOrders, order_fields
from liveroom.features.groupbuy.store import (
    Answer,
    Deal,
    DealChange,
    DealSpec,
    DealStatus,
    DealStore,
    Group,
    GroupStatus,
    JoinAnswer,
    Ledger,
    Member,
    Mode,
    Order,
    OrderAnswer,
    Swept,
)

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore, RoomKeys

#: deal scripts one process runs at once; the rest queue here instead of opening a connection
IN_FLIGHT = 32


class DealKeys:
    """Key names of one deal; all share the room's hash tag."""

    __slots__ = (
        "index", "deal", "held", "groups", "open", "fill", "orders", "due", "answers", "coupons"
    )  # fmt: skip

    def __init__(self, room_keys: RoomKeys, deal: str) -> None:
        self.index = room_keys.sub("deals")
        self.deal = room_keys.sub("deal", deal)
        self.held = self.deal + ":held"
        self.groups = self.deal + ":groups"
        self.open = self.deal + ":open"
        self.fill = self.deal + ":fill"
        self.orders = self.deal + ":orders"
        self.due = self.deal + ":due"
        self.answers = self.deal + ":answers"
        self.coupons = coupon_key(room_keys)


class RedisDealStore:
    """Satisfies ``DealStore``. Reaches Redis through the node's ``RedisCore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._orders: RedisOrders[Answer, Order] = RedisOrders(
            self._run, "group_settle", Answer, _order
        )
        #: places asked together for one deal go as one ``group_join`` call
        self._joins: Batcher[tuple[str, str], tuple[str, str, str, int, str, str, str], JoinAnswer]
        self._joins = Batcher(self._join_batch)

    @property
    def active(self) -> str:
        return self.core.key("groupbuy", "active")

    def keys(self, room: str, deal: str) -> DealKeys:
        return DealKeys(self.core.keys(room), deal)

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        async with self._slots:
            return await self.core.run(name, keys, args, package=__package__)

    # ------------------------------------------------------------------ lifecycle

    async def create(self, room: str, spec: DealSpec) -> DealChange:
        k = self.keys(room, spec.id)
        fields: list[Any] = [
            "sku", spec.sku,
            "title", spec.title,
            "size", spec.size,
            "price", spec.price,
            "total", spec.stock,
            "stock", spec.stock,
            "limit", spec.limit,
            "fill", _to_ms(spec.fill_s),
            "start", _to_ms(spec.start),
            "end", _to_ms(spec.end),
            "duration", _to_ms(spec.duration),
            "payment", _to_ms(spec.payment_s),
        ]  # fmt: skip
        code, flat = await self._run("deal_create", [k.deal, k.index], [spec.id, *fields])
        return DealChange(Answer(_text(code)), _deal(room, spec.id, _pairs(flat)))

    async def get(self, room: str, deal: str) -> Deal | None:
        async with self.core.guard():
            raw = await self.core.client.hgetall(self.keys(room, deal).deal)
        return _deal(room, deal, {_text(f): v for f, v in raw.items()}) if raw else None

    async def in_room(self, room: str) -> list[Deal]:
        index = self.core.keys(room).sub("deals")
        async with self.core.guard():
            ids = sorted(_text(i) for i in await self.core.client.smembers(index))
            if not ids:
                return []
            # one slot (the room's tag), so this pipeline is fine on a cluster too
            pipe = self.core.client.pipeline(transaction=False)
            for deal in ids:
                pipe.hgetall(self.keys(room, deal).deal)
            rows = await pipe.execute()
        found = [
            _deal(room, deal, {_text(f): v for f, v in raw.items()})
            for deal, raw in zip(ids, rows, strict=True)
            if raw
        ]
        return sorted(found, key=lambda d: (d.created, d.id))

    async def _status(self, room: str, deal: str, action: str) -> DealChange:
        code, flat = await self._run("deal_status", [self.keys(room, deal).deal], [action])
        return DealChange(Answer(_text(code)), _deal(room, deal, _pairs(flat)) if flat else None)

    async def open(self, room: str, deal: str) -> DealChange:
        change = await self._status(room, deal, "open")
        if change.code is Answer.OK:
            async with self.core.guard():
                await self.core.client.sadd(self.active, f"{room}/{deal}")
        return change

    async def close(self, room: str, deal: str) -> DealChange:
        change = await self._status(room, deal, "close")
        if change.code is not Answer.OK:
            return change
        failed: list[Group] = []
        while True:  # the closed deal's open groups fail, a batch per step
            swept = await self._sweep_deal(room, deal, 500)
            if not swept.failed:
                break
            failed += swept.failed
        state = await self.get(room, deal)
        return DealChange(Answer.OK, state or change.deal, tuple(failed))

    # ------------------------------------------------------------------ places

    async def join(
        self,
        room: str,
        deal: str,
        mode: Mode,
        user: str,
        name: str,
        quantity: int,
        request_id: str,
        group: str = "",
        coupon: str = "",
    ) -> JoinAnswer:
        place = (mode.value, user, name, quantity, request_id, group, coupon)
        return await self._joins.submit((room, deal), place)

    async def _join_batch(
        self, key: tuple[str, str], places: list[tuple[str, str, str, int, str, str, str]]
    ) -> list[JoinAnswer]:
        """One ``group_join`` call for every place of one deal asked together."""
        room, deal = key
        k = self.keys(room, deal)
        outbox = await self.core.outbox(room)
        keys = [k.deal, k.held, k.groups, k.open, k.fill, k.orders, k.due, k.answers, outbox]
        args: list[Any] = [deal]
        for place in places:
            args += place
        flat = await self._run("group_join", [*keys, k.coupons], args)
        return [_join_answer(deal, flat[8 * i : 8 * i + 8]) for i in range(len(places))]

    async def _read(self, room: str, deal: str, args: list[Any]) -> list[Group]:
        k = self.keys(room, deal)
        rows = await self._run("group_read", [k.groups, k.open], args)
        return [_group(deal, raw) for raw in rows]

    async def group(self, room: str, deal: str, group: str) -> Group | None:
        found = await self._read(room, deal, ["ids", group])
        return found[0] if found else None

    async def groups(self, room: str, deal: str, ids: list[str]) -> list[Group]:
        return await self._read(room, deal, ["ids", *ids]) if ids else []

    async def open_groups(self, room: str, deal: str, limit: int) -> list[Group]:
        return await self._read(room, deal, ["open", limit]) if limit > 0 else []

    # ------------------------------------------------------------------ orders

    async def _settle(
        self, room: str, deal: str, order: str, confirm: bool, user: str
    ) -> OrderAnswer[Answer, Order]:
        k = self.keys(room, deal)
        outbox = await self.core.outbox(room)
        keys = [k.deal, k.held, k.orders, k.due, outbox, k.coupons]
        return await self._orders.settle(keys, deal, order, confirm=confirm, user=user)

    async def confirm(self, room: str, deal: str, order: str) -> OrderAnswer[Answer, Order]:
        return await self._settle(room, deal, order, True, "")

    async def cancel(
        self, room: str, deal: str, order: str, user: str = ""
    ) -> OrderAnswer[Answer, Order]:
        return await self._settle(room, deal, order, False, user)

    async def order(self, room: str, deal: str, order: str) -> Order | None:
        async with self.core.guard():
            raw = await self.core.client.hget(self.keys(room, deal).orders, order)
        return _order(deal, raw) if raw is not None else None

    async def _sweep_deal(self, room: str, deal: str, batch: int) -> Swept:
        """One sweep step of one deal; a deal that is done leaves the sweepers' set."""
        k = self.keys(room, deal)
        outbox = await self.core.outbox(room)
        failed, expired, stock, done = await self._run(
            "group_sweep",
            [k.deal, k.held, k.groups, k.open, k.fill, k.orders, k.due, outbox, k.coupons],
            [batch, deal],
        )
        groups = tuple(_group(deal, raw) for raw in failed)
        swept = Swept(room, deal, groups, int(expired), int(stock))
        if done:
            async with self.core.guard():
                await self.core.client.srem(self.active, f"{room}/{deal}")
        return swept

    async def sweep(self, batch: int = 500) -> list[Swept]:
        async with self.core.guard():
            members = [_text(m) for m in await self.core.client.smembers(self.active)]
        out: list[Swept] = []
        for member in members:
            room, _, deal = member.rpartition("/")
            swept = await self._sweep_deal(room, deal, batch)
            if swept.failed or swept.expired:
                out.append(swept)
        return out

    async def ledger(self, room: str, deal: str) -> Ledger | None:
        k = self.keys(room, deal)
        flat, held, groups, orders = await self._run(
            "deal_ledger", [k.deal, k.held, k.groups, k.orders], []
        )
        if not flat:
            return None
        return Ledger(
            _deal(room, deal, _pairs(flat)),
            sorted((_group(deal, raw) for raw in groups), key=lambda g: _seq(g.id)),
            sorted((_order(deal, raw) for raw in orders), key=lambda o: _seq(o.id)),
            {user: int(n) for user, n in _pairs(held).items()},
        )

    async def gate(self, room: str, deal: str, what: str, interval: float) -> float:
        gate = self.keys(room, deal).deal + ":gate:" + what
        async with self.core.guard():
            if await self.core.client.set(gate, b"1", nx=True, px=max(1, _to_ms(interval))):
                return 0.0
            left = await self.core.client.pttl(gate)
        return max(left, 1) / 1000 if left != -2 else 0.001


#: what ``group_join`` answers of its own; any other code is the place's coupon's refusal
_DEAL_ANSWERS = frozenset(a.value for a in Answer)


def _code(code: str) -> Answer | CouponAnswer:
    return Answer(code) if code in _DEAL_ANSWERS else CouponAnswer(code)


def _join_answer(deal: str, reply: list[Any]) -> JoinAnswer:
    code, raw, stock, fresh, formed, qty, named, off = reply
    return JoinAnswer(
        _code(_text(code)),
        int(qty),
        _group(deal, raw) if raw else None,
        int(stock),
        bool(fresh),
        bool(formed),
        _text(named),
        int(off),
    )


def _seq(ident: str) -> int:
    """The creation number at the end of a group id (``d1-g7``) or an order id (``d1-o7``)."""
    return int(ident.rpartition("-")[2][1:])


def _to_ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _deal(room: str, deal: str, f: dict[str, Any]) -> Deal:
    return Deal(
        id=deal,
        room=room,
        sku=_text(f["sku"]),
        title=_text(f["title"]),
        size=int(f["size"]),
        price=int(f["price"]),
        total=int(f["total"]),
        stock=int(f["stock"]),
        limit=int(f["limit"]),
        fill_s=int(f["fill"]) / 1000,
        start=int(f["start"]) / 1000,
        end=int(f["end"]) / 1000,
        duration=int(f["duration"]) / 1000,
        payment_s=int(f["payment"]) / 1000,
        status=DealStatus(_text(f["status"])),
        held=int(f["held"]),
        reserved=int(f["reserved"]),
        paid=int(f["paid"]),
        groups=int(f["groups"]),
        formed=int(f["formed"]),
        failed=int(f["failed"]),
        version=int(f["version"]),
        created=int(f["created"]) / 1000,
    )


def _group(deal: str, raw: bytes) -> Group:
    g = orjson.loads(raw)
    return Group(
        id=g["id"],
        deal=deal,
        size=int(g["size"]),
        status=GroupStatus(g["status"]),
        members=tuple(
            Member(
                m["user"],
                m["name"],
                int(m["quantity"]),
                m["request"],
                m["at"] / 1000,
                m["order"],
                m.get("coupon", ""),  # places taken before coupons carry none
            )
            for m in g["members"]
        ),
        created=g["created"] / 1000,
        deadline=g["deadline"] / 1000,
        closed=g["closed"] / 1000,
        reason=g["reason"],
    )


def _order(deal: str, raw: bytes) -> Order:
    o = orjson.loads(raw)
    refused = o.get("coupon_refused")
    return Order(
        **order_fields(o),
        deal=deal,
        group=o["group"],
        coupon_refused=CouponAnswer(refused) if refused else None,
    )


#: the static conformance check (mypy): a ``RedisDealStore`` is a ``DealStore``
_satisfies: Callable[[RedisCore], DealStore] = RedisDealStore
