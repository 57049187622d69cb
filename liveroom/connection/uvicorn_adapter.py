"""Everything liveroom knows about uvicorn's internals. No other module names them.

``liveroom serve`` plugs two protocol classes into uvicorn (``uvicorn_options``, used by
``liveroom.cli``):

* ``UpgradingHttpProtocol``: uvicorn's httptools protocol, which lets go of its parser once the
  connection became a WebSocket;
* ``DirectWebSocketProtocol``: uvicorn's sans-I/O WebSocket protocol, which hands the app a
  ``Connection`` (``liveroom.connection.connection``) through the ASGI scope extension
  ``DIRECT_EXTENSION``, wraps a uvloop transport in a ``DirectOut`` for the fan-out, and
  implements the ``Wire`` that the connection's rules (a held Close, a drain) drive, and
  closes a client that answers no ping with 4002 (uvicorn's own close is 1011).

uvicorn does not offer these classes for extension: the subclass overrides about a dozen of
its methods and reads and writes its state. So it runs only on the uvicorn versions it was
tested with (``TESTED``). On any other, ``uvicorn_options`` logs one warning and leaves uvicorn
its own protocols: the app then serves every connection on the portable ASGI path
(``liveroom.connection.asgi``), which works the same and costs more CPU per viewer. An app never
fails to start for a uvicorn release.

Why one module of about 540 lines: by design it is the only one that names uvicorn's (and
websockets' sans-I/O) internals, so that an upgrade of either is checked in one place against
``TESTED``; splitting it would spread those names again.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from typing import TYPE_CHECKING, Any

from websockets.protocol import Protocol, State

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets built without its C speedups
    from websockets.utils import apply_mask

from liveroom import metrics
from liveroom.connection.connection import DIRECT_EXTENSION, Connection
from liveroom.connection.keepalive import Sweep
from liveroom.direct_out import DirectOut
from liveroom.errors import CloseCode

log = logging.getLogger("liveroom.transport")

#: the uvicorn releases this module was tested with: 0.52.1 completed the closing handshake with
#: a close timer and added write flow control, both of which the protocol below takes over
TESTED = (">=0.52.1", "<0.55")
#: the websockets releases its sans-I/O parts were tested with: 16.0 gave ``Protocol`` the
#: ``max_message_size`` that the frame splitter reads
WEBSOCKETS_TESTED = (">=16.0", "<18")


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version: "0.54.0" -> (0, 54, 0); "0.55.0rc1" -> (0, 55, 0)."""
    found = re.match(r"\d+(?:\.\d+)*", version)
    if found is None:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in found.group().split("."))


def tested(version: str, bounds: tuple[str, ...] = TESTED) -> bool:
    """Whether uvicorn ``version`` is within ``bounds`` (each ``>=X`` or ``<X``). A pre-release
    counts as its release: 0.55.0rc1 is not below 0.55. A version that says no number is not."""
    try:
        release = _release(version)
    except ValueError:
        return False
    for bound in bounds:
        if bound.startswith(">="):
            if release < _release(bound[2:]):
                return False
        elif bound.startswith("<"):
            if release >= _release(bound[1:]):
                return False
        else:
            raise ValueError(f"a bound is >=X or <X, not {bound!r}")
    return True


def installed(distribution: str = "uvicorn") -> str:
    """An installed distribution's version, from its metadata ("unknown" without)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


TESTED_HERE = tested(installed()) and tested(installed("websockets"), WEBSOCKETS_TESTED)

if TYPE_CHECKING or TESTED_HERE:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.protocols.utils import ClientDisconnected
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
else:  # an untested uvicorn may have moved these: the classes below are never handed to it
    HttpToolsProtocol = WebSocketsSansIOProtocol = object
    ClientDisconnected = OSError


def uvicorn_options() -> dict[str, str]:
    """The ``http`` and ``ws`` options for ``uvicorn.Config``: this module's protocols on a
    tested uvicorn; otherwise none (uvicorn's own, and the app's portable ASGI path), with one
    warning."""
    if not TESTED_HERE:
        log.warning(
            "uvicorn %s with websockets %s is outside the versions liveroom's direct WebSocket "
            "transport was tested with (uvicorn %s, websockets %s): serving on the portable ASGI "
            "path, which costs more CPU per viewer",
            installed(),
            installed("websockets"),
            ",".join(TESTED),
            ",".join(WEBSOCKETS_TESTED),
        )
        return {}
    return {
        "http": f"{__name__}:UpgradingHttpProtocol",
        "ws": f"{__name__}:DirectWebSocketProtocol",
    }


#: ``DirectWebSocketProtocol.framing``: who cuts incoming bytes into frames
_PARSER_ONLY_UNTIL_REQUEST, _REQUEST_READ, _SPLIT, _PARSER_ONLY = 0, 1, 2, 3
_NO_MASK = b"\x00\x00\x00\x00"
#: read once: a member read off an Enum class goes through its metaclass's ``__getattr__`` hook,
#: and ``_split`` compares the state once or twice per client frame
_OPEN = State.OPEN
_INCOMPLETE, _TOO_BIG = -1, -2


def _payload_len(buf: bytes, pos: int) -> int:
    """The payload length in the header of the frame at ``pos`` (whole in ``buf``)."""
    length = buf[pos + 1] & 0x7F
    if length == 126:
        return int.from_bytes(buf[pos + 2 : pos + 4], "big")
    if length == 127:
        return int.from_bytes(buf[pos + 2 : pos + 10], "big")
    return length


def _frame_end(buf: bytes, pos: int, size: int, limit: int | None) -> int:
    """Where the frame at ``pos`` of ``buf[:size]`` ends; ``_INCOMPLETE`` when it is not all
    there yet, ``_TOO_BIG`` when its payload is over ``limit``."""
    if size - pos < 2:
        return _INCOMPLETE
    length = buf[pos + 1] & 0x7F
    head = pos + 2
    if length == 126:
        head += 2
    elif length == 127:
        head += 8
    if head > size:
        return _INCOMPLETE
    if length >= 126:
        length = _payload_len(buf, pos)
    if limit is not None and length > limit:
        return _TOO_BIG
    end = head + (4 if buf[pos + 1] & 0x80 else 0) + length
    return end if end <= size else _INCOMPLETE


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
    """uvicorn's sans-I/O WebSocket protocol, handing the app a ``Connection`` for direct
    writes, and reporting to it what liveroom's rules for the end of a connection need.

    Where it departs from uvicorn's own protocol, each time for the replies of commands read
    before the end: a Close (the client's, or ours after a bad frame) and a shutdown wait for
    them (``Connection.hold_close``, ``Connection.drain``); frames read ahead of a bad one are
    handled (``data_received``); a ping answered while a Close is queued would send the Close
    early (``handle_ping``). Keep-alive pings come from the node's sweep
    (``liveroom.connection.keepalive``), not from two timers per connection, and only to a
    connection the server has not heard from since the last one.
    """

    connection: Connection | None = None  # from the upgrade request on
    broken = False  # a frame broke the protocol: nothing read after it goes to the app
    #: who cuts the incoming bytes into frames (``data_received``): websockets' parser alone
    #: until the first frame after the handshake; from then on ``_split`` (kept per instance
    #: only once it changes)
    framing = _PARSER_ONLY_UNTIL_REQUEST
    partial = b""  # the start of a frame ``_split`` has not had whole yet
    #: the keep-alive sweep's slice holding this connection, while it is pinged
    keepalive: dict[Any, None] | None = None
    #: a message or a ping came from the client since the sweep's last visit (a pong does not
    #: count: it only answers the ping)
    heard = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if DirectOut.fits(transport):
            self.transport = DirectOut(transport)  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        connection = self.connection
        if connection is not None:
            connection.lost()
        try:
            super().connection_lost(exc)  # the disconnect, to the app or the detached session
        finally:
            if isinstance(self.transport, DirectOut):
                self.transport.release()
            # the connection holds this protocol: let go of it, so reference counting frees both
            self.connection = None
            if isinstance(self.queue, _Inbox):
                self.queue = _NOWHERE

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and getattr(self, "request", None) is event:
            self.connection = Connection(self, self.transport)
            scope["extensions"][DIRECT_EXTENSION] = self.connection
            if self.framing == _PARSER_ONLY_UNTIL_REQUEST:
                self.framing = _REQUEST_READ

    def shutdown(self) -> None:
        connection = self.connection
        if connection is None or not connection.drain():
            super().shutdown()

    async def receive(self) -> Any:
        connection = self.connection
        if connection is None:  # the app runs from the upgrade request on: not reached
            return await super().receive()
        connection.app_receiving()
        try:
            return await super().receive()
        finally:
            connection.busy()

    async def run_asgi(self) -> None:
        connection = self.connection  # let go of at connection_lost, maybe while the app runs
        await self._run_app()
        if connection is not None and connection.app_returned():
            return
        if self.close_timer is None:
            self.transport.close()

    async def _run_app(self) -> None:
        # uvicorn's run_asgi, without its ending (``run_asgi`` above)
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

    # ------------------------------------------------------------------ frames in

    def data_received(self, data: bytes) -> None:
        try:
            framing = self.framing
            if framing == _SPLIT:
                self._split(data)
                return
            if framing == _REQUEST_READ:
                # the client may send no frame before our 101 (RFC 6455 §4.1): when the parser
                # is open and holds nothing, it waits at a frame boundary, and ``_split`` can
                # take over
                if self.conn.state is _OPEN and not self.conn.reader.buffer:
                    self.framing = _SPLIT
                    self._split(data)
                    return
                self.framing = _PARSER_ONLY
            self._parse(data)
        except Exception:
            self._broken()

    def _broken(self) -> None:
        """Reading failed inside liveroom or a dependency (an attribute a new release
        dropped, say): the client hears 1011 at once instead of a connection that no longer
        reads, and the log says why."""
        log.exception("reading a WebSocket connection failed; closing it with 1011")
        if self.close_sent or self.transport.is_closing():
            return
        metrics.CLOSES.labels(str(int(CloseCode.INTERNAL_ERROR))).inc()
        try:
            self.conn.fail(CloseCode.INTERNAL_ERROR, "internal error")
            self.transport.write(b"".join(self.conn.data_to_send()))
        except Exception:  # the protocol object itself is what broke
            log.debug("close frame not sent", exc_info=True)
        self.close_sent = True
        self.transport.close()

    def _fresh_parser(self) -> None:
        """Give websockets a frame parser that never held the upgrade request. Its server
        parser is one generator from the request on, and the request (headers and all, about
        2 kB) stays a local of it for the connection's life. Swapped only where the old one
        waits at a frame boundary with nothing read: the upgrade request alone so far, or
        ``_split`` cutting the frames. The new parser starts at the next frame it is given
        (``_FrameParser``): a generator waiting for it would hold about 440 bytes."""
        conn = self.conn
        if (
            self.framing in (_REQUEST_READ, _SPLIT)
            and conn.state is _OPEN
            and not conn.reader.buffer
            and conn.parser_exc is None
        ):
            conn.parser = _FrameParser(conn)  # type: ignore[assignment]

    def _parse(self, data: bytes) -> None:
        """Bytes through websockets' parser, and the events it made."""
        self.conn.receive_data(data)
        # uvicorn drops the frames read ahead of a bad one; they are commands like any
        self.handle_events()
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()

    def _split(self, data: bytes) -> None:
        """Cut ``data`` into whole frames. Once per client frame: the common command (one
        final, masked text frame of a detached session, while the connection is open) goes
        straight to the session. At the first other frame, it and every whole frame after it
        in ``data`` go to websockets' parser as one read, as they would without ``_split``
        (a Close or a protocol error found there is known before a ping among them is
        answered); the parser is only ever given whole frames, so it always waits at a frame
        boundary. A frame that ends the open state (a Close, a broken frame) hands everything
        after it to the parser for good, as does a frame longer than the message limit (the
        parser refuses it)."""
        buf = self.partial + data if self.partial else data
        size = len(buf)
        pos = 0
        conn = self.conn
        limit = conn.max_message_size
        while pos < size:  # (not one more call to find nothing after the last frame)
            # --- a command, the common frame: final, masked, text. Cut here, with no call but the
            # session's; any check that fails leaves it to the general path below
            if size - pos >= 2 and buf[pos] == 0x81 and (length := buf[pos + 1]) >= 0x80:
                if length == 0xFE:  # a 16-bit length
                    mask_at = pos + 4
                    length = (buf[pos + 2] << 8 | buf[pos + 3]) if size >= mask_at else 0
                elif length == 0xFF:  # a 64-bit length
                    mask_at = pos + 10
                    length = int.from_bytes(buf[pos + 2 : mask_at], "big") if size >= mask_at else 0
                else:
                    mask_at = pos + 2
                    length -= 0x80
                end = mask_at + 4 + length
                connection = self.connection
                if limit is not None and length > limit:
                    pass  # refused below (``_TOO_BIG``)
                elif end > size:
                    break  # (the length's own bytes missing make ``end`` pass ``size`` too)
                elif (
                    connection is not None
                    and (on_message := connection.on_message) is not None  # detached
                    and conn.current_size is None
                    # the property's own attribute: ``state`` is a Python-level getter, a call
                    # per frame (websockets keeps ``_state`` in every release of
                    # ``WEBSOCKETS_TESTED``)
                    and conn._state is _OPEN
                    and not self.close_sent
                    and not self.broken
                ):
                    mask = buf[mask_at : mask_at + 4]
                    payload = buf[mask_at + 4 : end]
                    try:
                        text = (apply_mask(payload, mask) if mask != _NO_MASK else payload).decode()
                    except UnicodeDecodeError:
                        # the parser takes it with what follows, as one read: a protocol error
                        # further on is then found first, as it is without ``_split``
                        self._hand_over(buf[pos:])
                        return
                    self.heard = True
                    on_message(text)  # ``Connection.received``, detached
                    pos = end
                    continue
            end = _frame_end(buf, pos, size, limit)
            if end == _INCOMPLETE:
                break
            if end == _TOO_BIG:
                self._hand_over(buf[pos:])
                return
            if (
                buf[pos] == 0x8A  # final pong frame
                and buf[pos + 1] & 0x80  # masked
                and buf[pos + 1] & 0x7F <= 125  # a control frame's limit (else the parser's error)
                and conn.state is _OPEN
                and not self.close_sent
                and not self.broken
            ):
                mask = buf[pos + 2 : pos + 6]
                self._ponged(apply_mask(buf[pos + 6 : end], mask))
                pos = end
                continue
            stop = end
            while (after := _frame_end(buf, stop, size, limit)) >= 0:
                stop = after
            self._parse(buf[pos:stop])
            pos = stop
            if conn.state is not _OPEN or self.broken or conn.parser_exc is not None:
                if conn.parser_exc is None:  # after a failure the parser discards the rest
                    self._hand_over(buf[pos:])
                else:
                    self.framing = _PARSER_ONLY
                    self.partial = b""
                return
            self._fresh_parser()  # it took whole frames: it waits at a frame boundary
        if pos < size:
            self.partial = buf[pos:]
        elif self.partial:
            self.partial = b""  # (written only on a change: see ``_compact``)

    def send_receive_event_to_app(self) -> None:
        """One whole message from the client: to the detached session, or before the session
        detaches, to the ASGI queue (as uvicorn does). Text that is not UTF-8 closes with 1007."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        self.heard = True
        if self.close_sent or self.broken:  # past our Close, or after a frame that broke it
            return
        message: str | bytes = data
        if self.curr_msg_data_type == "text":
            try:
                message = data.decode()
            except UnicodeDecodeError:
                self.broken = True
                if self.conn.state is _OPEN:  # else a Close is queued already, and held
                    self.conn.send_close(1007, "invalid UTF-8")
                    self.handle_parser_exception()
                return
        connection = self.connection
        if connection is not None and connection.received(message):
            return
        if isinstance(message, str):
            self.queue.put_nowait({"type": "websocket.receive", "text": message})
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": message})
        self.stop_reading()  # uvicorn reads on when the app takes it

    def _hand_over(self, rest: bytes) -> None:
        """websockets' parser cuts the frames from here on."""
        self.framing = _PARSER_ONLY
        self.partial = b""
        if rest:
            self._parse(rest)

    def handle_close(self, event: Any) -> None:
        """The client's Close. uvicorn echoes it at once and ends the connection, which drops
        the replies of commands read just before it (in the same packet, say); the connection
        holds the echo, already queued in the parser, for their replies."""
        connection = self.connection
        if connection is None or not connection.hold_close():
            super().handle_close(event)

    def handle_parser_exception(self) -> None:
        """A frame broke the protocol (1002, 1007): the parser queued our Close. Commands read
        before it are answered first, as with the client's Close; none after it is taken."""
        self.broken = True
        connection = self.connection
        if connection is not None and connection.holding:  # held already: after the replies
            return
        if connection is None or not connection.hold_close():
            super().handle_parser_exception()

    def handle_ping(self) -> None:
        # The parser answers a ping at once, but a Close read in the same batch (or ours, after
        # a bad frame) may be queued too: writing the queue here would send it ahead of the
        # replies that a held Close lets go first. The pong goes out with the Close instead.
        self.heard = True
        if self.conn.close_rcvd is None and self.conn.close_sent is None:
            super().handle_ping()

    def handle_pong(self, event: Any) -> None:
        self._ponged(bytes(event.data))

    def _ponged(self, payload: bytes) -> None:
        """A pong: it answers the pending ping only if it carries that ping's payload."""
        if payload == self.pending_ping_payload:
            self.pending_ping_payload = None

    # ------------------------------------------------------------------ keep-alive

    def start_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0 and self.keepalive is None:
            self.keepalive = Sweep.of(self.loop, self.ping_interval).add(self)

    def stop_keepalive(self) -> None:
        where = self.keepalive
        if where is not None:
            self.keepalive = None
            assert self.ping_interval is not None
            Sweep.of(self.loop, self.ping_interval).remove(self, where)
        self.pending_ping_payload = None

    def keepalive_round(self, ping: bytes, payload: bytes, spare: bool) -> None:
        """The sweep's visit, once per ping interval (``keepalive.Sweep``).

        A connection heard from since the last visit needs no ping; one pinged at the last
        visit that has not answered is closed. Any other is pinged, unless the sweep lets this
        visit ``spare`` it (two laps in three) and its peer's TCP acknowledged our frames within
        the last half interval (a viewer in a room with traffic): its machine is there. The
        third lap pings it anyway, so that a client whose kernel acknowledges but whose
        application hangs is still found. (Half an interval: the segment of the pong to the
        last visit's ping, an interval ago, spares nothing; a pong that came late may spare one
        visit, which is harmless.)
        """
        if self.heard:  # alive: no ping needed (attributes written only on a change: _compact)
            self.heard = False
            if self.pending_ping_payload is not None:
                self.pending_ping_payload = None
        elif self.pending_ping_payload is not None:  # pinged an interval ago, no answer
            self.keepalive_timeout()
        elif self.conn.state is _OPEN and not self.close_sent and not self.transport.is_closing():
            transport = self.transport
            if (
                spare
                and type(transport) is DirectOut
                and transport.acked_within(self.half_interval_ms)
            ):
                return
            self.pending_ping_payload = payload
            transport.write(ping)

    @property
    def half_interval_ms(self) -> int:
        return int((self.ping_interval or 0) * 500)

    def keepalive_timeout(self) -> None:
        # uvicorn fails the connection with 1011, "internal error", which tells the client the
        # server broke; the client's silence is what happened, and 4002 says so.
        self.stop_keepalive()
        if self.close_sent or self.transport.is_closing():
            return
        metrics.CLOSES.labels(str(int(CloseCode.PING_TIMEOUT))).inc()
        self.conn.fail(CloseCode.PING_TIMEOUT, "ping timeout")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    # ------------------------------------------------------------------ the Wire

    def is_open(self) -> bool:
        return self.handshake_complete and not self.close_sent and not self.transport.is_closing()

    def upgraded(self) -> bool:
        return self.handshake_complete

    def sent_close(self) -> bool:
        return self.close_sent

    def has_unread(self) -> bool:
        return not self.queue.empty()

    def stop_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def start_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def stop_pings(self) -> None:
        self.stop_keepalive()

    def send_close(self, code: int, reason: str) -> None:
        try:
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
        except Exception:  # the protocol may already be closing
            log.debug("close frame not sent", exc_info=True)
        self.close_sent = True

    def expect_close(self, abort_after: float) -> None:
        self.start_reading()
        self.close_timer = self.loop.call_later(abort_after, self.transport.abort)

    def queued_close(self) -> tuple[int, str]:
        close = self.conn.close_sent or self.conn.close_rcvd  # ours, or the echo of theirs
        if close is None:
            return CloseCode.NORMAL, ""
        return close.code, close.reason

    def flush_close(self, abort_after: float) -> None:
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()
        self.close_timer = self.loop.call_later(abort_after, self.transport.abort)

    def disconnect(self, code: int, reason: str) -> None:
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})

    def take_over(self, connection: Connection) -> None:
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        # once the connection is lost (while the session joined), nothing more comes in
        lost = self.connection is not connection
        self.queue = _NOWHERE if lost else _Inbox(connection)  # type: ignore[assignment]
        # What only the handshake and the ASGI task needed: kept, it is most of an idle
        # connection's memory (request and response with their headers, the full scope).
        scope = self.scope
        self.scope = {"type": "websocket", "client": scope.get("client"), "path": scope["path"]}  # type: ignore[typeddict-item]
        self.request = self.response = None  # type: ignore[assignment]
        self.writable = _ALWAYS_WRITABLE
        self._fresh_parser()
        _compact(self)
        for message in queued:
            _route(connection, dict(message))


class _FrameParser:
    """websockets' frame parser (``Protocol.parse``), started only when it is first advanced.

    websockets advances ``Protocol.parser`` with ``next()`` after feeding its reader, and
    replaces it when the connection closes or fails. A parser waiting at a frame boundary and
    a fresh one do the same on their next ``next()``: read whatever is buffered, from the start
    of a frame. Until then, an idle connection holds this instead of a generator."""

    __slots__ = ("conn",)

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __iter__(self) -> _FrameParser:
        return self

    def __next__(self) -> Any:
        conn = self.conn
        parser = conn.parser = Protocol.parse(conn)
        return next(parser)


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


class _Inbox:
    """Takes the place of uvicorn's receive queue once detached: every message, uvicorn's own
    disconnects included, goes to the connection."""

    __slots__ = ("connection",)

    def __init__(self, connection: Connection | None) -> None:
        self.connection = connection

    def put_nowait(self, message: dict[str, Any]) -> None:
        if self.connection is not None:
            _route(self.connection, message)

    def empty(self) -> bool:
        return True

    def qsize(self) -> int:
        return 0


_NOWHERE = _Inbox(None)  # a connection's inbox once the connection is lost


def _route(connection: Connection, message: dict[str, Any]) -> None:
    """An ASGI receive event, to the detached connection."""
    if message["type"] == "websocket.disconnect":
        connection.ended()
        return
    data = message.get("text")
    connection.received(data if data is not None else (message.get("bytes") or b""))


#: uvicorn's per-connection attributes that hold one server's values, the same for all of its
#: connections: by identity, then by equality (``_compact``)
_SERVER_WIDE = ("config", "app", "loop", "logger", "app_state", "connections", "tasks")
_SERVER_EQUAL = (
    "root_path",
    "asgi_version",
    "ping_interval",
    "ping_timeout",
    "close_timeout",
    "server",
)
#: read by the handshake alone (the response's headers, with their date): the class keeps the
#: first connection's
_HANDSHAKE_ONLY = ("default_headers",)
#: per-connection attributes and the value they keep from the handshake on, unless something
#: happens to the connection (a close, a paused read, a ping in flight, a binary message)
_SETTLED: dict[str, Any] = {
    "handshake_initiated": True,
    "handshake_complete": True,
    "close_sent": False,
    "disconnected": False,
    "close_timer": None,
    "initial_response": None,
    "read_paused": False,
    "ping_timer": None,
    "pong_timer": None,
    "pending_ping_payload": None,
    "ping_sent_at": 0.0,
    "last_ping_rtt": 0.0,
    "curr_msg_data_type": "bytes",
    "request": None,
    "response": None,
    "scheme": "ws",
    "writable": _ALWAYS_WRITABLE,
    "keepalive": None,
    "heard": False,
    "framing": _SPLIT,
    "partial": b"",
}
_NONE: tuple[Any, ...] = ()
#: the classes ``_compact`` made, newest last: one per server, a few at most in a process
_SERVER_CLASSES: list[type[DirectWebSocketProtocol]] = []


def _compact(protocol: DirectWebSocketProtocol) -> None:
    """Shrink a detached connection's protocol object to what differs between connections.

    uvicorn keeps about 40 attributes per connection, in an instance dict of 1.6 kB: a fifth
    of an idle viewer's memory. Those that hold the server's values move to a subclass made
    once per server (and shared by its connections), those at their settled value are read
    from that class as long as they keep it (an assignment puts one back on the instance), and
    the instance gets a dict sized for the rest. A value is only moved when it is the class's
    own (the same object, or an equal one), so no connection ever reads another's."""
    state = protocol.__dict__
    base = type(protocol)
    server = next(
        (
            c
            for c in reversed(_SERVER_CLASSES)
            if c.__bases__[0] is base
            and all(getattr(c, name) is state.get(name) for name in _SERVER_WIDE)
        ),
        None,
    )
    if server is None:
        server_wide = (*_SERVER_WIDE, *_SERVER_EQUAL, *_HANDSHAKE_ONLY)
        if any(name not in state for name in server_wide):
            return  # not the uvicorn this was tested with: leave it as it is
        shared = {name: state[name] for name in server_wide}
        server = type(base.__name__, (base,), {**_SETTLED, **shared, "__module__": __name__})
        _SERVER_CLASSES.append(server)
        del _SERVER_CLASSES[:-4]
    kept: dict[str, Any] = {}
    for name, value in state.items():
        if name in _SERVER_WIDE or name in _HANDSHAKE_ONLY:
            continue
        if name in _SERVER_EQUAL or name in _SETTLED:
            usual = getattr(server, name)
            if value is usual or (type(value) is type(usual) and value == usual):
                continue
        kept[name] = value
    protocol.__class__ = server
    protocol.__dict__ = kept  # made one entry at a time: sized for what is left
    conn = protocol.conn
    # websockets' UUID for the connection (100 bytes): nothing reads it
    conn.id = None  # type: ignore[assignment]
    # the extensions, negotiated (none offered): read from here on, never written
    if not conn.extensions:
        conn.extensions = _NONE  # type: ignore[assignment]
    if not conn.available_extensions:
        conn.available_extensions = _NONE
