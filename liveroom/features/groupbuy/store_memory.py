"""MemoryDealStore: group deals in this process's memory, for the memory engine.

Every method runs without awaiting in the middle, so each is atomic like its Lua twin in
``store_redis.py``; the answers are the same, and so are the business events each change
appends to the room's outbox (``emit``: the memory engine's ``MemoryHost.emit_now``). A
place's coupon is checked and a formed group's coupons used through the memory engine's
``MemoryCoupons`` (``MemoryHost.coupons``) inside the same step, as ``coupon_lib.lua`` does on
Redis; a confirm, a cancel and an order's expiry are the engine's ``MemoryOrders``
(``liveroom.engine.orders``), the twin of ``order_lib.lua``, which gives a released order's
coupon back. Time comes from the memory engine's clock, in seconds kept to the millisecond as
Redis keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from liveroom.engine.coupons import CouponAnswer, MemoryCoupons
from liveroom.engine.orders import MemoryOrders, round_ms
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
    OrderStatus,
    Swept,
)


@dataclass(slots=True)
class _Deal:
    deal: Deal
    orders_seq: int = 0
    held: dict[str, int] = field(default_factory=dict)  # user -> units
    groups: dict[str, Group] = field(default_factory=dict)  # in creation order
    open: set[str] = field(default_factory=set)
    orders: dict[str, Order] = field(default_factory=dict)  # in creation order
    due: dict[str, float] = field(default_factory=dict)  # reserved order -> payment deadline
    #: (user, request id) -> (code, group id, quantity, coupon, discount)
    answers: dict[tuple[str, str], tuple[Answer | CouponAnswer, str, int, str, int]] = field(
        default_factory=dict
    )
    gates: dict[str, float] = field(default_factory=dict)

    # the deal as ``MemoryOrders`` sees it (an ``OrderBook``)
    @property
    def stock(self) -> int:
        return self.deal.stock

    def count(self, *, stock: int = 0, reserved: int = 0, paid: int = 0) -> None:
        d = self.deal
        self.deal = replace(
            d,
            version=d.version + 1,
            stock=d.stock + stock,
            reserved=d.reserved + reserved,
            paid=d.paid + paid,
        )


class MemoryDealStore:
    """Satisfies ``DealStore``."""

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
        self._deals: dict[tuple[str, str], _Deal] = {}
        #: room -> its deals by id, as Redis keeps a set per room: a snapshot of a room lists
        #: that room's deals, not every room's in the process
        self._by_room: dict[str, dict[str, _Deal]] = {}
        self._active: set[tuple[str, str]] = set()

    def _now(self) -> float:
        return round_ms(self.clock())

    def _bump(self, rec: _Deal, **changes: Any) -> Deal:
        rec.deal = replace(rec.deal, version=rec.deal.version + 1, **changes)
        return rec.deal

    # ------------------------------------------------------------------ lifecycle

    async def create(self, room: str, spec: DealSpec) -> DealChange:
        rec = self._deals.get((room, spec.id))
        if rec is not None:
            return DealChange(Answer.CONFLICT, rec.deal)
        deal = Deal(
            id=spec.id,
            room=room,
            sku=spec.sku,
            title=spec.title,
            size=spec.size,
            price=spec.price,
            total=spec.stock,
            stock=spec.stock,
            limit=spec.limit,
            fill_s=spec.fill_s,
            start=spec.start,
            end=spec.end,
            duration=spec.duration,
            payment_s=spec.payment_s,
            status=DealStatus.CREATED,
            held=0,
            reserved=0,
            paid=0,
            groups=0,
            formed=0,
            failed=0,
            version=1,
            created=self._now(),
        )
        rec = _Deal(deal)
        self._deals[(room, spec.id)] = rec
        self._by_room.setdefault(room, {})[spec.id] = rec
        return DealChange(Answer.OK, deal)

    async def get(self, room: str, deal: str) -> Deal | None:
        rec = self._deals.get((room, deal))
        return rec.deal if rec is not None else None

    async def in_room(self, room: str) -> list[Deal]:
        found = [rec.deal for rec in self._by_room.get(room, {}).values()]
        return sorted(found, key=lambda d: (d.created, d.id))

    async def open(self, room: str, deal: str) -> DealChange:
        rec = self._deals.get((room, deal))
        if rec is None:
            return DealChange(Answer.NOT_FOUND)
        current = rec.deal
        if current.status is DealStatus.CLOSED:
            return DealChange(Answer.CONFLICT, current)
        if current.status is DealStatus.CREATED:
            start = current.start or self._now()
            end = current.end or (start + current.duration if current.duration > 0 else 0.0)
            self._bump(rec, status=DealStatus.OPEN, start=start, end=end)
        self._active.add((room, deal))
        return DealChange(Answer.OK, rec.deal)

    async def close(self, room: str, deal: str) -> DealChange:
        rec = self._deals.get((room, deal))
        if rec is None:
            return DealChange(Answer.NOT_FOUND)
        failed: tuple[Group, ...] = ()
        if rec.deal.status is not DealStatus.CLOSED:
            now = self._now()
            failed = tuple(self._fail(rec, gid, now, "closed") for gid in self._by_deadline(rec))
            self._bump(rec, status=DealStatus.CLOSED)
        return DealChange(Answer.OK, rec.deal, failed)

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
        rec = self._deals.get((room, deal))
        if rec is None:
            return JoinAnswer(Answer.NOT_FOUND, quantity, coupon=coupon)
        stored = rec.answers.get((user, request_id))
        if stored is not None:
            said, gid, qty, named, off = stored
            return JoinAnswer(
                said, qty, rec.groups.get(gid), rec.deal.stock, coupon=named, discount=off
            )
        now = self._now()
        code: Answer | CouponAnswer
        code, target = self._check(rec, mode, user, quantity, group, now)
        discount = 0
        if code is Answer.OK and coupon:
            current = rec.deal
            checked, discount = self.coupons.check(
                room, coupon, user, current.sku, current.price * quantity, now
            )
            if checked is not CouponAnswer.OK:
                code = checked
        if code is not Answer.OK:
            rec.answers[(user, request_id)] = (code, group, quantity, coupon, 0)
            return JoinAnswer(code, quantity, rec.groups.get(group), rec.deal.stock, coupon=coupon)
        member = Member(user, name, quantity, request_id, now, coupon=coupon)
        current = rec.deal
        if target is None:
            target = Group(
                id=f"{deal}-g{current.groups + 1}",
                deal=deal,
                size=current.size,
                status=GroupStatus.OPEN,
                members=(member,),
                created=now,
                deadline=_deadline(current, now),
            )
            self._bump(rec, groups=current.groups + 1)
        else:
            target = replace(target, members=(*target.members, member))
        rec.groups[target.id] = target
        rec.open.add(target.id)
        rec.held[user] = rec.held.get(user, 0) + quantity
        current = rec.deal
        self._bump(rec, stock=current.stock - quantity, held=current.held + quantity)
        formed = len(target.members) == target.size
        if formed:
            target = self._form(rec, target, now)
        rec.answers[(user, request_id)] = (Answer.OK, target.id, quantity, coupon, discount)
        return JoinAnswer(
            Answer.OK, quantity, target, rec.deal.stock, True, formed, coupon, discount
        )

    def _check(
        self, rec: _Deal, mode: Mode, user: str, quantity: int, group: str, now: float
    ) -> tuple[Answer, Group | None]:
        """The refusal of a place, in the order the script checks; else ok and the group to
        join (None: start one)."""
        deal = rec.deal
        if deal.status is DealStatus.CREATED or (deal.start and now < deal.start):
            return Answer.NOT_STARTED, None
        if deal.status is DealStatus.CLOSED or (deal.end and now >= deal.end):
            return Answer.ENDED, None
        target: Group | None = None
        if mode is Mode.JOIN:
            target = rec.groups.get(group)
            if target is None:
                return Answer.NO_GROUP, None
            if target.status is GroupStatus.FORMED:
                return Answer.GROUP_FULL, None
            if target.status is GroupStatus.FAILED or now >= target.deadline:
                return Answer.GROUP_NOT_OPEN, None
            if target.has(user):
                return Answer.ALREADY_IN_GROUP, None
        elif mode is Mode.MATCH:
            target = next(
                (
                    rec.groups[gid]
                    for gid in self._fullest(rec)
                    if rec.groups[gid].deadline > now and not rec.groups[gid].has(user)
                ),
                None,
            )
            if target is None:
                return Answer.NO_OPEN_GROUP, None
        if rec.held.get(user, 0) + quantity > deal.limit:
            return Answer.LIMIT_REACHED, None
        if deal.stock < quantity:
            return Answer.SOLD_OUT, None
        return Answer.OK, target

    def _fullest(self, rec: _Deal) -> list[str]:
        """Open groups as a match picks them: most members first, then earliest deadline."""
        return sorted(
            rec.open, key=lambda g: (-len(rec.groups[g].members), rec.groups[g].deadline, g)
        )

    def _by_deadline(self, rec: _Deal) -> list[str]:
        return sorted(rec.open, key=lambda g: (rec.groups[g].deadline, g))

    def _form(self, rec: _Deal, group: Group, now: float) -> Group:
        """Every place of a full group becomes a reserved order at the group price."""
        deal = rec.deal
        members = []
        for m in group.members:
            rec.orders_seq += 1
            order_id = f"{deal.id}-o{rec.orders_seq}"
            # the coupon named at join, if it can still be used: else the full group price
            used, refused, discount = "", None, 0
            if m.coupon:
                answer, discount = self.coupons.use(
                    deal.room, m.coupon, m.user, deal.sku, deal.price * m.quantity, order_id, now
                )
                if answer is CouponAnswer.OK:
                    used = m.coupon
                else:
                    refused = answer
            order = Order(
                id=order_id,
                deal=deal.id,
                group=group.id,
                user=m.user,
                quantity=m.quantity,
                price=deal.price,
                discount=discount,
                status=OrderStatus.RESERVED,
                deadline=round_ms(now + deal.payment_s),
                request_id=m.request_id,
                created=now,
                coupon=used,
                coupon_refused=refused,
            )
            rec.orders[order.id] = order
            rec.due[order.id] = order.deadline
            members.append(replace(m, order=order.id))
            self.emit(deal.room, "order.reserved", _reserved_event(deal, order))
        units = sum(m.quantity for m in group.members)
        group = replace(group, status=GroupStatus.FORMED, members=tuple(members), closed=now)
        rec.groups[group.id] = group
        rec.open.discard(group.id)
        self._bump(
            rec, held=deal.held - units, reserved=deal.reserved + units, formed=deal.formed + 1
        )
        self.emit(
            deal.room,
            "group.formed",
            {
                "group": group.id,
                "deal": deal.id,
                "sku": deal.sku,
                "price": deal.price,
                "members": [m.user for m in members],
                "orders": {m.user: m.order for m in members},
            },
        )
        return group

    def _fail(self, rec: _Deal, gid: str, now: float, reason: str) -> Group:
        """An open group fails: every place released, its units back, once."""
        group = rec.groups[gid]
        units = 0
        for m in group.members:
            self._unhold(rec, m.user, m.quantity)
            units += m.quantity
        group = replace(group, status=GroupStatus.FAILED, closed=now, reason=reason)
        rec.groups[gid] = group
        rec.open.discard(gid)
        deal = rec.deal
        self._bump(rec, stock=deal.stock + units, held=deal.held - units, failed=deal.failed + 1)
        self.emit(
            deal.room,
            "group.failed",
            {
                "group": gid,
                "deal": deal.id,
                "sku": deal.sku,
                "members": [m.user for m in group.members],
                "reason": reason,
                "units": units,
            },
        )
        return group

    def _unhold(self, rec: _Deal, user: str, quantity: int) -> None:
        left = rec.held.get(user, 0) - quantity
        if left > 0:
            rec.held[user] = left
        else:
            rec.held.pop(user, None)

    async def group(self, room: str, deal: str, group: str) -> Group | None:
        rec = self._deals.get((room, deal))
        return rec.groups.get(group) if rec is not None else None

    async def groups(self, room: str, deal: str, ids: list[str]) -> list[Group]:
        rec = self._deals.get((room, deal))
        if rec is None:
            return []
        return [rec.groups[gid] for gid in ids if gid in rec.groups]

    async def open_groups(self, room: str, deal: str, limit: int) -> list[Group]:
        rec = self._deals.get((room, deal))
        if rec is None:
            return []
        return [rec.groups[gid] for gid in self._fullest(rec)[:limit]]

    # ------------------------------------------------------------------ orders

    async def confirm(self, room: str, deal: str, order: str) -> OrderAnswer[Answer, Order]:
        return self.orders.settle(room, self._deals.get((room, deal)), order, confirm=True, user="")

    async def cancel(
        self, room: str, deal: str, order: str, user: str = ""
    ) -> OrderAnswer[Answer, Order]:
        rec = self._deals.get((room, deal))
        return self.orders.settle(room, rec, order, confirm=False, user=user)

    async def order(self, room: str, deal: str, order: str) -> Order | None:
        rec = self._deals.get((room, deal))
        return rec.orders.get(order) if rec is not None else None

    async def sweep(self, batch: int = 500) -> list[Swept]:
        now = self._now()
        out: list[Swept] = []
        for key in list(self._active):
            rec = self._deals.get(key)
            if rec is None:
                self._active.discard(key)
                continue
            late = [g for g in self._by_deadline(rec) if rec.groups[g].deadline <= now][:batch]
            failed = tuple(self._fail(rec, gid, now, "expired") for gid in late)
            expired = self.orders.expire(key[0], rec, now, batch)
            deal = rec.deal
            if failed or expired:
                out.append(Swept(key[0], key[1], failed, expired, deal.stock))
            ended = deal.status is DealStatus.CLOSED or (deal.end and now >= deal.end)
            if ended and not rec.due and not rec.open:
                self._active.discard(key)
        return out

    async def ledger(self, room: str, deal: str) -> Ledger | None:
        rec = self._deals.get((room, deal))
        if rec is None:
            return None
        return Ledger(
            rec.deal, list(rec.groups.values()), list(rec.orders.values()), dict(rec.held)
        )

    async def gate(self, room: str, deal: str, what: str, interval: float) -> float:
        rec = self._deals.get((room, deal))
        if rec is None:
            return 0.0
        now = self.clock()
        until = rec.gates.get(what, 0.0)
        if now >= until:
            rec.gates[what] = now + interval
            return 0.0
        return until - now


def _deadline(deal: Deal, now: float) -> float:
    """A new group's fill deadline: ``fill_s`` from now, and never past the deal's end."""
    deadline = round_ms(now + deal.fill_s)
    return min(deadline, deal.end) if deal.end else deadline


def _reserved_event(deal: Deal, order: Order) -> dict[str, Any]:
    return {
        "order": order.id,
        "deal": deal.id,
        "group": order.group,
        "sku": deal.sku,
        "user": order.user,
        "quantity": order.quantity,
        "price": order.price,
        "discount": order.discount,
        "coupon": order.coupon or None,
        "coupon_refused": order.coupon_refused.value if order.coupon_refused else None,
        "deadline": order.deadline,
        "request_id": order.request_id,
    }


def _order_event(order: Order) -> dict[str, Any]:
    """The body of an order's ``order.paid``, ``order.cancelled`` or ``order.expired`` event."""
    return {
        "order": order.id,
        "deal": order.deal,
        "group": order.group,
        "user": order.user,
        "quantity": order.quantity,
    }


#: the static conformance check (mypy): a ``MemoryDealStore`` is a ``DealStore``
_satisfies: Callable[
    [Callable[[], float], Callable[[str, str, dict[str, Any]], str], MemoryCoupons], DealStore
] = MemoryDealStore
