"""One WebSocket connection: authentication, join or resume, the read loop and its dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from liveroom import PROTOCOL_VERSION, auth, logs, metrics
from liveroom.auth import Identity
from liveroom.errors import AuthError, CloseCode, CommandError, EngineUnavailable, ErrorCode
from liveroom.hub import CATCHUP_CHUNK, LocalRoom, Viewer
from liveroom.limits import client_ip
from liveroom.protocol import (
    ROLE_RANK,
    ROOM_ID,
    Command,
    Ping,
    RefreshToken,
    decode,
    error_reply,
    event,
    frame,
    reply,
)
from liveroom.transport import DIRECT_EXTENSION, AsgiLink, DirectLink, DirectWebSocketProtocol

if TYPE_CHECKING:
    from liveroom.app import Node

log = logging.getLogger("liveroom.session")

#: a WebSocket command's handler: the reply's fields, or None for a bare ``ok``
Handler = Callable[["Session", Any], Awaitable[dict[str, Any] | None]]
_conn_ids = itertools.count(1)
#: commands queued on one connection before the server stops reading from it
INBOX_HOLD = 32


class Session:
    """Serves one connection until it closes; commands go to the node's ``dispatch`` table."""

    __slots__ = (
        "node",
        "ws",
        "who",
        "room",
        "viewer",
        "conn_id",
        "tokens",
        "refilled",
        "inbox",
        "worker",
        "proto",
        "context",
        "address",
        "finished",
        "watched_at",
        "__weakref__",
    )

    def __init__(self, node: Node, ws: WebSocket, who: Identity, room: LocalRoom, viewer: Viewer):
        self.node = node
        self.ws: WebSocket | None = ws
        self.who = who
        self.room = room
        self.viewer = viewer
        self.conn_id = logs.CONN_ID.get() or f"{node.settings.node_id}-{next(_conn_ids)}"
        self.tokens = float(node.settings.command_burst)
        self.refilled = time.monotonic()
        self.inbox: list[str | bytes] = []  # a list: an empty deque costs 600 bytes
        self.worker: asyncio.Task[None] | None = None
        self.proto: DirectWebSocketProtocol | None = None
        self.context: contextvars.Context | None = None
        self.address: str | None = None  # counted against the per-address cap until finished
        self.finished = False
        self.watched_at: float | None = None  # the token expiry the node's watch holds

    # ------------------------------------------------------------------ read loop

    async def run(self) -> None:
        """The read loop of the ASGI path (liveroom mounted in another server)."""
        assert self.ws is not None
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if not await self.take(_data_of(message)):
                return

    async def take(self, data: str | bytes) -> bool:
        """One client frame: size, rate, then the command. False once the session must end."""
        if len(data) > self.node.settings.max_frame_bytes:
            # uvicorn's ws_max_size stops these first under `liveroom serve`; this is for
            # servers that mount the app without that limit
            self.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return False
        if not self._take_token():
            if self.tokens < -self.node.settings.command_burst:
                log.warning("closing a flooding connection", extra={"code": CloseCode.FLOOD})
                self.close(CloseCode.FLOOD, "command flood")
                return False
            error = CommandError(ErrorCode.RATE_LIMITED, "too many commands; slow down")
            self._error(error, _request_id_of(data))
            return True
        await self.handle(data)
        return True

    # ------------------------------------------------------------------ detached (direct path)

    def detach(self, proto: DirectWebSocketProtocol) -> None:
        """Live on callbacks from the protocol from now on; the ASGI task may end.

        Commands still run one at a time, in order, on a task that exists only while there is
        something to do. Cleanups run once, when the connection goes.
        """
        self.proto = proto
        self.context = contextvars.copy_context()
        self.ws = None
        proto.detach(self.deliver)

    def deliver(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.disconnect":
            self.finish()
            return
        if self.finished:
            return
        self.inbox.append(_data_of(message))
        proto = self.proto
        assert proto is not None
        if self.worker is None:
            proto.idle = False
            loop = asyncio.get_running_loop()
            self.worker = loop.create_task(self._work(), context=self.context)
        elif len(self.inbox) >= INBOX_HOLD:
            proto.hold(True)

    async def _work(self) -> None:
        proto = self.proto
        assert proto is not None
        try:
            while self.inbox and not self.finished:
                if not await self.take(self.inbox.pop(0)):
                    self.inbox.clear()
                    break
                if len(self.inbox) < INBOX_HOLD // 2:
                    proto.hold(False)
        finally:
            self.worker = None
            if self.inbox and not self.finished:  # something unexpected ended the worker
                log.error("command worker of %s stopped early; restarting it", self.conn_id)
                proto.hold(False)
                loop = asyncio.get_running_loop()
                self.worker = loop.create_task(self._work(), context=self.context)
            else:
                proto.session_idle()

    def finish(self) -> None:
        """The connection is gone: leave the room and give back its place, once."""
        if self.finished:
            return
        self.finished = True
        self.inbox.clear()
        if self.proto is not None:
            self.proto.forget()
        node = self.node
        node.sessions.discard(self)
        node.hub.leave(self.viewer)
        if isinstance(self.viewer.link, AsgiLink):
            self.viewer.link.stop()
        self.give_back()

    def give_back(self) -> None:
        """Return this connection's place under the per-address cap, once it holds one."""
        if self.address is not None:
            self.node.caps.release(self.address)
            metrics.CONNECTIONS.dec()
            self.address = None

    def _take_token(self) -> bool:
        now = time.monotonic()
        rate = self.node.settings.command_rate
        burst = self.node.settings.command_burst
        self.tokens = min(burst, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        self.tokens -= 1
        return self.tokens >= 0

    async def handle(self, data: str | bytes) -> None:
        """Decode, check the role, run the handler, reply. Errors become error replies."""
        rid: str | None = None
        try:
            dispatch = self.node.dispatch
            command = decode(data, dispatch.commands)
            rid = command.id
            metrics.COMMANDS.labels(command.type).inc()
            self._authorize(command)
            handler = dispatch.handlers[type(command)]
            result = await handler(self, command)
            self.viewer.send(frame([reply(rid, **(result or {}))]))
        except CommandError as exc:
            self._error(exc, rid)
        except EngineUnavailable:
            self._error(CommandError(ErrorCode.UNAVAILABLE, "shared state unreachable; retry"), rid)
        except Exception:
            log.exception("command failed on %s", self.conn_id)
            self._error(CommandError(ErrorCode.INTERNAL, "internal error"), rid)

    def _authorize(self, command: Command) -> None:
        if self.who.anonymous and not command.anonymous:
            raise CommandError(ErrorCode.READ_ONLY, "anonymous viewers can only watch; sign in")
        if ROLE_RANK.get(self.who.role, 0) < ROLE_RANK[command.role]:
            raise CommandError(ErrorCode.FORBIDDEN, f"{command.type} needs the {command.role} role")

    def _error(self, exc: CommandError, rid: str | None) -> None:
        metrics.COMMAND_ERRORS.labels(exc.code.value).inc()
        self.viewer.send(frame([error_reply(exc, rid)]))

    def close(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        self.node.hub.leave(self.viewer)
        self.viewer.close(code, reason)

    # ------------------------------------------------------------------ token expiry

    def watch_expiry(self) -> None:
        """Close with 4011 when the token expires; call again after a refresh to re-arm."""
        at = self.who.expires
        if at is not None and at != self.watched_at:
            self.watched_at = at
            self.node.expiries.watch(self, at)

    def expired(self, at: float) -> None:
        """The expiry watch fired for ``at``: close, unless a refresh moved the expiry."""
        if not self.finished and self.who.expires == at:
            self.close(CloseCode.TOKEN_EXPIRED, "token expired")


class ExpiryWatch:
    """Token expiry for every session of a node: one heap and one timer, not one per connection.

    The heap holds sessions weakly: a session that ended is freed at once, with its connection,
    and not kept until its token would have expired (an hour or a day later). What it leaves in
    the heap is an empty entry, dropped when its time comes or at a compaction, once such
    entries outnumber the live sessions. ``Session.expired`` ignores finished sessions and
    stale re-arms.
    """

    def __init__(self, live: Callable[[], int]) -> None:
        self.heap: list[tuple[float, int, weakref.ref[Session]]] = []
        self.order = itertools.count()
        self.live = live
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def watch(self, session: Session, at: float) -> None:
        heapq.heappush(self.heap, (at, next(self.order), weakref.ref(session)))
        if len(self.heap) > 1024 and len(self.heap) > 2 * self.live():
            self.heap = [e for e in self.heap if _armed(e)]
            heapq.heapify(self.heap)
        self._arm()

    def _arm(self) -> None:
        if not self.heap:
            return
        at = self.heap[0][0]
        if self.timer is not None:
            if self.timer_at <= at:
                return
            self.timer.cancel()
        loop = asyncio.get_running_loop()
        self.timer_at = at
        self.timer = loop.call_later(max(at - time.time(), 0), self._fire)

    def _fire(self) -> None:
        self.timer = None
        now = time.time()
        while self.heap and self.heap[0][0] <= now:
            at, _, ref = heapq.heappop(self.heap)
            session = ref()
            if session is not None:
                session.expired(at)
        self._arm()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.heap.clear()


def _armed(entry: tuple[float, int, weakref.ref[Session]]) -> bool:
    """Whether an expiry entry still stands for a live session's current token."""
    session = entry[2]()
    return session is not None and not session.finished and session.watched_at == entry[0]


def _data_of(message: Mapping[str, Any]) -> str | bytes:
    data = message.get("text")
    return data if data is not None else (message.get("bytes") or b"")


def _request_id_of(data: str | bytes) -> str | None:
    """The request id of a raw command, when it has a usable one, so a refusal can name it."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    rid = body.get("id") if isinstance(body, dict) else None
    return rid if isinstance(rid, str) and 0 < len(rid) <= 64 else None


# ---------------------------------------------------------------------- handlers


async def handle_ping(session: Session, command: Ping) -> dict[str, Any]:
    return {"ts": time.time()}


async def handle_refresh(session: Session, command: RefreshToken) -> dict[str, Any]:
    """Swap in a fresh token for the same user, valid for this room; the expiry timer follows it."""
    try:
        who = auth.verify(session.node.settings.secret, command.token, session.room.id)
    except AuthError as exc:
        raise CommandError(exc.error_code, exc.message) from None
    if who.user != session.who.user:
        raise CommandError(ErrorCode.FORBIDDEN, "a refreshed token must be for the same user")
    session.who = who
    session.watch_expiry()
    return {"expires": who.expires}


#: the commands every node answers, whatever its features
CORE_HANDLERS: dict[type[Command], Handler] = {
    Ping: handle_ping,
    RefreshToken: handle_refresh,
}


# ---------------------------------------------------------------------- the endpoint


async def websocket_endpoint(ws: WebSocket) -> None:
    """``/ws?room=<id>&token=<jwt>[&offset=<n>]``: one viewer, host or admin in one room."""
    node: Node = ws.app.state.node
    query = ws.query_params
    room_id = query.get("room", "")
    origin = ws.headers.get("origin")
    peer = ws.client.host if ws.client else None
    forwarded = ",".join(ws.headers.getlist("x-forwarded-for"))
    address = client_ip(peer, forwarded, node.caps.proxies)
    await ws.accept()
    if not node.caps.acquire(address):
        await _refuse(ws, CloseCode.TOO_MANY_CONNECTIONS, "too many connections from your address")
        return
    metrics.CONNECTIONS.inc()
    log.debug("connected", extra={"ip": address, "room": room_id[:64]})
    session: Session | None = None
    try:
        session = await _serve(node, ws, room_id, query, origin)
    finally:
        if session is None:  # refused: give the place back now
            node.caps.release(address)
            metrics.CONNECTIONS.dec()
        else:  # the session gives it back when it finishes
            session.address = address
            if session.finished:
                session.give_back()


#: the error code sent in the last frame before each refusing close code
REFUSAL_ERRORS = {
    CloseCode.AUTH_FAILED: ErrorCode.UNAUTHORIZED,
    CloseCode.TOKEN_EXPIRED: ErrorCode.UNAUTHORIZED,
    CloseCode.WRONG_ROOM: ErrorCode.FORBIDDEN,
    CloseCode.ORIGIN_NOT_ALLOWED: ErrorCode.FORBIDDEN,
    CloseCode.TOO_MANY_CONNECTIONS: ErrorCode.RATE_LIMITED,
    CloseCode.SERVICE_RESTART: ErrorCode.UNAVAILABLE,
    CloseCode.ROOM_ENDED: ErrorCode.ENDED,
}


async def _refuse(ws: WebSocket, code: int, message: str) -> None:
    metrics.CLOSES.labels(str(code)).inc()
    log.info("refused: %s", message, extra={"code": int(code)})
    code_name = REFUSAL_ERRORS.get(code, ErrorCode.BAD_REQUEST)  # type: ignore[call-overload]
    with contextlib.suppress(Exception):
        # a text frame, as every server frame: a browser's JSON.parse drops a binary one (a Blob)
        await ws.send_text(frame([event("error", code=code_name.value, message=message)]).decode())
        await ws.close(code, message[:120])


async def _serve(
    node: Node,
    ws: WebSocket,
    room_id: str,
    query: Any,
    origin: str | None,
) -> Session | None:
    """Authenticate, join and serve. The session when one was made (it may live on)."""
    settings = node.settings
    if origin is not None and "*" not in settings.origins and origin not in settings.origins:
        await _refuse(ws, CloseCode.ORIGIN_NOT_ALLOWED, "origin not allowed")
        return None
    if not ROOM_ID.match(room_id):
        await _refuse(ws, CloseCode.BAD_REQUEST, "room id missing or malformed")
        return None
    offset_raw = query.get("offset")
    resume: int | None = None
    if offset_raw is not None:
        if not offset_raw.isdigit() or len(offset_raw) > 18:
            await _refuse(ws, CloseCode.BAD_REQUEST, "offset must be a whole number")
            return None
        resume = int(offset_raw)
    token = query.get("token")
    try:
        if token:
            who = auth.verify(settings.secret, token, room_id)
        else:
            info = await node.rooms.info(room_id)
            if not info.get("allow_anonymous", settings.allow_anonymous):
                raise AuthError(CloseCode.AUTH_FAILED, "this room needs a token")
            who = auth.anonymous()
    except AuthError as exc:
        await _refuse(ws, exc.close_code, exc.message)
        return None
    except EngineUnavailable:
        await _refuse(ws, CloseCode.SERVICE_RESTART, "shared state unreachable; reconnect")
        return None

    proto = ws.scope.get("extensions", {}).get(DIRECT_EXTENSION)
    link: DirectLink | AsgiLink = DirectLink(proto) if proto is not None else AsgiLink(ws._send)
    viewer = Viewer(link, who.user)
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
            if isinstance(link, AsgiLink):
                link.stop()
            await _refuse(ws, CloseCode.ROOM_ENDED, "this room has ended")
            return None
        have = await _start(node, room, viewer, resume)
    except EngineUnavailable:
        if isinstance(link, AsgiLink):
            link.stop()
        await _refuse(ws, CloseCode.SERVICE_RESTART, "shared state unreachable; reconnect")
        return None
    room = node.hub.join(room, viewer, have)
    with contextlib.suppress(EngineUnavailable):
        await node.stats.viewer_joined(room_id, who.user)
    session = Session(node, ws, who, room, viewer)
    node.sessions.add(session)
    for feature in node.features:
        try:
            await feature.joined(session)
        except EngineUnavailable:
            pass
        except Exception:
            log.exception("%s.joined failed", feature.name)
    session.watch_expiry()
    if proto is not None:  # the direct path: no task per idle connection
        session.detach(proto)
        return session
    try:
        await session.run()
    except WebSocketDisconnect:
        pass
    finally:
        session.finish()
    return session


async def _start(node: Node, room: LocalRoom, viewer: Viewer, resume: int | None) -> int:
    """Send the snapshot, or on resume the missed events; return the offset the viewer holds."""
    if resume is not None:
        history = await node.engine.history(room.id, resume, node.settings.history_len)
        if history.complete:
            events = history.events
            for start in range(0, len(events), CATCHUP_CHUNK):
                viewer.send(frame(events[start : start + CATCHUP_CHUNK]))
            viewer.send(frame([event("resumed", offset=history.head, missed=len(events))]))
            return history.head
    offset, snapshot = await node.rooms.snapshot(
        room.id, reset=resume is not None, version=room.state_version
    )
    viewer.send(frame([snapshot]))
    return offset
