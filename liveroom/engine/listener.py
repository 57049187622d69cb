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
"""

from __future__ import annotations

import logging
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
