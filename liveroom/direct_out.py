"""``DirectOut``: every write of one uvloop TCP connection, room frames straight to ``send``."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import Any, Protocol

from liveroom import metrics

log = logging.getLogger("liveroom.transport")

#: Linux's ``struct tcp_info``: eight one-byte fields, nine 32-bit ones, then four times in
#: milliseconds, of which ``tcpi_last_ack_recv`` (the time since the last ACK came in) is the
#: fourth; ``TCP_INFO`` is None where the platform has none
TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)
_LAST_ACK_RECV = 8 + 9 * 4 + 3 * 4
_TCP_INFO_LEN = _LAST_ACK_RECV + 4


class Out(Protocol):
    """Where the fan-out writes a viewer's frames: whole WebSocket frames, in order."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...


class Owner(Protocol):
    """The fan-out a ``DirectOut``'s viewer is in: its room's ``liveroom.fanout.SendList``."""

    def blank(self, out: DirectOut) -> bool:
        """Skip ``out``'s slot in the send loop from now on; False when it holds none."""
        ...

    def stale(self) -> None:
        """The lists no longer match what the sockets hold: check every buffer next time."""
        ...


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
    loadtest.sendfloor --server send`` against ``--server raw``). The fan-out sends frames with
    it. It is safe only while uvloop's buffer is empty, else a frame would overtake bytes queued
    before it. So every write of the connection, the server's own included, comes through here
    (the protocol's ``transport`` is replaced by this object), and uvloop's buffer only fills
    when the kernel refused bytes: each time (``behind``), the send list of the room this
    connection's viewer is in (``owner``) is told, and its next flush checks every viewer's
    buffer before it calls ``send`` directly again.

    ``sock`` is a socket object on uvloop's descriptor; its ``send`` returns the bytes taken.
    ``release`` detaches it from the descriptor: on ``close``/``abort`` (so no frame follows a Close
    frame, and uvloop alone finishes the connection, as without this class) and in the
    protocol's ``connection_lost``, which uvloop calls before it closes the descriptor. From then
    on ``sock.send`` fails with ``EBADF`` rather than reach a number another connection may get,
    and ``write`` goes through uvloop. The room's send loop holds bare descriptor numbers, so a
    release also blanks this socket's own slot, through the handle the send list gave it when
    its viewer joined (``owner``), before uvloop can close the number and hand it on. A send
    that fails any other way (reset, broken pipe) aborts the transport, as uvloop does when its
    own write fails.
    """

    __slots__ = ("transport", "sock", "get_write_buffer_size", "live", "owner")

    def __init__(self, transport: Any) -> None:
        pseudo = transport.get_extra_info("socket")
        self.sock: socket.socket = _SharedSocket(pseudo.family, pseudo.type, 0, pseudo.fileno())
        self.sock.setblocking(False)
        self.transport = transport
        self.live = True
        self.get_write_buffer_size: Callable[[], int] = transport.get_write_buffer_size
        #: the send list of the room this connection's viewer is in, set by that list
        self.owner: Owner | None = None

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
        """The kernel took ``sent`` bytes of ``data``: queue the rest in uvloop, in order, and
        tell the send list holding this socket that its next flush must check buffers."""
        metrics.SHORT_SENDS.inc()
        owner = self.owner
        if owner is not None:
            owner.stale()
        self.transport.write(data[sent:])

    def fail(self, exc: BaseException) -> None:
        """``sock.send`` raised something other than ``BlockingIOError``: unless released (then the
        connection is already going), the peer is gone, so end the connection."""
        if self.live:
            log.debug("send failed: %r; aborting the connection", exc)
            self.release()
            self.transport.abort()

    def release(self) -> None:
        """From now on only uvloop writes to the descriptor (idempotent). The send list holding
        the descriptor's number blanks it now, before uvloop may close it and reuse the number."""
        self.live = False
        self.sock.detach()
        if self.owner is not None:
            self.owner.blank(self)

    def acked_within(self, ms: int) -> bool:
        """Whether the peer's TCP acknowledged something in the last ``ms`` milliseconds
        (``TCP_INFO``'s ``tcpi_last_ack_recv``): its machine is there and reading the network.
        False when the kernel cannot tell, or the socket is released."""
        if not self.live or TCP_INFO is None:
            return False
        try:
            info = self.sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, _TCP_INFO_LEN)
        except OSError:
            return False
        if len(info) < _TCP_INFO_LEN:
            return False
        return int.from_bytes(info[_LAST_ACK_RECV:_TCP_INFO_LEN], sys.byteorder) < ms

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def is_closing(self) -> bool:
        # a method, not uvloop's bound to a slot as ``get_write_buffer_size`` is: that would
        # cost every idle connection a bound-method object (about 70 bytes) to save a call
        # per reply
        return self.transport.is_closing()  # (uvloop's answers a bool)

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
