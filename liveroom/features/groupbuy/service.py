"""Group buys on one node: ``GroupBuy`` turns the store's answers into replies and room events.

The store (``store.py``) makes every decision in one atomic step. The room events:

- ``deal``: a deal's public state, at once on create/open/close;
- ``groups``: the deal's stock and the open groups that moved ("X 的团还差 2 人"), coalesced so
  that, over all nodes, a deal's progress goes out at most once per ``sale_stock_throttle_ms``
  (the first movement at once, the last one always follows): never one event per join;
- ``group_formed`` and ``group_failed``: sent at once by the node whose step decided it, with
  the group (and its orders, once formed);
- ``group_order`` (private): a member whose place named a coupon hears, when the group forms,
  what their order costs: the coupon used, or why not (``coupon_refused``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from liveroom.engine.coupons import COUPON_REFUSALS, CouponAnswer
from liveroom.engine.orders import settled_reply
from liveroom.errors import Code, CommandError, EngineUnavailable, ErrorCode
from liveroom.features.groupbuy.errors import GroupCode
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
    Mode,
    Order,
    OrderAnswer,
    audit,
)
from liveroom.protocol import event, room_event_body
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.context import AnalyticsSink
    from liveroom.engine.base import Engine
    from liveroom.features.groupbuy.settings import GroupSettings

log = logging.getLogger("liveroom.groupbuy")

SWEEP_BATCH = 500  # groups failed, and orders expired, per deal per sweep call
#: open groups of each deal in the snapshot (the fullest: the ones a match would pick)
SNAPSHOT_GROUPS = 20

#: store answers that refuse, as client-visible codes with a message (a coupon's refusals are
#: the engine's ``COUPON_REFUSALS``)
REFUSALS: dict[Answer, tuple[Code, str]] = {
    Answer.SOLD_OUT: (GroupCode.DEAL_SOLD_OUT, "no units left for this deal"),
    Answer.LIMIT_REACHED: (ErrorCode.LIMIT_REACHED, "over the per-user limit for this deal"),
    Answer.NOT_STARTED: (ErrorCode.NOT_STARTED, "the deal has not started"),
    Answer.ENDED: (ErrorCode.ENDED, "the deal has ended"),
    Answer.NOT_FOUND: (ErrorCode.NOT_FOUND, "no such deal in this room"),
    Answer.NO_GROUP: (GroupCode.NO_GROUP, "no such group in this deal"),
    Answer.GROUP_FULL: (GroupCode.GROUP_FULL, "the group is full: it has formed"),
    Answer.GROUP_NOT_OPEN: (GroupCode.GROUP_NOT_OPEN, "the group failed or its time is up"),
    Answer.ALREADY_IN_GROUP: (GroupCode.ALREADY_IN_GROUP, "already a member of this group"),
    Answer.NO_OPEN_GROUP: (GroupCode.NO_OPEN_GROUP, "no open group to join: start one"),
    Answer.CONFLICT: (ErrorCode.CONFLICT, "not possible in the current state"),
}


def refuse(code: Answer | CouponAnswer, deal: str, **details: Any) -> CommandError:
    error, message = COUPON_REFUSALS[code] if isinstance(code, CouponAnswer) else REFUSALS[code]
    return CommandError(error, message, deal=deal, **details)


def progress(group: Group) -> dict[str, Any]:
    """A group card in a ``groups`` event: its public form and "X 的团还差 n 人"."""
    leader = group.members[0].name if group.members else ""
    return {**group.public(), "text": f"{leader} 的团还差 {group.needs} 人"}


class GroupBuy:
    """Group buys on one node: lifecycle, places, orders, and the events viewers see."""

    def __init__(
        self,
        engine: Engine,
        store: DealStore,
        settings: GroupSettings,
        analytics: Callable[[], AnalyticsSink],
        paid: Callable[[str, str, dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.store = store
        self.throttle = settings.throttle_s
        #: the node's analytics seam (``liveroom.context.AnalyticsSink``), read at each call
        self.analytics = analytics
        #: the node's ``order_paid`` seam: told of each confirmed order, with ``kind`` "group"
        self.paid = paid
        self._ticks: dict[tuple[str, str], asyncio.Task[None]] = {}
        #: (room, deal) -> open groups that moved on this node since its last ``groups`` event
        self._moved: dict[tuple[str, str], set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def create(self, room: str, spec: DealSpec, *, open_now: bool = False) -> Deal:
        change = await self.store.create(room, spec)
        if change.code is Answer.CONFLICT:
            raise CommandError(ErrorCode.CONFLICT, f"deal {spec.id!r} exists in this room")
        if open_now:
            change = await self.store.open(room, spec.id)
        return await self._changed(room, spec.id, change)

    async def open(self, room: str, deal: str) -> Deal:
        return await self._changed(room, deal, await self.store.open(room, deal))

    async def close(self, room: str, deal: str) -> Deal:
        change = await self.store.close(room, deal)
        state = await self._changed(room, deal, change)
        for group in change.failed:
            await self._outcome(room, group)
        return state

    async def _changed(self, room: str, deal: str, change: DealChange) -> Deal:
        if change.code is not Answer.OK or change.deal is None:
            raise refuse(change.code, deal)
        await self.engine.publish(room, room_event_body("deal", deal=change.deal.public()))
        return change.deal

    async def get(self, room: str, deal: str) -> Deal:
        state = await self.store.get(room, deal)
        if state is None:
            raise refuse(Answer.NOT_FOUND, deal)
        return state

    async def audit(self, room: str, deal: str) -> dict[str, Any]:
        ledger = await self.store.ledger(room, deal)
        if ledger is None:
            raise refuse(Answer.NOT_FOUND, deal)
        return audit(ledger)

    # ------------------------------------------------------------------ places

    async def take(
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
    ) -> dict[str, Any]:
        """Start, join or match, with ``coupon`` (one of ``user``'s claimed coupons) when not
        empty; the reply body on ok, else ``CommandError`` with the code."""
        answer = await self.store.join(
            room, deal, mode, user, name, quantity, request_id, group, coupon
        )
        if answer.fresh and answer.group is not None:
            await self._placed(room, deal, mode, user, answer)
        if answer.code is not Answer.OK or answer.group is None:
            details: dict[str, Any] = {"request_id": request_id}
            if coupon:
                details["coupon"] = coupon
            if answer.group is not None:
                details["group"] = answer.group.public()
            raise refuse(answer.code, deal, **details)
        mine = next((m.order for m in answer.group.members if m.user == user), "")
        return {
            "status": "ok",
            "deal": deal,
            "group": answer.group.public(),
            "quantity": answer.quantity,
            "request_id": request_id,
            "stock": answer.stock,
            "formed": answer.group.status is GroupStatus.FORMED,
            "order": mine or None,
            "coupon": answer.coupon or None,
            "discount": answer.discount,
        }

    async def _placed(
        self, room: str, deal: str, mode: Mode, user: str, answer: JoinAnswer
    ) -> None:
        """Events and analytics of a place just taken (this node's step decided it)."""
        group = answer.group
        assert group is not None
        sink = self.analytics()
        if sink.enabled:
            sink.group_step(room, user, "started" if mode is Mode.START else "joined")
        if answer.formed and sink.enabled:
            # the place is taken whatever happens here: a failed read costs analytics only
            with contextlib.suppress(EngineUnavailable):
                state = await self.store.get(room, deal)
                sku = state.sku if state is not None else deal
                for member in group.members:
                    sink.order_reserved(room, member.user, sku, member.quantity)
        if answer.formed:
            await self._outcome(room, group)
            await self._coupon_orders(room, deal, group)
        else:
            self._moved.setdefault((room, deal), set()).add(group.id)
        self.moved(room, deal)

    async def _outcome(self, room: str, group: Group) -> None:
        """A group formed or failed in a step this node ran (so once over all nodes): the
        room hears it at once, and the funnel counts it."""
        kind = "group_formed" if group.status is GroupStatus.FORMED else "group_failed"
        sink = self.analytics()
        if sink.enabled:
            sink.group_step(room, "", group.status.value)
        try:
            await self.engine.publish(room, room_event_body(kind, group=group.public()))
        except EngineUnavailable:
            log.info("%s %s/%s not announced: engine unavailable", kind, room, group.id)

    async def _coupon_orders(self, room: str, deal: str, group: Group) -> None:
        """Each member of a group just formed whose place named a coupon hears, privately, the
        order it got: with the coupon's discount, or without it and why (``coupon_refused``).
        The orders are made whatever happens here: a failed notice costs the notice only."""
        for member in group.members:
            if not member.coupon:
                continue
            with contextlib.suppress(EngineUnavailable):
                order = await self.store.order(room, deal, member.order)
                if order is not None:
                    body = event("group_order", deal=deal, order=order.public())
                    await self.engine.notify(room, member.user, body)

    async def group(self, room: str, deal: str, group: str) -> Group:
        found = await self.store.group(room, deal, group)
        if found is None:
            raise refuse(Answer.NO_GROUP, deal, group=group)
        return found

    # ------------------------------------------------------------------ orders

    async def cancel(self, room: str, deal: str, order: str, user: str = "") -> dict[str, Any]:
        return self._settled(room, deal, await self.store.cancel(room, deal, order, user))

    async def confirm(self, room: str, deal: str, order: str) -> dict[str, Any]:
        answer = await self.store.confirm(room, deal, order)
        settled = self._settled(room, deal, answer)
        paid = answer.order
        assert paid is not None  # _settled refused otherwise
        sink = self.analytics()
        if sink.enabled:
            state = await self.store.get(room, deal)
            sink.order_paid(
                room,
                paid.user,
                state.sku if state is not None else deal,
                f"{deal}/{paid.id}",
                paid.quantity,
                paid.quantity * paid.price - paid.discount,
            )
        await self.paid(room, paid.user, {"kind": "group", **paid.public()})
        return settled

    def _settled(self, room: str, deal: str, answer: OrderAnswer[Answer, Order]) -> dict[str, Any]:
        if answer.moved:
            self.moved(room, deal)
        return settled_reply(answer, deal=deal)

    async def order(self, room: str, deal: str, order: str, user: str = "") -> Order:
        found = await self.store.order(room, deal, order)
        if found is None or (user and found.user != user):
            raise CommandError(ErrorCode.NOT_FOUND, "no such order", deal=deal)
        return found

    async def sweep(self) -> int:
        """Fail unfilled groups past their time and expire unpaid orders, in every deal; the
        room hears each failure at once. Returns groups failed plus orders expired."""
        swept = await self.store.sweep(SWEEP_BATCH)
        for item in swept:
            for group in item.failed:
                await self._outcome(item.room, group)
            self.moved(item.room, item.deal)
        return sum(len(item.failed) + item.expired for item in swept)

    # ------------------------------------------------------------------ progress events

    def moved(self, room: str, deal: str) -> None:
        """Stock or a group of the deal moved: a ``groups`` event follows, coalesced over all
        nodes."""
        key = (room, deal)
        if key not in self._ticks:
            self._ticks[key] = self._spawn(self._tick(key))

    async def _tick(self, key: tuple[str, str]) -> None:
        room, deal = key
        delay = 0.0
        try:
            while True:
                if delay:
                    await asyncio.sleep(delay)
                try:
                    delay = await self.store.gate(room, deal, "groups", self.throttle)
                    if delay:
                        continue
                    # from here on a new movement schedules a new tick: nothing is missed
                    self._ticks.pop(key, None)
                    await self._progress(room, deal, self._moved.pop(key, set()))
                    return
                except EngineUnavailable:
                    delay = 1.0
        finally:
            if self._ticks.get(key) is asyncio.current_task():
                del self._ticks[key]

    async def _progress(self, room: str, deal: str, ids: set[str]) -> None:
        state = await self.store.get(room, deal)
        if state is None:
            return
        groups = await self.store.groups(room, deal, sorted(ids))
        cards = [progress(g) for g in groups if g.status is GroupStatus.OPEN]
        await self.engine.publish(
            room, room_event_body("groups", deal=state.public(), groups=cards)
        )

    async def snapshot(self, room: str) -> dict[str, Any]:
        deals = []
        for deal in await self.store.in_room(room):
            if deal.status is DealStatus.CLOSED:
                continue
            groups = await self.store.open_groups(room, deal.id, SNAPSHOT_GROUPS)
            deals.append({**deal.public(), "groups": [progress(g) for g in groups]})
        return {"deals": deals}

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("group-buy task failed", exc_info=task.exception())

    async def shutdown(self) -> None:
        await stop(list(self._tasks))
