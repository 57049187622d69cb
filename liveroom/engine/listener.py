"""The node's pub/sub connection, read where its bytes arrive.

redis-py's pub/sub reads through an asyncio stream: every read wakes the listening task, which
goes down redis-py's ``read_response`` and its parser to reach hiredis. In the platform mix a
room event mostly arrives alone (2,000 small rooms post a comment each every 5 s), so each event
paid a whole wake-up and coroutine chain: about 75 µs of node CPU a message against 31 µs read
in the protocol (BENCHMARKS.md, "Session 38"). Every comment is such a message on every node
holding its room.

A ``ListenerProtocol`` is a connection of the node's own, made and set up as the script lane's
(``lane.connect``: the pool's address, password, database and client name). Its bytes go to
hiredis in ``data_received``, and each reply is dealt with there:

- a room event (``message``) goes to ``on_message(channel, payload)``, at once;
- a subscription's confirmation (``subscribe``, ``unsubscribe``) goes to
  ``on_confirmed(kind, channel, count)``;
- any other reply answers the oldest call waiting, as on a lane (the handshake, a ``PING``).

``SUBSCRIBE`` and ``UNSUBSCRIBE`` are written without waiting for a reply
(``LaneProtocol.write``): their confirmations are what the engine waits on. A lost connection
fails the calls still waiting and resolves ``done``; the engine connects again and resubscribes
every room.

The engine reads through redis-py's pub/sub where the lane cannot go (``lane.plain_packer``):
TLS, Sentinel and the other connection classes.

**Held for the tick.** A room event goes to viewers at the hub's next tick, so reading it the
moment it arrives buys nothing but a wake-up: in the platform mix, one per comment on every node
holding its room (BENCHMARKS.md, "Session 42"). So the engine may ``hold`` the connection between
ticks: the event loop stops watching its socket, the bytes wait in the kernel, and the hub's
tick reads them all in one go (``drain``) right before it flushes. Whatever cannot wait a tick
(an event sent at once, a private notice, a confirmation someone awaits) ``release``s it: it is
read as it arrives again until the next tick holds it. The engine decides when (``RedisEngine``,
"bells"); a connection lost while held is found at the next ``drain``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

from liveroom.engine.lane import _MORE, _PUSH, LaneProtocol, connect, where

log = logging.getLogger("liveroom.engine")

#: a room event's channel and payload
OnMessage = Callable[[bytes, bytes], None]
#: ``subscribe`` or ``unsubscribe``, the channel, how many channels the connection now has
OnConfirmed = Callable[[bytes, bytes, int], None]

_CONFIRMS = (b"subscribe", b"unsubscribe")
#: the most a ``drain`` reads in one go; more than that waiting (a node far behind) is read as
#: it comes, by the event loop, until the next tick holds the connection again
DRAIN_READS = 16
DRAIN_CHUNK = 256 * 1024


class ListenerProtocol(LaneProtocol):
    """The pub/sub connection: room events and confirmations to the engine, other replies to
    their callers."""

    def __init__(
        self, timeout: float | None, where: str, on_message: OnMessage, on_confirmed: OnConfirmed
    ) -> None:
        super().__init__(timeout, where)
        self._on_message = on_message
        self._on_confirmed = on_confirmed
        #: resolved once the connection is lost (``fail``), with nothing
        self.done = self._loop.create_future()
        #: the event loop is not watching the socket: its bytes wait for ``drain``
        self.held = False
        self._fd = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else -1
        if self._fd >= 0:
            os.set_blocking(self._fd, False)  # as the event loop keeps it: ``drain`` never waits

    def hold(self) -> None:
        """Stop reading as bytes arrive; ``drain`` reads them. Not while a reply is awaited."""
        transport = self._transport
        if (
            self.held
            or self._waiting
            or self._fd < 0
            or transport is None
            or transport.is_closing()
        ):
            return
        transport.pause_reading()
        self.held = True

    def release(self) -> None:
        """Read as bytes arrive again (until the next ``hold``)."""
        if not self.held:
            return
        self.held = False
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def drain(self) -> bool:
        """Read what the kernel holds for a held connection now, and deal with it as
        ``data_received`` does. False when it stopped at ``DRAIN_READS`` with more waiting:
        the connection is then read as bytes come, and must not be held again before the next
        tick. The socket is read only while the transport is open (it owns the descriptor): a
        closing transport may have given it back already."""
        if not self.held:
            return True
        for _ in range(DRAIN_READS):
            transport = self._transport
            if self.lost is not None or transport is None or transport.is_closing():
                return True
            try:
                data = os.read(self._fd, DRAIN_CHUNK)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as exc:
                self.fail(RedisConnectionError(f"Error while reading from {self._where}: {exc}"))
                return True
            if not data:
                self.fail(RedisConnectionError(f"Connection closed by {self._where}."))
                return True
            try:
                self.data_received(data)
            except Exception as exc:  # as the event loop's read would: the connection goes
                log.exception("a held pub/sub read failed")
                self.fail(RedisConnectionError(f"Error while reading from {self._where}: {exc}"))
                return True
        self.release()  # still more: let the event loop read the rest as it comes
        return False

    def send(self, chunks: list[bytes | memoryview], count: int) -> asyncio.Future[list[Any]]:
        self.release()  # its replies are awaited: read them as they come
        return super().send(chunks, count)

    def data_received(self, data: bytes) -> None:
        if self.lost is not None:
            return
        reader = self._reader
        reader.feed(data)
        on_message = self._on_message
        try:
            while (reply := reader.gets()) is not _MORE:
                # a list on RESP2, hiredis's PushNotification (a list) on RESP3
                if isinstance(reply, list):
                    kind = reply[0] if reply else None
                    if kind == b"message" and len(reply) == 3:
                        try:
                            on_message(reply[1], reply[2])
                        except Exception:  # one room's failure stops no other room's events
                            log.exception("a room event's handler failed")
                        continue
                    if kind in _CONFIRMS and len(reply) == 3:
                        self._on_confirmed(kind, reply[1], reply[2])
                        continue
                    if isinstance(reply, _PUSH):
                        continue  # a push this connection did not ask for
                if not self.answer(reply):
                    return
        except InvalidResponse as exc:
            self.fail(RedisConnectionError(f"Protocol error from {self._where}: {exc}"))

    def fail(self, error: Exception) -> None:
        super().fail(error)
        if not self.done.done():
            self.done.set_result(None)


class Listener:
    """Makes the engine's pub/sub connections to the pool's Redis (``open``)."""

    def __init__(self, packer: Any, on_message: OnMessage, on_confirmed: OnConfirmed) -> None:
        self._packer = packer
        self._on_message = on_message
        self._on_confirmed = on_confirmed
        self.where = where(packer)

    async def open(self) -> ListenerProtocol:
        """A new pub/sub connection, set up and subscribed to nothing yet."""
        packer = self._packer
        timeout = packer.socket_timeout
        return await connect(
            packer,
            lambda: ListenerProtocol(timeout, self.where, self._on_message, self._on_confirmed),
        )

    def pack(self, *command: Any) -> list[bytes | memoryview]:
        """``command`` as bytes for ``LaneProtocol.write``."""
        chunks: list[bytes | memoryview] = self._packer.pack_command(*command)
        return chunks
