"""Red packets (红包, and 口令红包 keyword packets).

The host gives a total in fen and a number of packets; the total is split up front by the
double-average method (``split``), and the store pops one amount per grab in one atomic step:
one grab per user, nothing before the opening time, keyword packets only after the user
commented the keyword. Grabbers get their amount in the reply and as a private
``packet_grabbed`` notice on all their connections; the room sees ``packet`` events: on
creation, progress (at most every ``PROGRESS_S`` per node) and one final summary. The host may
close a packet early (``packet_close``): the packets nobody grabbed go back as a refund, recorded
with the packet, and the final summary says so.

Viewers' rule for ``packet`` events: ``state: "finished"`` is final, and ``left`` only goes
down (progress from several nodes may arrive out of order). See ``docs/redpacket.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.api import acting_for, endpoint, path_id, read_json
from liveroom.auth import Identity
from liveroom.connection.session import Session
from liveroom.engine.promo import Closed, Grab, PacketStore, Tally, packets_of
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.features import Feature, find
from liveroom.protocol import (
    OBJECT_ID,
    Command,
    event,
    ident_field,
    int_field,
    register,
    room_event_body,
)

if TYPE_CHECKING:
    from liveroom.app import Node

log = logging.getLogger("liveroom.redpacket")

MAX_PACKETS = 10_000  # packets in one red packet
MAX_TOTAL_FEN = 100_000_000  # ¥1,000,000
MAX_KEYWORD = 20
#: how long a node trusts its list of a room's open keywords before reading it again
KEYWORD_CACHE_S = 1.0
MAX_DELAY_S = 86_400
PROGRESS_S = 0.5  # a node publishes a packet's progress at most this often
FINISHED_MEMORY = 10_000  # finished ids remembered per node, to drop late progress

_rng = random.SystemRandom()


def split(total: int, count: int, rng: random.Random = _rng) -> list[int]:
    """Split ``total`` fen into ``count`` packets by the double-average method.

    Each packet but the last is drawn uniformly from 1 to just under twice the mean of what is
    left, capped so every later packet can still get 1 fen; the last takes the rest. Every
    packet is at least 1 fen and the sum is exactly ``total``. Needs ``total >= count >= 1``.
    """
    if count < 1 or total < count:
        raise ValueError("need total >= count >= 1")
    amounts = []
    left = total
    for remaining in range(count, 1, -1):
        high = min(2 * left // remaining - 1, left - (remaining - 1))
        amount = rng.randint(1, max(1, high))
        amounts.append(amount)
        left -= amount
    amounts.append(left)
    return amounts


@dataclass(frozen=True, slots=True)
class PacketSpec:
    """A validated red packet request."""

    total: int
    count: int
    keyword: str
    title: str
    delay_s: int

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> PacketSpec:
        total = int_field(body.get("total"), "total", 1, MAX_TOTAL_FEN)
        count = int_field(body.get("count"), "count", 1, MAX_PACKETS)
        if total < count:
            raise CommandError(ErrorCode.BAD_REQUEST, "total must give every packet 1 fen")
        keyword = body.get("keyword") or ""
        if not isinstance(keyword, str) or len(keyword.strip()) > MAX_KEYWORD:
            raise CommandError(ErrorCode.BAD_REQUEST, f"keyword is up to {MAX_KEYWORD} characters")
        title = body.get("title") or "红包"
        if not isinstance(title, str) or len(title) > 30:
            raise CommandError(ErrorCode.BAD_REQUEST, "title is up to 30 characters")
        delay = int_field(body.get("delay_s", 0), "delay_s", 0, MAX_DELAY_S)
        return cls(total, count, keyword.strip(), title, delay)


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class CreatePacket(Command):
    type: ClassVar[str] = "packet_create"
    role: ClassVar[str] = "host"
    spec: PacketSpec | None = None

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(rid, PacketSpec.from_body(body))


@dataclass(frozen=True, slots=True)
class _OnePacket(Command):
    """A command about one red packet, named by its id in ``packet``."""

    packet: str = ""

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("packet"), "packet", OBJECT_ID))


@dataclass(frozen=True, slots=True)
class GrabPacket(_OnePacket):
    type: ClassVar[str] = "packet_grab"


@dataclass(frozen=True, slots=True)
class ClosePacket(_OnePacket):
    type: ClassVar[str] = "packet_close"
    role: ClassVar[str] = "host"


register(CreatePacket, GrabPacket, ClosePacket)


# --------------------------------------------------------------------------- the feature


def public(
    meta: bytes, left: int, now: float, finished: bool = False, closed_ms: int = 0
) -> dict[str, Any]:
    """A packet as viewers see it: its fixed fields plus ``left`` and ``state`` (and
    ``closed_at`` when the host closed it)."""
    packet: dict[str, Any] = orjson.loads(meta)
    packet["left"] = left
    if finished or left == 0 or closed_ms:
        packet["state"] = "finished"
    else:
        packet["state"] = "scheduled" if now < packet["open_at"] else "open"
    if closed_ms:
        packet["closed_at"] = closed_ms / 1000
    return packet


def refund_of(closed: Closed) -> dict[str, Any]:
    return {"fen": closed.refund_fen, "packets": closed.refunded}


def summary_of(tally: Tally) -> dict[str, Any]:
    return {
        "grabbed": tally.grabbed,
        "grabbed_fen": tally.grabbed_fen,
        "best": {
            "user": {"id": tally.best_user, "name": tally.best_name},
            "amount": tally.best_fen,
        },
        "took_s": round(max(tally.last_ms - tally.first_ms, 0) / 1000, 3),
    }


class RedPackets(Feature):
    """Red packets of every room, through ``engine.packets``."""

    name = "redpacket"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.engine = node.engine
        self.store: PacketStore = packets_of(node.engine)
        self._progress: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._keywords: dict[str, tuple[float, frozenset[str]]] = {}

    async def open(self) -> None:
        self._task = asyncio.create_task(self._progress_loop(), name="liveroom-packet-progress")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def create(self, room: str, spec: PacketSpec, who: Identity) -> dict[str, Any]:
        """Split the total, store the packet and tell the room."""
        now = time.time()
        packet_id = "rp" + secrets.token_hex(6)
        open_ms = int((now + spec.delay_s) * 1000)  # rounded down: no delay means open now
        open_at = open_ms / 1000
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
        if not await self.store.create(room, packet_id, meta, amounts, spec.keyword, open_ms):
            raise CommandError(ErrorCode.CONFLICT, "packet id clash; try again")
        self._keywords.pop(room, None)  # this node sees its own keyword packet at once
        state = public(meta, spec.count, now)
        await self.engine.publish(room, room_event_body("packet", packet=state))
        return {"packet": state}

    async def grab(self, room: str, packet: str, user: str, name: str) -> dict[str, Any]:
        """One grab for ``user``. Raises ``CommandError`` with the precise refusal."""
        now = time.time()
        result = await self.store.grab(room, packet, user, name, int(now * 1000))
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
                ErrorCode.ALREADY_GRABBED, "you have grabbed this red packet", amount=result.amount
            )
        if status is Grab.GONE:
            raise CommandError(ErrorCode.ALL_GRABBED, "every packet has been grabbed")
        if status is Grab.CLOSED:
            raise CommandError(ErrorCode.ENDED, "the host closed this red packet")
        if status is Grab.KEYWORD:
            keyword = orjson.loads(result.meta).get("keyword")
            raise CommandError(
                ErrorCode.KEYWORD_REQUIRED,
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
        now = time.time()
        closed = await self.store.close(room, packet, int(now * 1000))
        if closed is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no red packet {packet!r} in this room")
        state = public(closed.meta, 0, now, closed_ms=closed.closed_ms)
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
            "packet": public(audit.meta, audit.left, time.time(), closed_ms=audit.closed_ms),
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
        now = time.time()
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
            now = time.time()
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

    async def commented(self, room: str, who: Identity, text: str) -> None:
        """A comment equal to an open keyword packet's keyword unlocks it for its sender."""
        text = text.strip()
        if not text or len(text) > MAX_KEYWORD:
            return
        try:
            if text not in await self._open_keywords(room):
                return  # most comments: no Redis round trip
            for packet in await self.store.said(room, who.user, text):
                await self.engine.notify(room, who.user, event("packet_unlocked", packet=packet))
        except EngineUnavailable:
            # the comment itself went out; the sender may say the keyword again
            log.warning("keyword comment in %s not checked: engine unavailable", room)

    async def _open_keywords(self, room: str) -> frozenset[str]:
        """The keywords of the room's open keyword packets, read at most once a second.

        A keyword packet created on another node counts here within ``KEYWORD_CACHE_S``; one
        created on this node counts at once.
        """
        now = time.monotonic()
        cached = self._keywords.get(room)
        if cached is not None and cached[0] > now:
            return cached[1]
        words = set()
        for active in await self.store.active(room):
            keyword = orjson.loads(active.meta).get("keyword")
            if keyword:
                words.add(keyword)
        found = frozenset(words)
        if len(self._keywords) > 4096:
            self._keywords.clear()
        self._keywords[room] = (now + KEYWORD_CACHE_S, found)
        return found

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/rooms/{room}/packets", post_packet, methods=["POST"]),
            Route("/api/rooms/{room}/packets", get_packets, methods=["GET"]),
            Route("/api/rooms/{room}/packets/{packet}", get_packet, methods=["GET"]),
            Route("/api/rooms/{room}/packets/{packet}/grab", post_grab, methods=["POST"]),
            Route("/api/rooms/{room}/packets/{packet}/close", post_close, methods=["POST"]),
        ]


def setup(node: Node) -> RedPackets:
    return RedPackets(node)


def _feature(node: Node) -> RedPackets:
    return find(node, RedPackets)


# --------------------------------------------------------------------------- WebSocket


@Session.handles(CreatePacket)
async def handle_packet_create(session: Session, command: CreatePacket) -> dict[str, Any]:
    assert command.spec is not None
    return await _feature(session.node).create(session.room.id, command.spec, session.who)


@Session.handles(GrabPacket)
async def handle_packet_grab(session: Session, command: GrabPacket) -> dict[str, Any]:
    who = session.who
    return await _feature(session.node).grab(session.room.id, command.packet, who.user, who.name)


@Session.handles(ClosePacket)
async def handle_packet_close(session: Session, command: ClosePacket) -> dict[str, Any]:
    return await _feature(session.node).close_packet(session.room.id, command.packet)


# --------------------------------------------------------------------------- HTTP


def _packet(request: Request) -> str:
    return path_id(request, "packet", "packet id")


@endpoint(role="host")
async def post_packet(request: Request, node: Node, who: Identity) -> Any:
    """Create a red packet: ``total`` fen split at random into ``count`` packets.
    ---
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [total, count]
            properties:
              total: {type: integer, minimum: 1, description: in fen}
              count: {type: integer, minimum: 1}
              keyword: {type: string, description: viewers must comment it to grab}
              title: {type: string, maxLength: 30}
              delay_s: {type: integer, minimum: 0, description: seconds before it can be grabbed}
    responses:
      "200":
        description: the new packet
        content: {application/json: {schema: {type: object}}}
    """
    spec = PacketSpec.from_body(await read_json(request))
    return await _feature(node).create(request.path_params["room"], spec, who)


@endpoint(role="viewer")
async def get_packets(request: Request, node: Node, who: Identity) -> Any:
    """The room's active red packets.
    ---
    responses:
      "200":
        description: active packets
        content: {application/json: {schema: {type: object, required: [packets]}}}
    """
    return {"packets": await _feature(node).active(request.path_params["room"])}


@endpoint(role="host")
async def get_packet(request: Request, node: Node, who: Identity) -> Any:
    """One red packet with its grabs (host).
    ---
    responses:
      "200":
        description: the packet and who grabbed what
        content: {application/json: {schema: {type: object}}}
    """
    return await _feature(node).details(request.path_params["room"], _packet(request))


@endpoint(role="viewer")
async def post_grab(request: Request, node: Node, who: Identity) -> Any:
    """Grab for the token's user; the backend names the user (and display name) in the body.
    ---
    requestBody:
      required: false
      content:
        application/json:
          schema:
            type: object
            properties:
              # backend (API key) only: the user the call is for, and its display name
              user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
              name: {type: string, minLength: 1, maxLength: 64}
    responses:
      "200":
        description: the grab's outcome and amount
        content: {application/json: {schema: {type: object}}}
    """
    room = request.path_params["room"]
    grabber = acting_for(who, await read_json(request), room)
    return await _feature(node).grab(room, _packet(request), grabber.user, grabber.name)


@endpoint(role="host")
async def post_close(request: Request, node: Node, who: Identity) -> Any:
    """Close a red packet early: the packets nobody grabbed go back (the refund), recorded once.
    ---
    responses:
      "200":
        description: the finished packet, what was grabbed, and the refund in fen
        content: {application/json: {schema: {type: object, required: [packet, summary, refund]}}}
    """
    return await _feature(node).close_packet(request.path_params["room"], _packet(request))
