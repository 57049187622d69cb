"""How bytes leave the server for one WebSocket connection.

Two kinds of link, one interface for the hub (``out.write(wire)``, ``out.get_write_buffer_size()``,
``close(code, reason)``):

* ``DirectLink`` — under ``liveroom serve``, uvicorn runs ``DirectWebSocketProtocol``, which hands
  the app its transport through the ASGI scope extension ``liveroom.direct``. The hub writes each
  frame, built once, straight to every viewer's transport: no per-viewer task, encode or await.
  On uvloop without TLS the transport is wrapped in a ``DirectOut``, so that the hub can hand a
  frame to the socket's own ``send`` without uvloop's per-write bookkeeping.
* ``AsgiLink`` — under any other ASGI server, or when liveroom is mounted in a server that does
  not run our protocol class, frames go through ASGI ``websocket.send`` from one writer task per
  connection, behind a bounded queue. Same behaviour, more CPU per viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from liveroom import metrics
from liveroom.errors import CloseCode
from liveroom.protocol import ws_payload, ws_text_frame

log = logging.getLogger("liveroom.transport")

DIRECT_EXTENSION = "liveroom.direct"
#: how long a Close (the client's, or ours after a bad frame) may wait for the replies of the
#: commands read before it
HELD_CLOSE_GRACE_S = 5.0
#: after our Close frame, how long a client that reads nothing more keeps the connection
CLOSE_ABORT_S = 2.0


class Out(Protocol):
    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...


class _SharedSocket(socket.socket):
    """A socket object on a descriptor uvloop owns. It never closes it: dropped, it only lets
    go (``detach``), so that even when uvloop closed the descriptor without telling the protocol
    (a loop closed with connections still open) a later owner of the number is left alone."""

    __slots__ = ()

    def __del__(self) -> None:
        self.detach()


class DirectOut:
    """Every write of one uvloop TCP connection: to the socket in the same call when nothing
    waits ahead of it, otherwise behind uvloop's buffer, so the bytes keep their order.

    ``uvloop``'s ``transport.write`` appends the bytes to its buffer, builds the iovecs and
    calls ``write(2)``; the socket's own ``send(2)`` skips that bookkeeping and the kernel's
    file-write layer, and costs about 0.45 µs less per frame here (``python -m
    loadtest.sendfloor --server send`` against ``--server raw``). The hub fans frames out with
    it. It is safe only while uvloop's buffer is empty, else a frame would overtake bytes queued
    before it. So every write of the connection, uvicorn's own included, comes through here (the
    protocol's ``transport`` is replaced by this object), and uvloop's buffer only fills when
    the kernel refused bytes: each time, ``shorts`` goes up, and the hub, seeing it change,
    checks every viewer's buffer before it calls ``send`` directly again.

    ``sock`` is a socket object on uvloop's descriptor; its ``send`` returns the bytes taken.
    ``release`` detaches it from the descriptor: on ``close``/``abort`` (so no frame follows a Close
    frame, and uvloop alone finishes the connection, as without this class) and in the
    protocol's ``connection_lost``, which uvloop calls before it closes the descriptor. From then
    on ``sock.send`` fails with ``EBADF`` rather than reach a number another connection may get,
    and ``write`` goes through uvloop. The hub's C send loop holds bare descriptor numbers, so
    each release is also counted (``releases``) and its number logged (``released``): a room
    blanks those numbers before it sends again. A send that fails any other way (reset, broken pipe)
    aborts the transport, as uvloop does when its own write fails.
    """

    __slots__ = ("transport", "sock", "get_write_buffer_size", "live")

    #: writes the kernel did not take whole, over all connections of the process
    shorts = 0
    #: releases so far, and the descriptor numbers of the latest ones: a room that holds
    #: descriptor numbers for the C send loop blanks these before it sends again
    releases = 0
    released: deque[int] = deque(maxlen=1024)

    def __init__(self, transport: Any) -> None:
        pseudo = transport.get_extra_info("socket")
        self.sock: socket.socket = _SharedSocket(pseudo.family, pseudo.type, 0, pseudo.fileno())
        self.sock.setblocking(False)
        self.transport = transport
        self.live = True
        self.get_write_buffer_size: Callable[[], int] = transport.get_write_buffer_size

    @staticmethod
    def fits(transport: Any) -> bool:
        """Whether ``transport`` is a plain uvloop TCP transport (no TLS) this can wrap."""
        kind = type(transport)
        return (
            kind.__name__ == "TCPTransport"
            and kind.__module__ == "uvloop.loop"
            and not transport.get_extra_info("sslcontext")
            and transport.get_extra_info("socket") is not None
        )

    def write(self, data: bytes) -> None:
        transport = self.transport
        if not self.live or transport.get_write_buffer_size() or transport.is_closing():
            transport.write(data)
        else:
            self.send_now(data)

    def send_now(self, data: bytes) -> bool:
        """``send`` ``data`` with nothing queued ahead of it (the caller knows uvloop's buffer is
        empty); what the kernel does not take goes ``behind``. False when the send failed and
        the connection is being aborted."""
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.fail(exc)
            return False
        if sent != len(data):
            self.behind(data, sent)
        return True

    def behind(self, data: bytes, sent: int) -> None:
        """The kernel took ``sent`` bytes of ``data``: queue the rest in uvloop, in order."""
        DirectOut.shorts += 1
        metrics.SHORT_SENDS.inc()
        self.transport.write(data[sent:])

    def fail(self, exc: BaseException) -> None:
        """``sock.send`` raised something other than ``BlockingIOError``: unless released (then the
        connection is already going), the peer is gone, so end the connection."""
        if self.live:
            log.debug("send failed: %r; aborting the connection", exc)
            self.release()
            self.transport.abort()

    def release(self) -> None:
        """From now on only uvloop writes to the descriptor (idempotent)."""
        self.live = False
        fd = self.sock.detach()
        if fd >= 0:
            DirectOut.released.append(fd)
            DirectOut.releases += 1

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())

    def close(self) -> None:
        self.release()
        self.transport.close()

    def abort(self) -> None:
        self.release()
        self.transport.abort()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class UpgradingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, which lets go of its parser once the connection became a
    WebSocket. The parser holds the protocol's callbacks and the protocol holds the parser: a
    reference cycle per connection (about 5 kB with its buffers and events) that only a full
    garbage collection frees, and under the node's GC thresholds those are rare, so a server
    with many reconnecting viewers grew by tens of MB before one came."""

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, exposing itself to the app for direct writes.

    It also drains on shutdown (SIGTERM). uvicorn's own protocol sends close 1012 at once,
    dropping the reply of a command still being handled. Here ``shutdown`` stops reading new
    frames and sends 1012 only once the app is back waiting in ``receive`` with nothing queued:
    every command read before the signal gets its reply first. uvicorn gives connections
    ``timeout_graceful_shutdown`` (``Settings.drain_s``) to get there.
    """

    draining = False
    idle = False  # the app is waiting in receive(), or a detached session has no command running
    #: a Close frame queued in the parser (the echo of the client's Close, or ours after a
    #: protocol error) while commands read before it were still to be answered: it waits for
    #: their replies (``session_idle``), or for ``HELD_CLOSE_GRACE_S``
    held_close: asyncio.TimerHandle | None = None
    broken = False  # a frame broke the protocol: nothing read after it goes to the app
    #: once detached, every receive event goes to this callback instead of the ASGI queue
    deliver: Callable[[dict[str, Any]], None] | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if DirectOut.fits(transport):
            self.transport = DirectOut(transport)  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.held_close is not None:
            self.held_close.cancel()
            self.held_close = None
        try:
            super().connection_lost(exc)
        finally:
            if isinstance(self.transport, DirectOut):
                self.transport.release()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and getattr(self, "request", None) is event:
            scope["extensions"][DIRECT_EXTENSION] = self

    def shutdown(self) -> None:
        if self.held_close is not None:  # a held Close follows the replies, then the end
            self.draining = True
            return
        if not self.handshake_complete or self.close_sent or self.draining:
            super().shutdown()
            return
        self.draining = True
        if not self.read_paused:  # no new commands; the close below reads again
            self.read_paused = True
            self.transport.pause_reading()
        if self.idle and self.queue.empty():
            self._close_for_restart()

    async def receive(self) -> Any:
        if self.draining and self.queue.empty() and not self.close_sent:
            self._close_for_restart()
        self.idle = True
        try:
            return await super().receive()
        finally:
            self.idle = False

    # ------------------------------------------------------------------ detached sessions

    def detach(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Hand the connection to a session that lives on callbacks, so the ASGI task can end.

        An idle viewer then costs no task and no coroutine chain (uvicorn's app task, the
        Starlette middleware and the endpoint all finish): only this protocol object and the
        session's own few objects stay. Incoming frames and the disconnect go to ``deliver``.
        """
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        self.deliver = deliver
        self.queue = _Inbox(deliver)  # type: ignore[assignment]
        self.idle = True
        # What only the handshake and the ASGI task needed: kept, it is most of an idle
        # connection's memory (request and response with their headers, the full scope).
        scope = self.scope
        self.scope = {"type": "websocket", "client": scope.get("client"), "path": scope["path"]}  # type: ignore[typeddict-item]
        self.request = self.response = None  # type: ignore[assignment]
        self.writable = _ALWAYS_WRITABLE
        for message in queued:
            deliver(dict(message))
        if self.draining:  # the drain began while the session joined
            # commands read meanwhile get their replies first: the session's worker then
            # closes with 1012 (``session_idle``); with nothing to do, close now
            if self.idle and not self.close_sent:
                self._close_for_restart()
            return
        if self.read_paused and not self.close_sent and self.held_close is None:
            self.read_paused = False
            self.transport.resume_reading()

    def forget(self) -> None:
        """The detached session is over: let go of it. The session holds this protocol (through
        its link) and this protocol held the session's ``deliver``; with that cycle broken,
        reference counting frees both when the connection goes, with no wait for a full
        garbage collection, which the node's GC thresholds make rare."""
        self.deliver = _ignore
        self.queue = _Inbox(_ignore)  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        """One whole message from the client: to the detached session, or before the session
        detaches, to the ASGI queue (as uvicorn does). Text that is not UTF-8 closes with 1007."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent or self.broken:  # past our Close, or after a frame that broke it
            return
        message: dict[str, Any]
        if self.curr_msg_data_type == "text":
            try:
                message = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                self.broken = True
                if self.conn.state is State.OPEN:  # else a Close is queued already, and held
                    self.conn.send_close(1007, "invalid UTF-8")
                    self.handle_parser_exception()
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        if self.deliver is not None:
            self.deliver(message)
            return
        self.queue.put_nowait(message)  # type: ignore[arg-type]
        if not self.read_paused:  # uvicorn reads on when the app takes it
            self.read_paused = True
            self.transport.pause_reading()

    def hold(self, paused: bool) -> None:
        """Stop or resume reading for a detached session whose commands are piling up."""
        if paused and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        elif (
            not paused
            and self.read_paused
            and not self.draining
            and not self.close_sent
            and self.held_close is None
        ):
            self.read_paused = False
            self.transport.resume_reading()

    def session_idle(self) -> None:
        """A detached session finished its commands: the moment to send a Close held for their
        replies, or on a drain, to send 1012."""
        self.idle = True
        if self.held_close is not None:
            self._send_held_close()
        elif self.draining and not self.close_sent:
            self._close_for_restart()

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        # uvicorn drops the frames read ahead of a bad one; they are commands like any
        self.handle_events()
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()

    def handle_close(self, event: Any) -> None:
        """The client's Close. uvicorn echoes it at once and ends the connection, which drops
        the replies of commands read just before it (in the same packet, say). Commands still to
        answer (queued while the session was joining, or running in a detached session) are
        answered first: the echo, already queued in the parser, is written after their replies.
        Nothing more is read meanwhile."""
        if not self._hold_close():
            super().handle_close(event)

    def handle_parser_exception(self) -> None:
        """A frame broke the protocol (1002, 1007): the parser queued our Close. Commands read
        before it are answered first, as with the client's Close; none after it is taken."""
        self.broken = True
        if self.held_close is not None:  # held already: it goes after the replies
            return
        if not self._hold_close():
            super().handle_parser_exception()

    def _hold_close(self) -> bool:
        """Hold the Close queued in the parser while commands are still to be answered."""
        if self.close_sent or self.held_close is not None or self.transport.is_closing():
            return False
        if self.deliver is None:
            waiting = self.handshake_complete and not self.queue.empty()
        else:
            waiting = not self.idle
        if not waiting:
            return False
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        self.stop_keepalive()  # a ping would flush the queued Close with it
        self.held_close = self.loop.call_later(HELD_CLOSE_GRACE_S, self._send_held_close)
        return True

    def handle_ping(self) -> None:
        # The parser answers a ping at once, but a Close read in the same batch (or ours, after
        # a bad frame) may be queued too: writing the queue here would send it ahead of the
        # replies that ``_hold_close`` lets go first. The pong goes out with the Close instead.
        if self.conn.close_rcvd is None and self.conn.close_sent is None:
            super().handle_ping()

    def _send_held_close(self) -> None:
        timer, self.held_close = self.held_close, None
        if timer is None:
            return
        timer.cancel()
        if self.close_sent or self.transport.is_closing():
            return
        close = self.conn.close_sent or self.conn.close_rcvd  # ours, or the echo of theirs
        code = close.code if close is not None else CloseCode.NORMAL
        reason = close.reason if close is not None else ""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()
        # a client that reads nothing more would keep uvloop's close waiting on its buffer
        self.close_timer = self.loop.call_later(CLOSE_ABORT_S, self.transport.abort)

    async def run_asgi(self) -> None:
        await self._run_app()
        if self.deliver is None and self.held_close is not None:  # refused, say
            self._send_held_close()
        elif self.deliver is None and self.close_timer is None:
            self.transport.close()

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()

    def _close_for_restart(self) -> None:
        DirectLink(self).close(CloseCode.SERVICE_RESTART, "server restart")


class _AlwaysWritable:
    """Stands in for uvicorn's per-connection ``writable`` event once detached: the hub never
    waits for a transport to drain (it checks the buffer size instead)."""

    __slots__ = ()

    def set(self) -> None: ...

    def clear(self) -> None: ...

    def is_set(self) -> bool:
        return True

    async def wait(self) -> bool:
        return True


_ALWAYS_WRITABLE: Any = _AlwaysWritable()


def _ignore(message: dict[str, Any]) -> None:
    """Where a protocol's receive events go once its session is over."""


class _Inbox:
    """Takes the place of uvicorn's receive queue for a detached session."""

    __slots__ = ("deliver",)

    def __init__(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        self.deliver = deliver

    def put_nowait(self, message: dict[str, Any]) -> None:
        self.deliver(message)

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0


class DirectLink:
    """Writes straight to the uvicorn transport of one connection."""

    __slots__ = ("proto", "out")

    def __init__(self, proto: DirectWebSocketProtocol) -> None:
        self.proto = proto
        self.out: Out = proto.transport

    @property
    def open(self) -> bool:
        p = self.proto
        return p.handshake_complete and not p.close_sent and not p.transport.is_closing()

    def send(self, payload: bytes) -> None:
        if self.open:
            self.out.write(ws_text_frame(payload))

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame now, even past a full buffer; drop the link if it never drains."""
        p = self.proto
        if p.close_sent or p.transport.is_closing():
            return
        if p.held_close is not None:  # a Close is queued already (the client's echo, or ours)
            p._send_held_close()
            return
        try:
            p.conn.send_close(code, reason)
            p.transport.write(b"".join(p.conn.data_to_send()))
        except Exception:  # the protocol may already be closing
            log.debug("close frame not sent", exc_info=True)
        p.close_sent = True
        if isinstance(p.transport, DirectOut):  # nothing may follow the Close frame
            p.transport.release()
        p.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if p.read_paused:
            p.read_paused = False
            p.transport.resume_reading()
        p.close_timer = p.loop.call_later(CLOSE_ABORT_S, p.transport.abort)


class AsgiLink:
    """Sends through ASGI ``websocket.send`` from one writer task, behind a bounded queue."""

    __slots__ = ("send_asgi", "queue", "size", "ready", "task", "closed", "out")

    def __init__(self, send_asgi: Any) -> None:
        self.send_asgi = send_asgi
        self.queue: deque[bytes] = deque()
        self.size = 0
        self.ready = asyncio.Event()
        self.closed = False
        self.out: Out = self
        self.task = asyncio.get_running_loop().create_task(self._writer())

    def write(self, wire: bytes) -> None:
        if self.closed:
            return
        payload = ws_payload(wire)
        self.queue.append(payload)
        self.size += len(payload)
        self.ready.set()

    def get_write_buffer_size(self) -> int:
        return self.size

    def send(self, payload: bytes) -> None:
        self.write(ws_text_frame(payload))

    @property
    def open(self) -> bool:
        return not self.closed

    async def _writer(self) -> None:
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                while self.queue:
                    payload = self.queue.popleft()
                    self.size -= len(payload)
                    await self.send_asgi({"type": "websocket.send", "text": payload.decode()})
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True

    def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.task.cancel()

        async def _close() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.send_asgi({"type": "websocket.close", "code": code, "reason": reason}),
                    timeout=2.0,
                )

        asyncio.get_running_loop().create_task(_close())

    def stop(self) -> None:
        self.closed = True
        self.task.cancel()
