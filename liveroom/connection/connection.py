"""``Connection``: one WebSocket under ``liveroom serve``, as liveroom sees it.

The server's WebSocket protocol object (``uvicorn_adapter.DirectWebSocketProtocol``) parses
frames and owns the socket; it hands this facade to the app through the ASGI scope extension
``DIRECT_EXTENSION``. The facade is all that the handshake, the session and the hub touch:

* ``send(payload)``: a private frame; ``out``: where the room's frames go (``DirectOut``);
* ``detach(on_message, on_end)``: from now on messages arrive as callbacks, and the ASGI task
  may end, so an idle viewer costs no task;
* ``pause()``/``resume()``: stop reading while the session's commands pile up;
* ``busy()``/``settle()``: the session's commands started, or all got their replies;
* ``close(code, reason)``: the one way liveroom ends a connection.

It also holds liveroom's rules for the end of a connection, which the protocol object only
reports to it (``hold_close``, ``drain``, ``app_receiving``, ``app_returned``, ``lost``):

* **A held Close.** A Close (the client's, or ours after a frame that broke the protocol) is
  written only after the replies of the commands read before it, or after
  ``HELD_CLOSE_GRACE_S``; nothing more is read meanwhile.
* **A drain** (SIGTERM): no new commands are read; close 1012 goes out once every command read
  before the signal has its reply.

What it needs of the protocol object is the ``Wire`` protocol below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from liveroom.direct_out import DirectOut
from liveroom.errors import CloseCode
from liveroom.protocol import ws_text_frame

log = logging.getLogger("liveroom.transport")

#: the ASGI scope extension that carries a connection's ``Connection`` to the app
DIRECT_EXTENSION = "liveroom.direct"
#: how long a Close (the client's, or ours after a bad frame) may wait for the replies of the
#: commands read before it
HELD_CLOSE_GRACE_S = 5.0
#: after our Close frame, how long a client that reads nothing more keeps the connection
CLOSE_ABORT_S = 2.0

Message = str | bytes


class Wire(Protocol):
    """The server's WebSocket protocol under one ``Connection``: the state and the steps the
    connection's rules need (``uvicorn_adapter.DirectWebSocketProtocol`` implements it)."""

    def is_open(self) -> bool:
        """Upgraded, no Close of ours out, the transport not closing: a frame may be sent."""
        ...

    def upgraded(self) -> bool:
        """The opening handshake is complete."""
        ...

    def sent_close(self) -> bool:
        """Our Close frame went out (or the server ended the connection its own way)."""
        ...

    def has_unread(self) -> bool:
        """Messages wait in the server's queue for the ASGI app (before ``detach``)."""
        ...

    def stop_reading(self) -> None:
        """Read nothing more from the socket until ``start_reading`` (idempotent)."""
        ...

    def start_reading(self) -> None:
        """Read from the socket again (idempotent)."""
        ...

    def stop_pings(self) -> None:
        """No more keepalive pings: one would flush a queued Close with it."""
        ...

    def send_close(self, code: int, reason: str) -> None:
        """Write our Close frame now, even past a full buffer; it counts as sent."""
        ...

    def expect_close(self, abort_after: float) -> None:
        """Read on for the client's Close; abort the connection if it has not come in time."""
        ...

    def queued_close(self) -> tuple[int, str]:
        """Code and reason of the Close the parser holds: ours, or the echo of the client's."""
        ...

    def flush_close(self, abort_after: float) -> None:
        """Write the Close the parser holds, end the transport; abort if it will not drain."""
        ...

    def disconnect(self, code: int, reason: str) -> None:
        """Tell whoever reads the connection (the ASGI app, or once detached, this
        ``Connection``'s ``ended``) that it is over."""
        ...

    def take_over(self, connection: Connection) -> None:
        """``detach``: what the ASGI app did not read goes to ``connection`` (``received``,
        ``ended``), and so does everything after; the handshake's state may go."""
        ...


def _ignore(data: Message) -> None:
    """Where a connection's messages go once its session is over."""


class Connection:
    """One WebSocket under ``liveroom serve`` (see the module doc): the facade the app uses,
    and liveroom's rules for a Close that must wait and for a drain."""

    __slots__ = ("wire", "out", "on_message", "on_end", "idle", "draining", "held", "handing_over")

    def __init__(self, wire: Wire, out: Any) -> None:
        self.wire = wire
        #: where the room's frames go: a ``DirectOut``, or the transport itself (TLS, say)
        self.out = out
        #: the detached session's callbacks; None until ``detach``
        self.on_message: Callable[[Message], None] | None = None
        self.on_end: Callable[[], None] | None = None
        #: no command is running: the app waits in receive(), or the detached session has
        #: nothing left to do
        self.idle = False
        self.draining = False  # the server is shutting down: 1012 once the commands are answered
        #: a Close queued in the parser (the echo of the client's Close, or ours after a
        #: protocol error) while commands read before it were still to be answered: it waits for
        #: their replies (``settle``), or for ``HELD_CLOSE_GRACE_S``
        self.held: asyncio.TimerHandle | None = None
        #: ``detach`` hands the session the messages read before it: a command answered in
        #: place meanwhile must not let a held Close (or a drain's 1012) out ahead of the rest
        self.handing_over = False

    # ------------------------------------------------------------------ the app's side

    def send(self, payload: bytes) -> None:
        """Frame ``payload`` and send it to this connection alone (reply, snapshot, notice),
        unless the connection is closing."""
        if self.wire.is_open():
            self.out.write(ws_text_frame(payload))

    def close(self, code: int, reason: str = "") -> None:
        """End the connection: a Close frame now, even past a full buffer, then nothing more
        is sent; the client's reply is read, and the connection aborted if it never comes.
        A Close already held for replies goes out instead. Idempotent."""
        wire = self.wire
        if wire.sent_close() or self.out.is_closing():
            return
        if self.held is not None:  # a Close is queued already (the client's echo, or ours)
            self._send_held()
            return
        wire.send_close(code, reason)
        if isinstance(self.out, DirectOut):  # nothing may follow the Close frame
            self.out.release()
        wire.disconnect(code, reason)
        wire.expect_close(CLOSE_ABORT_S)

    def detach(self, on_message: Callable[[Message], None], on_end: Callable[[], None]) -> None:
        """Hand the connection to a session that lives on callbacks, so the ASGI task can end.

        An idle viewer then costs no task and no coroutine chain (the server's app task, the
        Starlette middleware and the endpoint all finish): only the protocol object, this facade
        and the session's own few objects stay. Every message the app has not read, and every
        later one, goes to ``on_message``; the end of the connection to ``on_end``, once.
        """
        self.on_message, self.on_end = on_message, on_end
        self.idle = True
        self.handing_over = True
        try:
            self.wire.take_over(self)
        finally:
            self.handing_over = False
        if self.idle and self.held is not None:  # all answered in place: the Close goes now
            self._send_held()
        if self.draining:  # the drain began while the session joined
            # commands read meanwhile get their replies first: the session then settles and
            # closes with 1012 (``settle``); with nothing to do, close now
            if self.idle and not self.wire.sent_close():
                self._close_for_restart()
            return
        self.resume()

    def forget(self) -> None:
        """The session is over: let go of it. The session holds this connection (through its
        viewer) and this connection held the session's callbacks; with that cycle broken,
        reference counting frees both when the connection goes, with no wait for a full
        garbage collection, which the node's GC thresholds make rare."""
        if self.on_message is not None:
            self.on_message, self.on_end = _ignore, None

    def pause(self) -> None:
        """Stop reading: the detached session's commands are piling up."""
        self.wire.stop_reading()

    def resume(self) -> None:
        """Read again, unless draining or closing (then reading stays as the end needs it)."""
        wire = self.wire
        if not self.draining and self.held is None and not wire.sent_close():
            wire.start_reading()

    def busy(self) -> None:
        """A command is running (the detached session's worker started, or the ASGI app got a
        message): a Close or a drain waits for ``settle``."""
        self.idle = False

    def settle(self) -> None:
        """The detached session finished its commands: the moment to send a Close held for
        their replies, or on a drain, to send 1012."""
        self.idle = True
        if self.handing_over:  # ``detach`` goes on with what it hands over, then looks
            return
        if self.held is not None:
            self._send_held()
        elif self.draining and not self.wire.sent_close():
            self._close_for_restart()

    # ------------------------------------------------------------------ the server's side

    def received(self, data: Message) -> bool:
        """A whole message from the client. False before ``detach``: the ASGI app reads it
        from the server's queue."""
        on_message = self.on_message
        if on_message is None:
            return False
        on_message(data)
        return True

    def ended(self) -> None:
        """The connection is over (closed either way, or lost): tell the detached session,
        once, and let go of it."""
        on_end = self.on_end
        if on_end is not None:
            self.forget()
            on_end()

    def hold_close(self) -> bool:
        """A Close is queued in the parser (the client's, to echo; or ours after a frame that
        broke the protocol). While commands read before it are still to be answered, hold it:
        read nothing more, and write it after their replies (``settle``), or after
        ``HELD_CLOSE_GRACE_S``. False when nothing waits: the server goes on with the Close."""
        wire = self.wire
        if wire.sent_close() or self.held is not None or self.out.is_closing():
            return False
        if self.on_message is None:
            waiting = wire.upgraded() and wire.has_unread()
        else:
            waiting = not self.idle
        if not waiting:
            return False
        wire.stop_reading()
        wire.stop_pings()  # a ping would flush the queued Close with it
        loop = asyncio.get_running_loop()
        self.held = loop.call_later(HELD_CLOSE_GRACE_S, self._send_held)
        return True

    @property
    def holding(self) -> bool:
        """A Close waits for replies (``hold_close``)."""
        return self.held is not None

    def drain(self) -> bool:
        """The server is shutting down (SIGTERM). uvicorn's own protocol sends close 1012 at
        once, dropping the reply of a command still being handled. Here reading stops, and 1012
        goes out only once the app has no command queued or running: every command read before
        the signal gets its reply first (uvicorn gives connections ``timeout_graceful_shutdown``,
        ``Settings.drain_s``, to get there). False when the server should end the connection
        its own way now (no handshake yet, or our Close is out)."""
        if self.held is not None:  # a held Close follows the replies, then the end
            self.draining = True
            return True
        wire = self.wire
        if not wire.upgraded() or wire.sent_close() or self.draining:
            return False
        self.draining = True
        wire.stop_reading()  # no new commands; the close reads again
        if self.idle and not wire.has_unread():
            self._close_for_restart()
        return True

    def app_receiving(self) -> None:
        """The ASGI app waits for a message (before ``detach``): on a drain with nothing
        queued, the moment for 1012."""
        wire = self.wire
        if self.draining and not wire.has_unread() and not wire.sent_close():
            self._close_for_restart()
        self.idle = True

    def app_returned(self) -> bool:
        """The ASGI app returned. True when the connection is not done: it lives on in a
        detached session, or a Close held for the app's replies goes out now (a refusal, say).
        False: the server ends it."""
        if self.on_message is not None:
            return True
        if self.held is not None:
            self._send_held()
            return True
        return False

    def lost(self) -> None:
        """The socket is gone: a held Close has nothing left to wait for."""
        if self.held is not None:
            self.held.cancel()
            self.held = None

    def _send_held(self) -> None:
        timer, self.held = self.held, None
        if timer is None:
            return
        timer.cancel()
        wire = self.wire
        if wire.sent_close() or self.out.is_closing():
            return
        code, reason = wire.queued_close()
        wire.disconnect(code, reason)
        # a client that reads nothing more would keep uvloop's close waiting on its buffer
        wire.flush_close(CLOSE_ABORT_S)

    def _close_for_restart(self) -> None:
        self.close(CloseCode.SERVICE_RESTART, "server restart")
