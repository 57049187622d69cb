"""Red packets (红包, and 口令红包 keyword packets).

The host gives a total in fen and a number of packets; the total is split up front
(``rules.split``), and the store pops one amount per grab in one atomic step: one grab per
user, nothing before the opening time, keyword packets only after the user commented the
keyword. Grabbers get their amount in the reply and as a private ``packet_grabbed`` notice on
all their connections; the room sees ``packet`` events: on creation, progress (at most every
``PROGRESS_S`` per node) and one final summary. The host may close a packet early
(``packet_close``): the packets nobody grabbed go back as a refund, recorded with the packet,
and the final summary says so. See ``docs/redpacket.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.routing import BaseRoute

from liveroom.auth import Identity
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.features import Feature, Handler
from liveroom.features.keywords import RoomKeywords
from liveroom.features.redpacket.commands import handlers
from liveroom.features.redpacket.errors import PacketCode
from liveroom.features.redpacket.routes import routes
from liveroom.features.redpacket.rules import (
    MAX_KEYWORD,
    PacketSpec,
    public,
    refund_of,
    split,
    summary_of,
)
from liveroom.features.redpacket.store import Grab, whole_ms
from liveroom.features.redpacket.stores import packet_store
from liveroom.protocol import Command, event, room_event_body
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.context import NodeContext

log = logging.getLogger("liveroom.redpacket")

PROGRESS_S = 0.5  # a node publishes a packet's progress at most this often
FINISHED_MEMORY = 10_000  # finished ids remembered per node, to drop late progress


class RedPackets(Feature):
    """Red packets of every room, kept by the ``PacketStore`` on the node's engine. Wall time
    comes from ``ctx.now()``."""

    name = "redpacket"
    critical_events = frozenset({b"packet"})
    watched_events = frozenset({b"packet"})
    error_codes = (PacketCode,)
    keyword_max = MAX_KEYWORD

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.engine = ctx.engine
        self.store = packet_store(ctx.engine)
        self._progress: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self.keywords = RoomKeywords(self, self._read_keywords)
        self.held_keywords = self.keywords.held
        self._pruning: asyncio.Task[None] | None = None

    def commands(self) -> Mapping[type[Command], Handler]:
        return handlers(self)

    def routes(self) -> list[BaseRoute]:
        return routes(self)

    async def open(self) -> None:
        self._task = asyncio.create_task(self._progress_loop(), name="liveroom-packet-progress")
        self._pruning = asyncio.create_task(
            self.keywords.forget_dropped_each_pulse(), name="liveroom-packet-keywords"
        )

    async def close(self) -> None:
        await stop([self._task, self._pruning])

    async def create(self, room: str, spec: PacketSpec, who: Identity) -> dict[str, Any]:
        """Split the total, store the packet and tell the room."""
        now = self.ctx.now()
        packet_id = "rp" + secrets.token_hex(6)
        open_at = whole_ms(now + spec.delay_s)  # cut down: no delay means open now
        meta = orjson.dumps(
            {
                "id": packet_id,
                "title": spec.title,
                "total": spec.total,
                "count": spec.count,
                "keyword": spec.keyword or None,
                "open_at": open_at,
                "created": now,
                "by": who.public(),
            }
        )
        amounts = split(spec.total, spec.count)
        if not await self.store.create(room, packet_id, meta, amounts, spec.keyword, open_at):
            raise CommandError(ErrorCode.CONFLICT, "packet id clash; try again")
        self.keywords.forget(room)  # this node sees its own keyword packet at once
        state = public(meta, spec.count, now)
        await self.engine.publish(room, room_event_body("packet", packet=state))
        return {"packet": state}

    async def grab(self, room: str, packet: str, user: str, name: str) -> dict[str, Any]:
        """One grab for ``user``. Raises ``CommandError`` with the precise refusal."""
        now = self.ctx.now()
        result = await self.store.grab(room, packet, user, name, whole_ms(now))
        status = result.status
        if status is Grab.NOT_FOUND:
            raise CommandError(ErrorCode.NOT_FOUND, f"no red packet {packet!r} in this room")
        if status is Grab.NOT_STARTED:
            open_at = orjson.loads(result.meta)["open_at"]
            raise CommandError(
                ErrorCode.NOT_STARTED, "this red packet is not open yet", open_at=open_at
            )
        if status is Grab.ALREADY:
            raise CommandError(
                PacketCode.ALREADY_GRABBED,
                "you have grabbed this red packet",
                amount=result.amount,
            )
        if status is Grab.GONE:
            raise CommandError(PacketCode.ALL_GRABBED, "every packet has been grabbed")
        if status is Grab.CLOSED:
            raise CommandError(ErrorCode.ENDED, "the host closed this red packet")
        if status is Grab.KEYWORD:
            keyword = orjson.loads(result.meta).get("keyword")
            raise CommandError(
                PacketCode.KEYWORD_REQUIRED,
                "comment the keyword first, then grab",
                keyword=keyword,
            )
        notice = event("packet_grabbed", packet=packet, amount=result.amount)
        with contextlib.suppress(EngineUnavailable):
            await self.engine.notify(room, user, notice)
        if result.summary is not None:
            self._finish(room, packet)
            await self.engine.publish(
                room,
                room_event_body(
                    "packet",
                    packet=public(result.meta, 0, now, finished=True),
                    summary=summary_of(result.summary),
                ),
            )
        else:
            self._progress[(room, packet)] = (result.meta, result.left)
        return {"packet": packet, "amount": result.amount, "left": result.left}

    async def close_packet(self, room: str, packet: str) -> dict[str, Any]:
        """Close ``packet`` early: what nobody grabbed goes back, and the room gets the final
        summary with the refund. Closing a closed packet answers the same, without a new event.
        """
        now = self.ctx.now()
        closed = await self.store.close(room, packet, whole_ms(now))
        if closed is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no red packet {packet!r} in this room")
        state = public(closed.meta, 0, now, closed_at=closed.closed_at)
        answer = {
            "packet": state,
            "summary": summary_of(closed.tally),
            "refund": refund_of(closed),
        }
        if not closed.again:
            self._finish(room, packet)
            await self.engine.publish(room, room_event_body("packet", **answer))
        return answer

    async def details(self, room: str, packet: str) -> dict[str, Any]:
        """The host's view: state, money check and grabbers."""
        audit = await self.store.audit(room, packet)
        if audit is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no red packet {packet!r} in this room")
        grabbers = await self.store.grabbers(room, packet)
        return {
            "packet": public(audit.meta, audit.left, self.ctx.now(), closed_at=audit.closed_at),
            "audit": {
                "total": audit.total,
                "grabbed_fen": audit.grabbed_fen,
                "left_fen": audit.left_fen,
                "refund_fen": audit.refund_fen,
                "balanced": audit.grabbed_fen + audit.left_fen + audit.refund_fen == audit.total,
                "grabbed": audit.grabbed,
                "left": audit.left,
                "refunded": audit.refunded,
            },
            "summary": summary_of(audit.tally) if audit.tally.grabbed else None,
            "grabbers": grabbers,
        }

    async def active(self, room: str) -> list[dict[str, Any]]:
        now = self.ctx.now()
        return [public(a.meta, a.left, now) for a in await self.store.active(room)]

    def _finish(self, room: str, packet: str) -> None:
        self._progress.pop((room, packet), None)
        self._finished[packet] = None
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)

    async def _progress_loop(self) -> None:
        """Publish each packet's newest ``left`` at most every ``PROGRESS_S`` from this node."""
        while True:
            await asyncio.sleep(PROGRESS_S)
            pending, self._progress = self._progress, {}
            now = self.ctx.now()
            for (room, packet), (meta, left) in pending.items():
                if packet in self._finished:
                    continue
                try:
                    await self.engine.publish(
                        room, room_event_body("packet", packet=public(meta, left, now))
                    )
                except EngineUnavailable:
                    log.warning("packet %s progress not published: engine unavailable", packet)

    # ------------------------------------------------------------------ hooks

    async def snapshot(self, room: str) -> dict[str, Any]:
        return {"packets": await self.active(room)}

    def heard(self, room: str, who: Identity, text: str, after: int | None) -> bool:
        """Whether the comment may unlock a packet: not when this node's keywords for the room
        are fresh, hold every packet event up to ``after``, and do not include the text."""
        return self.keywords.may_match(room, text, after)

    async def commented(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> None:
        """A comment equal to an open keyword packet's keyword unlocks it for its sender."""
        text = text.strip()
        if not text or len(text) > MAX_KEYWORD:
            return
        try:
            if text not in await self.keywords.get(room, after):
                return  # most comments: no Redis round trip
            for packet in await self.store.said(room, who.user, text):
                await self.engine.notify(room, who.user, event("packet_unlocked", packet=packet))
        except EngineUnavailable:
            # the comment itself went out; the sender may say the keyword again
            log.warning("keyword comment in %s not checked: engine unavailable", room)

    def relayed(self, room: str, kind: bytes, payload: bytes) -> None:
        """A packet of ``room`` was created, grabbed from or finished: the keywords this node
        holds for the room may be stale from here on."""
        self.keywords.changed(room)

    async def _read_keywords(self, room: str) -> frozenset[str]:
        """The keywords of the room's open keyword packets, from the store."""
        words = set()
        for active in await self.store.active(room):
            keyword = orjson.loads(active.meta).get("keyword")
            if keyword:
                words.add(keyword)
        return frozenset(words)
