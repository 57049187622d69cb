"""``Session``: one admitted connection's commands: inbox, rate limit, dispatch, replies.

The handshake (``liveroom.connection.handshake``) makes the session once the viewer is in its
room. On the direct path the session then lives on the connection's callbacks (``detach``):
commands run one at a time, in order, on a worker that exists only while there is something to
do. It starts at the end of the node's gather window (``connection/gather.py``), together with
the other connections' workers that had commands in it, or right where the frame is read with
a window of 0; on the memory engine it runs in place and becomes a task only if a command has
to wait (``tasks.start_in_place``). On the portable path it reads from Starlette's
``WebSocket`` (``run``).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.websockets import WebSocket

from liveroom import auth, logs, metrics, tasks
from liveroom.auth import Identity
from liveroom.connection.connection import Connection
from liveroom.connection.gather import Gather
from liveroom.errors import AuthError, CloseCode, CommandError, EngineUnavailable, ErrorCode
from liveroom.hub import LocalRoom, Viewer
from liveroom.protocol import (
    ROLE_RANK,
    Command,
    Ping,
    RefreshToken,
    RequestId,
    decode,
    error_reply,
    frame,
    reply_frame,
    request_id,
)

if TYPE_CHECKING:
    from liveroom.config import Settings
    from liveroom.connection.expiry import ExpiryWatch
    from liveroom.connection.seams import RoomKicks, RoomSnapshots, ViewerJoins
    from liveroom.engine.base import Engine
    from liveroom.hub import Hub
    from liveroom.limits import AddressRate, AdmissionRate, ConnectionCaps

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
        "conn",
        "address",
        "finished",
        "watched_at",
        "__weakref__",
    )

    def __init__(
        self, node: ConnectionHost, ws: WebSocket, who: Identity, room: LocalRoom, viewer: Viewer
    ):
        self.node = node
        self.ws: WebSocket | None = ws
        self.who = who
        self.room = room
        self.viewer = viewer
        self.conn_id = logs.CONN_ID.get() or f"{node.settings.node_id}-{next(_conn_ids)}"
        self.tokens = float(node.settings.command_burst)
        self.refilled = time.monotonic()
        #: each client frame not yet run, with when it came (``take``'s refill runs to then);
        #: a list: an empty deque costs 600 bytes
        self.inbox: list[tuple[str | bytes, float]] = []
        #: the task running the commands, the node's gather while they wait for its window
        self.worker: asyncio.Task[None] | Gather | None = None
        self.conn: Connection | None = None  # once detached
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

    async def take(self, data: str | bytes, came: float | None = None) -> bool:
        """One client frame: size, rate, then the command (decode, role, handler, reply; an
        error becomes an error reply). False once the session must end.

        ``came``: when the frame was read, if before now (``deliver``). The rate's bucket is
        refilled up to then: frames that waited together for the gather window are counted as
        they came, not as one burst at the window's end (which lost the refill between them)."""
        settings = self.node.settings
        if len(data) > settings.max_frame_bytes:
            # uvicorn's ws_max_size stops these first under `liveroom serve`; this is for
            # servers that mount the app without that limit
            self.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return False
        # the command rate: a token bucket of ``command_burst``, refilled at ``command_rate``
        now = time.monotonic() if came is None else came
        burst = settings.command_burst
        tokens = min(burst, self.tokens + (now - self.refilled) * settings.command_rate) - 1
        self.tokens, self.refilled = tokens, now
        if tokens < 0:
            if tokens < -burst:
                log.warning("closing a flooding connection", extra={"code": CloseCode.FLOOD})
                self.close(CloseCode.FLOOD, "command flood")
                return False
            error = CommandError(ErrorCode.RATE_LIMITED, "too many commands; slow down")
            self._error(error, _request_id_of(data))
            return True
        # --- the command itself: decode, check the role, run the handler, reply; errors become
        # error replies. Here, not in a coroutine of its own: each level of ``await`` costs a
        # command about three times what a plain call does
        rid: RequestId | None = None
        try:
            dispatch = self.node.dispatch
            command = decode(data, dispatch.commands)
            rid = command.id
            metrics.COMMANDS_SEEN[command.type] += 1
            if command.role != "viewer" or (self.who.anonymous and not command.anonymous):
                self._authorize(command)  # (a viewer's command from a signed-in viewer passes)
            result = await dispatch.handlers[type(command)](self, command)
            self.viewer.send(reply_frame(rid, result))
        except CommandError as exc:
            self._error(exc, rid)
        except EngineUnavailable:
            self._error(CommandError(ErrorCode.UNAVAILABLE, "shared state unreachable; retry"), rid)
        except Exception:
            log.exception("command failed on %s", self.conn_id)
            self._error(CommandError(ErrorCode.INTERNAL, "internal error"), rid)
        return True

    # ------------------------------------------------------------------ detached (direct path)

    def detach(self, conn: Connection) -> None:
        """Live on callbacks from the connection from now on; the ASGI task may end.

        Commands still run one at a time, in order, on a worker that exists only while there is
        something to do (``deliver``, ``_start_worker``). Cleanups run once, when the
        connection goes (``finish``).
        """
        self.conn = conn
        self.ws = None
        conn.detach(self.deliver, self.finish)
        if len(self.inbox) >= INBOX_HOLD:  # handed a pile: the detach's own resume was early
            conn.pause()

    def deliver(self, data: str | bytes) -> None:
        """One client message, from the detached connection."""
        if self.finished:
            return
        self.inbox.append((data, time.monotonic()))
        conn = self.conn
        assert conn is not None
        if self.worker is None:
            conn.busy()
            gather = self.node.gather
            if gather.window > 0:
                self.worker = gather  # until the window ends: see ``run_gathered``
                gather.add(self)
            else:
                self._start_worker(self.node.engine.starts_in_place)  # in place
        elif len(self.inbox) >= INBOX_HOLD:
            conn.pause()

    def run_gathered(self) -> None:
        """The node's gather window ended (``connection/gather.py``): run the commands that
        came in since ``deliver`` put this session in it."""
        self.worker = None
        if self.inbox and not self.finished:
            self._start_worker(self.node.engine.starts_in_place)  # in place
        elif self.conn is not None:
            self.conn.settle()  # gone meanwhile: as a worker that ends does

    async def _work(self) -> None:
        conn = self.conn
        assert conn is not None
        try:
            while self.inbox and not self.finished:
                data, came = self.inbox.pop(0)  # (not ``take(*...)``: a call through a tuple)
                if not await self.take(data, came):
                    self.inbox.clear()
                    break
                if len(self.inbox) == INBOX_HOLD // 2 - 1:
                    # on its way down from INBOX_HOLD, where ``deliver`` paused the reading,
                    # the inbox passes this length, one command at a time
                    conn.resume()
        finally:
            self.worker = None
            if self.inbox and not self.finished:  # something unexpected ended the worker
                log.error("command worker of %s stopped early; restarting it", self.conn_id)
                conn.resume()
                self._start_worker()
            else:
                conn.settle()

    def _start_worker(self, in_place: bool = False) -> None:
        """Start the command worker, in a context of its own that names the connection in the
        logs (a context made per worker: kept per session, it held 200 bytes per idle viewer).
        ``in_place``: run it now, up to its first wait (``tasks.start_in_place``); it is a
        task only from that wait on, and none if it finished."""
        context = contextvars.Context()
        context.run(logs.CONN_ID.set, self.conn_id)
        if not in_place:
            self.worker = asyncio.get_running_loop().create_task(self._work(), context=context)
            return
        try:
            task = tasks.start_in_place(self._work(), context)
        except Exception:  # as a worker task's error would be: logged, the connection goes on
            log.exception("command worker of %s failed", self.conn_id)
            return
        if task is not None:
            self.worker = task  # (finished in place, it left ``worker`` as it should be)

    def finish(self) -> None:
        """The connection is gone: leave the room and give back its place, once."""
        if self.finished:
            return
        self.finished = True
        self.inbox.clear()
        self.viewer.conn.forget()
        node = self.node
        node.sessions.discard(self)
        node.hub.leave(self.viewer)
        for feature in node.leavers:
            try:
                feature.left(self)
            except Exception:
                log.exception("%s.left failed", feature.name)
        self.give_back()

    def give_back(self) -> None:
        """Return this connection's place under the per-address cap, once it holds one."""
        if self.address is not None:
            self.node.caps.release(self.address)
            metrics.CONNECTIONS.dec()
            self.address = None

    def _authorize(self, command: Command) -> None:
        if self.who.anonymous and not command.anonymous:
            raise CommandError(ErrorCode.READ_ONLY, "anonymous viewers can only watch; sign in")
        if ROLE_RANK.get(self.who.role, 0) < ROLE_RANK[command.role]:
            raise CommandError(ErrorCode.FORBIDDEN, f"{command.type} needs the {command.role} role")

    def _error(self, exc: CommandError, rid: RequestId | None) -> None:
        metrics.COMMAND_ERRORS.labels(exc.code.value).inc()
        self.viewer.send(frame([error_reply(exc, rid)]))

    def close(self, code: int, reason: str) -> None:
        metrics.CLOSES.labels(str(code)).inc()
        self.node.hub.evict(self.viewer, code, reason)

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


def _data_of(message: Mapping[str, Any]) -> str | bytes:
    data = message.get("text")
    return data if data is not None else (message.get("bytes") or b"")


def _request_id_of(data: str | bytes) -> RequestId | None:
    """The request id of a raw command, when it has a usable one, so a refusal can name it."""
    try:
        body = orjson.loads(data)
        return request_id(body) if isinstance(body, dict) else None
    except (orjson.JSONDecodeError, CommandError):
        return None


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


# ---------------------------------------------------------------------- the node, as seen from here


class CommandTable(Protocol):
    """A node's commands (``features.Dispatch``): classes by type name, and their handlers."""

    @property
    def commands(self) -> Mapping[str, type[Command]]: ...

    @property
    def handlers(self) -> Mapping[type[Command], Handler]: ...


class JoinHook(Protocol):
    """A feature as the connection layer sees it: a name, private events for a new viewer,
    and word that a viewer's connection is gone."""

    @property
    def name(self) -> str: ...

    async def joined(self, session: Session) -> None: ...

    def left(self, session: Session) -> None: ...


class ConnectionHost(Protocol):
    """The node, as the handshake and the session use it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def hub(self) -> Hub: ...

    @property
    def rooms(self) -> RoomSnapshots: ...

    @property
    def stats(self) -> ViewerJoins: ...

    @property
    def dispatch(self) -> CommandTable: ...

    @property
    def joiners(self) -> Iterable[JoinHook]:
        """The features whose ``joined`` does something: awaited on every join."""
        ...

    @property
    def leavers(self) -> Iterable[JoinHook]:
        """The features whose ``left`` does something: called on every leave."""
        ...

    @property
    def sessions(self) -> set[Session]: ...

    @property
    def expiries(self) -> ExpiryWatch: ...

    @property
    def caps(self) -> ConnectionCaps: ...

    @property
    def admission(self) -> AdmissionRate: ...

    @property
    def address_admission(self) -> AddressRate: ...

    @property
    def joins(self) -> asyncio.Semaphore: ...

    @property
    def kicks(self) -> RoomKicks: ...

    @property
    def gather(self) -> Gather: ...
