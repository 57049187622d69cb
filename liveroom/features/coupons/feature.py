"""Coupons (优惠券) handed out on air: batches, claims, and the room's coupon card.

The host issues a batch (``issue``); viewers claim one each (``claim``), atomically in the
store; a claimed coupon lives in the engine's coupon seam (``liveroom.engine.coupons``), where
a flash-sale buy uses it in the step that reserves the order and a cancel or an expiry gives
it back. This feature never sees an order: the flash sale never sees a batch.

Eligibility: ``all``; ``followers`` (asked of ``NodeContext.follows`` before the claim: a node
without a private-traffic feature refuses to issue such a batch); ``keyword`` (the viewer
commented the keyword after the batch was issued: ``commented`` records it in the store, and
the claim checks it in its atomic step).

Room events (``coupon``, critical): a batch issued, closed, or run out. Private events:
``coupon_claimed`` (the claimer's coupon, on all their connections) and ``coupon_unlocked``
(a keyword comment opened batches to its author). See ``docs/coupons.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from liveroom.auth import Identity
from liveroom.errors import Code, CommandError, CouponCode, EngineUnavailable, ErrorCode
from liveroom.features import Feature, Handler
from liveroom.features.coupons.commands import handlers
from liveroom.features.coupons.errors import ClaimCode
from liveroom.features.coupons.routes import routes
from liveroom.features.coupons.rules import MAX_KEYWORD, batch_from_body
from liveroom.features.coupons.store import Batch, Claim, Eligibility, audit
from liveroom.features.coupons.stores import coupon_store
from liveroom.features.keywords import RoomKeywords
from liveroom.protocol import Command, event, room_event_body
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.context import NodeContext

log = logging.getLogger("liveroom.coupons")

#: how long a node trusts its list of a room's open keyword batches before reading it again
#: batches whose eligibility a node remembers (it never changes once issued)
ELIGIBILITY_CACHE = 10_000

#: each refused claim, as its client-visible code and a message
REFUSALS: dict[Claim, tuple[Code, str]] = {
    Claim.NOT_FOUND: (ErrorCode.NOT_FOUND, "no such coupon batch in this room"),
    Claim.NOT_STARTED: (ErrorCode.NOT_STARTED, "claiming has not started"),
    Claim.CLOSED: (ClaimCode.CLAIM_CLOSED, "claiming has ended"),
    Claim.GONE: (ClaimCode.COUPON_GONE, "every coupon of this batch has been claimed"),
    Claim.ALREADY: (ClaimCode.ALREADY_CLAIMED, "you hold a coupon of this batch"),
    Claim.NOT_ELIGIBLE: (ClaimCode.NOT_ELIGIBLE, "comment the keyword first, then claim"),
}


class Coupons(Feature):
    """The coupon feature of one node. Wall time comes from ``ctx.now()``."""

    name = "coupons"
    critical_events = frozenset({b"coupon"})
    watched_events = frozenset({b"coupon"})
    error_codes = (ClaimCode, CouponCode)
    keyword_max = MAX_KEYWORD

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.store = coupon_store(ctx.engine)
        self._eligibility: dict[tuple[str, str], Eligibility] = {}
        self.keywords = RoomKeywords(self, self._read_keywords)
        self.held_keywords = self.keywords.held
        self._pruning: asyncio.Task[None] | None = None

    def commands(self) -> Mapping[type[Command], Handler]:
        return handlers(self)

    def routes(self) -> list[BaseRoute]:
        return routes(self)

    async def open(self) -> None:
        """Start letting go of the keywords held for rooms the hub dropped."""
        self._pruning = asyncio.create_task(
            self.keywords.forget_dropped_each_pulse(), name="liveroom-coupon-keywords"
        )

    async def close(self) -> None:
        await stop([self._pruning])

    # ------------------------------------------------------------------ host actions

    async def issue(self, room: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new batch from the host's request; the room sees its card at once."""
        batch = batch_from_body(room, body, self.ctx.now())
        if batch.eligibility is Eligibility.FOLLOWERS and self.ctx.follows is None:
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                "this node keeps no followers (no private-traffic feature): "
                "issue the batch to all viewers or by keyword",
            )
        if not await self.store.issue(room, batch):
            raise CommandError(ErrorCode.CONFLICT, "batch id clash; try again")
        self.keywords.forget(room)  # this node sees its own keyword batch at once
        return {"batch": await self._announce(batch)}

    async def close_batch(self, room: str, batch: str) -> dict[str, Any]:
        """End a batch's claim window now; claimed coupons stay valid."""
        closed = await self.store.close(room, batch)
        if closed is None:
            raise _refuse(Claim.NOT_FOUND, batch)
        return {"batch": await self._announce(closed)}

    async def details(self, room: str, batch: str) -> dict[str, Any]:
        """The host's view of a batch: its card, its audit and every claimed coupon."""
        found = await self.store.get(room, batch)
        if found is None:
            raise _refuse(Claim.NOT_FOUND, batch)
        coupons = await self.store.coupons(room, batch)
        return {
            "batch": found.public(self.ctx.now()),
            "audit": audit(found, coupons),
            "coupons": [c.public() for c in coupons],
        }

    async def batches(self, room: str) -> list[dict[str, Any]]:
        now = self.ctx.now()
        return [b.public(now) for b in await self.store.in_room(room)]

    async def _announce(self, batch: Batch) -> dict[str, Any]:
        card = batch.public(self.ctx.now())
        await self.ctx.engine.publish(batch.room, room_event_body("coupon", batch=card))
        return card

    # ------------------------------------------------------------------ viewer actions

    async def claim(self, room: str, batch: str, user: str) -> dict[str, Any]:
        """One claim for ``user``. Raises ``CommandError`` with the precise refusal."""
        if await self._eligibility_of(room, batch) is Eligibility.FOLLOWERS:
            follows = self.ctx.follows
            # a follow undone between this check and the claim still claims: the check and
            # the claim are two stores' steps (docs/coupons.md)
            if follows is None or not await follows.follows(room, user):
                raise CommandError(
                    ClaimCode.NOT_ELIGIBLE, "follow the host first, then claim", batch=batch
                )
        result = await self.store.claim(room, batch, user)
        if result.answer is not Claim.OK:
            details: dict[str, Any] = {}
            if result.answer is Claim.ALREADY and result.coupon is not None:
                details["coupon"] = result.coupon.public()
            raise _refuse(result.answer, batch, **details)
        assert result.batch is not None and result.coupon is not None
        mine = result.coupon.public()
        with contextlib.suppress(EngineUnavailable):
            await self.ctx.engine.notify(room, user, event("coupon_claimed", coupon=mine))
        card = result.batch.public(self.ctx.now())
        if result.batch.left <= 0:
            await self.ctx.engine.publish(room, room_event_body("coupon", batch=card))
        return {"coupon": mine, "batch": card}

    async def wallet(self, room: str, user: str) -> dict[str, Any]:
        return {"coupons": [c.public() for c in await self.store.wallet(room, user)]}

    async def _eligibility_of(self, room: str, batch: str) -> Eligibility | None:
        """The batch's eligibility (fixed at issue), remembered per node; None when the room
        has no such batch (the claim then answers ``not_found``)."""
        key = (room, batch)
        known = self._eligibility.get(key)
        if known is None:
            found = await self.store.get(room, batch)
            if found is None:
                return None
            if len(self._eligibility) >= ELIGIBILITY_CACHE:
                self._eligibility.clear()
            known = self._eligibility[key] = found.eligibility
        return known

    # ------------------------------------------------------------------ hooks

    async def snapshot(self, room: str) -> dict[str, Any]:
        now = self.ctx.now()
        cards = [b.public(now) for b in await self.store.in_room(room)]
        return {"coupons": [c for c in cards if c["status"] in ("open", "scheduled")]}

    def heard(self, room: str, who: Identity, text: str, after: int | None) -> bool:
        """Whether the comment may open a batch: not when this node's keywords for the room
        are fresh, hold every coupon event up to ``after``, and do not include the text."""
        return not who.anonymous and self.keywords.may_match(room, text, after)

    async def commented(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> None:
        """A comment equal to an open keyword batch's keyword opens it to its author."""
        text = text.strip()
        if not text or len(text) > MAX_KEYWORD or who.anonymous:
            return
        try:
            if text not in await self.keywords.get(room, after):
                return  # most comments: no Redis round trip
            unlocked = await self.store.said(room, who.user, text)
            if unlocked:
                note = event("coupon_unlocked", batches=unlocked)
                await self.ctx.engine.notify(room, who.user, note)
        except EngineUnavailable:
            # the comment itself went out; the viewer may say the keyword again
            log.warning("keyword comment in %s not checked: engine unavailable", room)

    def relayed(self, room: str, kind: bytes, payload: bytes) -> None:
        """A batch of ``room`` was issued, closed or ran out: the keywords this node holds for
        the room may be stale from here on."""
        self.keywords.changed(room)

    async def _read_keywords(self, room: str) -> frozenset[str]:
        """The keywords of the room's open keyword batches, from the store."""
        return await self.store.keywords(room)


def _refuse(answer: Claim, batch: str, **details: Any) -> CommandError:
    code, message = REFUSALS[answer]
    return CommandError(code, message, batch=batch, **details)
