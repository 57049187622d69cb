"""``/ws``: admit a connection into its room, or refuse it, then hand it to its ``Session``.

Before anything else a new connection must fit the node's admission rate (``admission_refusal``:
past it, 1013 with a ``retry_after``), then the per-address cap; then it waits its turn to join
(``Settings.joins_at_once`` at a time: ``JoinTurn``). ``admit`` then checks, in order:
origin, room id, resume offset and epoch, token (or the room's anonymous rule), a kick
(``kick_refusal``), then joins the room's local copy, sends the welcome, and the snapshot (or on
resume the events missed, replayed in pieces by ``Hub.replays``), and, if a kick may have come
for the room meanwhile (``Hub.closing_since``), asks about a kick once more just before the
viewer goes on the room's lists. A resume runs every check of a fresh join. Only
a resume that names the stream's epoch is served from history; any other gets a reset snapshot
(``_start``). It answers an ``Admission``, or a ``Refusal``: an ``error`` event in a text frame,
then a Close with the refusal's close code, whose error code the code itself carries
(``CloseCode.error_code``); a refusal that ends (1013, a kick) also says when to come back
(``retry_after``, seconds, in the ``error`` event and the close reason).

The direct path (``liveroom serve``) gives the connection as a ``Connection`` in the ASGI scope
(``DIRECT_EXTENSION``); without it the app is on the portable path (``AsgiConnection``). Nothing
here imports the server's internals: mounted in another app, liveroom never loads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from liveroom import PROTOCOL_VERSION, auth, metrics
from liveroom.auth import Identity
from liveroom.connection.asgi import AsgiConnection
from liveroom.connection.connection import DIRECT_EXTENSION, Connection
from liveroom.connection.session import Session
from liveroom.engine.base import Stream
from liveroom.errors import AuthError, CloseCode, EngineUnavailable
from liveroom.hub import LocalRoom, Viewer
from liveroom.limits import client_ip
from liveroom.protocol import EPOCH, OFFSET, ROOM_ID, event, frame

if TYPE_CHECKING:
    from liveroom.connection.session import ConnectionHost

log = logging.getLogger("liveroom.session")


@dataclass(frozen=True, slots=True)
class Admission:
    """A connection let into its room: it has its welcome and snapshot (or missed events) and
    holds every event of epoch ``have.epoch`` up to offset ``have.head``."""

    who: Identity
    room: LocalRoom
    viewer: Viewer
    have: Stream


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection is turned away: the close code, and the message its client sees."""

    code: CloseCode
    message: str
    retry_after: float | None = None  # seconds: when trying again may succeed


async def websocket_endpoint(ws: WebSocket) -> None:
    """``/ws?room=<id>&token=<jwt>[&offset=<n>&epoch=<id>]``: one viewer, host or admin in one
    room."""
    node: ConnectionHost = ws.app.state.node
    room_id = ws.query_params.get("room", "")
    peer = ws.client.host if ws.client else None
    forwarded = ",".join(ws.headers.getlist("x-forwarded-for"))
    address = client_ip(peer, forwarded, node.caps.proxies)
    await ws.accept()
    refused = admission_refusal(node, address)
    if refused is not None:
        await _refuse(ws, refused)
        return
    if not node.caps.acquire(address):
        await _refuse(
            ws,
            Refusal(CloseCode.TOO_MANY_CONNECTIONS, "too many connections from your address"),
        )
        return
    metrics.CONNECTIONS.inc()
    log.debug("connected", extra={"ip": address, "room": room_id[:64]})
    session: Session | None = None
    turn = JoinTurn(node.joins)
    try:
        await turn.take()
        admission = await admit(node, ws)
        if isinstance(admission, Refusal):
            turn.give_back()
            await _refuse(ws, admission)
        else:
            session = await _serve(node, ws, admission, turn)
    finally:
        turn.give_back()
        if session is None:  # refused: give the place back now
            node.caps.release(address)
            metrics.CONNECTIONS.dec()
        else:  # the session gives it back when it finishes
            session.address = address
            if session.finished:
                session.give_back()


async def admit(node: ConnectionHost, ws: WebSocket) -> Admission | Refusal:
    """Origin, room, offset and token; then the room, the welcome, and the snapshot or the
    missed events. A refusal is not sent yet (``_refuse`` does); one past the token follows
    the welcome."""
    settings = node.settings
    query = ws.query_params
    room_id = query.get("room", "")
    origin = ws.headers.get("origin")
    if origin is not None and "*" not in settings.origins and origin not in settings.origins:
        return Refusal(CloseCode.ORIGIN_NOT_ALLOWED, "origin not allowed")
    if not ROOM_ID.fullmatch(room_id):
        return Refusal(CloseCode.BAD_REQUEST, "room id missing or malformed")
    offset_raw = query.get("offset")
    resume: int | None = None
    if offset_raw is not None:
        if not OFFSET.fullmatch(offset_raw):  # ASCII digits: isdigit() takes "²" and "٣"
            return Refusal(CloseCode.BAD_REQUEST, "offset must be a whole number")
        resume = int(offset_raw)
    epoch = query.get("epoch")
    if epoch is not None and not EPOCH.fullmatch(epoch):
        return Refusal(CloseCode.BAD_REQUEST, "epoch must be 1 to 32 of A-Z a-z 0-9 _ -")
    token = query.get("token")
    closings = node.hub.closing_mark(room_id)  # before the kick is first asked about
    try:
        if token:
            who = auth.verify(settings.secret, token, room_id)
        else:
            info = await node.rooms.info(room_id)
            if not info.get("allow_anonymous", settings.allow_anonymous):
                raise AuthError(CloseCode.AUTH_FAILED, "this room needs a token")
            who = auth.anonymous()
        kicked = await kick_refusal(node, room_id, who)
    except AuthError as exc:
        return Refusal(exc.close_code, exc.message)
    except EngineUnavailable:
        return Refusal(CloseCode.SERVICE_RESTART, "shared state unreachable; reconnect")
    if kicked is not None:
        return kicked

    direct: Connection | None = ws.scope.get("extensions", {}).get(DIRECT_EXTENSION)
    conn = direct if direct is not None else AsgiConnection(ws)
    viewer = Viewer(conn, who.user)
    try:
        room = await node.hub.room(room_id)
        if not room.info:
            room.info = await node.rooms.info(room_id)
        viewer.send(
            frame(
                [
                    event(
                        "welcome",
                        protocol=PROTOCOL_VERSION,
                        node=settings.node_id,
                        role=who.role,
                        user=who.public(),
                        room=room_id,
                    )
                ]
            )
        )
        if room.info.get("ended"):
            conn.forget()
            return Refusal(CloseCode.ROOM_ENDED, "this room has ended")
        have = await _start(node, room, viewer, resume, epoch)
        # A kick sent while this viewer got its snapshot found it on no list of the room: asked
        # again when one may have come (``Hub.closing_since``). Nothing awaits from here until
        # ``_serve`` puts it on a list, where any later kick finds it.
        if node.hub.closing_since(closings):
            kicked = await kick_refusal(node, room_id, who)
    except EngineUnavailable:
        conn.forget()
        return Refusal(CloseCode.SERVICE_RESTART, "shared state unreachable; reconnect")
    if kicked is not None:
        conn.forget()
        return kicked
    return Admission(who, room, viewer, have)


def admission_refusal(node: ConnectionHost, address: str) -> Refusal | None:
    """The admission rates, checked before any other work on a new connection (a refusal
    costs no token check, no Redis call and no snapshot): the client address's own
    (``Settings.admit_address_rate``) first, so that an address over it spends nothing of the
    node's (``Settings.admit_rate``)."""
    wait = node.address_admission.admit(address)
    if wait is not None:
        metrics.REFUSED_ADMISSIONS.inc()
        return Refusal(
            CloseCode.TRY_AGAIN_LATER,
            "too many new connections from your address; try again later",
            retry_after=wait,
        )
    wait = node.admission.admit()
    if wait is None:
        return None
    metrics.REFUSED_ADMISSIONS.inc()
    return Refusal(CloseCode.TRY_AGAIN_LATER, "server busy; try again later", retry_after=wait)


async def kick_refusal(node: ConnectionHost, room_id: str, who: Identity) -> Refusal | None:
    """A user kicked from the room is refused until the kick ends, resuming or not (4031, with
    the seconds left as ``retry_after``). Anonymous viewers have no lasting id to kick."""
    if who.anonymous:
        return None
    until = await node.kicks.kicked_until(room_id, who.user)
    if until is None:
        return None
    left = max(0.001, round(until - time.time(), 3))
    return Refusal(CloseCode.KICKED, "you were removed from this room for a while", left)


async def _refuse(ws: WebSocket, refusal: Refusal) -> None:
    code = refusal.code
    metrics.CLOSES.labels(str(code)).inc()
    if code == CloseCode.TRY_AGAIN_LATER:  # a storm refuses thousands: not one line each
        log.debug("refused: %s", refusal.message, extra={"code": int(code)})
    else:
        log.info("refused: %s", refusal.message, extra={"code": int(code)})
    fields: dict[str, object] = {"code": code.error_code.value, "message": refusal.message}
    reason = refusal.message
    if refusal.retry_after is not None:
        fields["retry_after"] = refusal.retry_after
        reason = f"{reason}; retry_after={refusal.retry_after}"
    with contextlib.suppress(Exception):
        # a text frame, as every server frame: a browser's JSON.parse drops a binary one (a Blob)
        await ws.send_text(frame([event("error", **fields)]).decode())
        await ws.close(code, reason[:120])


class JoinTurn:
    """A connection's turn to join (``Settings.joins_at_once`` at a time): ``take`` waits for
    it, ``give_back`` ends it, once (later calls do nothing)."""

    __slots__ = ("joins", "held")

    def __init__(self, joins: asyncio.Semaphore) -> None:
        self.joins = joins
        self.held = False

    async def take(self) -> None:
        await self.joins.acquire()
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.joins.release()


async def _serve(
    node: ConnectionHost, ws: WebSocket, admission: Admission, turn: JoinTurn
) -> Session:
    """Join the room and serve. Returns the session (it may live on, detached); the join's
    ``turn`` ends before the session's commands are read."""
    who, viewer = admission.who, admission.viewer
    room = node.hub.join(admission.room, viewer, admission.have)
    with contextlib.suppress(EngineUnavailable):
        await node.stats.viewer_joined(room.id, who.user)
    session = Session(node, ws, who, room, viewer)
    node.sessions.add(session)
    for feature in node.joiners:
        try:
            await feature.joined(session)
        except EngineUnavailable:
            pass
        except Exception:
            log.exception("%s.joined failed", feature.name)
    turn.give_back()
    session.watch_expiry()
    if isinstance(viewer.conn, Connection):  # the direct path: no task per idle connection
        session.detach(viewer.conn)
        return session
    try:
        await session.run()
    except WebSocketDisconnect:
        pass
    finally:
        session.finish()
    return session


async def _start(
    node: ConnectionHost, room: LocalRoom, viewer: Viewer, resume: int | None, epoch: str | None
) -> Stream:
    """Send the snapshot, or on resume the missed events; return the offset the viewer holds,
    with its epoch.

    History serves a resume only when the client names the stream's epoch: its offset is then
    known to be of this stream. Without one (a protocol v1 client) nothing proves that the
    offset was not given out by a stream since lost (a restarted memory engine, a Redis that
    lost the room), so the answer is a reset snapshot, as for an offset history cannot serve.
    The missed events are replayed in pieces (``Hub.replays``); a replay that history can no
    longer finish (trimmed meanwhile, or the epoch moved on) ends in a reset snapshot too.
    """
    if resume is not None and epoch is not None:
        viewer.offset, viewer.epoch = resume, epoch
        replay = await node.hub.replays.replay(room.id, viewer)
        if replay.complete:
            resumed = event("resumed", offset=viewer.offset, missed=replay.sent, epoch=epoch)
            viewer.send(frame([resumed]))
            return Stream(epoch, viewer.offset)
    offset, now, snapshot = await node.rooms.snapshot(
        room.id, reset=resume is not None, version=room.state_version
    )
    viewer.send(frame([snapshot]))
    return Stream(now, offset)
