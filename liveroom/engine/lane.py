"""One connection for a node's script pipelines, its replies handed to the callers in order.

Each script pipeline (``scripts.py``) used to take a connection from redis-py's pool and give
it back: the pool's lock and timeout, its health check, its observability hooks and the
release's event dispatch, once a pipeline, and a coroutine step for each reply read. With a
pipeline a comment, that was a quarter of the pipelines' CPU in the platform mix
(BENCHMARKS.md, "Session 36"). A ``Lane`` is one long-lived connection of its own instead. A
pipeline is written at once; its replies are the next ones Redis sends on the connection (Redis
answers a connection's commands in the order they came), parsed by hiredis as the bytes arrive,
in the protocol's ``data_received``: no task and no await a reply.

The lane speaks what the pool's connections speak (RESP2 or RESP3, the same database, password
and client name) and fails as redis-py fails, so to ``Scripts`` the two are alike:

- a command Redis refused is its ``ResponseError`` (``NoScriptError``, ...) in its place, except
  the refusals redis-py raises as a lost connection (``LOADING``, ``NOAUTH``, too many
  clients): those fail the lane as a lost connection does;
- a lost connection fails every pipeline waiting on it with redis-py's ``ConnectionError``:
  each may have run, or not, and ``Scripts`` decides what is sent again. The next pipeline
  connects again;
- no reply within the socket timeout, counted from the oldest pipeline still waiting, closes
  the connection and fails every pipeline on it with redis-py's ``TimeoutError``: a reply that
  came after that would answer the wrong caller.

A caller cancelled while it waits leaves its pipeline on the lane: its replies are read and
dropped, never handed to the next caller. While the connection's write buffer is over its
high-water mark (Redis reads slower than the node writes), a pipeline waits for it to drain
before it waits for its replies. Without a socket timeout there is no deadline, as with
redis-py's own connections.

The lane makes only what redis-py's plain TCP and Unix-socket connections make (``Lane.of``):
TLS, Sentinel-managed and other connection classes, a credential provider, a connect callback
and replies decoded to text stay on the pool. It does not send redis-py's ``CLIENT SETINFO``
(a label in ``CLIENT LIST``), nor fall back from ``AUTH user pass`` to ``AUTH pass`` for a
Redis older than 6.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse
from redis.exceptions import TimeoutError as RedisTimeoutError

from liveroom.engine.packing import FastPacking

#: what hiredis's ``gets`` answers while a reply is incomplete (RESP3's false is ``False``)
_MORE = object()
#: a RESP3 push message (none is asked for; skipped should Redis send one); hiredis >= 3.2
_PUSH: Any = getattr(hiredis, "PushNotification", ())


def closed(where: str) -> RedisConnectionError:
    """What a call on a lane's closed connection raises: a lost connection, to ``Scripts``."""
    return RedisConnectionError(f"Connection to {where} closed")


class _Waiting:
    """One pipeline on the lane: how many replies it is owed, those read so far, its caller's
    future, and when (on the loop's clock) its replies are overdue."""

    __slots__ = ("count", "deadline", "future", "replies")

    def __init__(self, count: int, future: asyncio.Future[list[Any]], deadline: float) -> None:
        self.count = count
        self.replies: list[Any] = []
        self.future = future
        self.deadline = deadline


class LaneProtocol(asyncio.Protocol):
    """The lane's connection: writes pipelines, matches replies to them in order."""

    def __init__(self, timeout: float | None, where: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_MORE,
        )
        self._waiting: deque[_Waiting] = deque()
        self._transport: asyncio.Transport | None = None
        self._timeout = timeout or None
        self._where = where
        self._watch: asyncio.TimerHandle | None = None
        #: set while the transport's write buffer is over its high-water mark
        self._drained: asyncio.Future[None] | None = None
        #: why the connection is no longer usable (None while it is)
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def write(self, chunks: list[bytes | memoryview]) -> None:
        """Write packed commands; raises redis-py's ``ConnectionError`` on a lost or closing
        connection."""
        transport = self._transport
        if self.lost is not None:
            raise RedisConnectionError(str(self.lost))
        if transport is None or transport.is_closing():
            raise closed(self._where)
        transport.writelines(chunks)

    def send(self, chunks: list[bytes | memoryview], count: int) -> asyncio.Future[list[Any]]:
        """Write one pipeline's packed commands; the future of its ``count`` replies."""
        self.write(chunks)
        future: asyncio.Future[list[Any]] = self._loop.create_future()
        deadline = self._loop.time() + self._timeout if self._timeout else 0.0
        self._waiting.append(_Waiting(count, future, deadline))
        if self._timeout and self._watch is None:
            self._watch = self._loop.call_at(deadline, self._check)
        return future

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def paused(self) -> bool:
        """The write buffer is over its high-water mark."""
        return self._drained is not None

    async def drained(self) -> None:
        """Return once the write buffer is under its high-water mark (or the connection is
        lost: the pipeline's own future then says so)."""
        if self._drained is not None:
            await asyncio.shield(self._drained)

    def data_received(self, data: bytes) -> None:
        if self.lost is not None:
            return
        reader = self._reader
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not _MORE:
                if isinstance(reply, _PUSH):
                    continue
                if not self.answer(reply):
                    return
        except InvalidResponse as exc:
            self.fail(RedisConnectionError(f"Protocol error from {self._where}: {exc}"))

    def answer(self, reply: Any) -> bool:
        """``reply`` to the oldest pipeline waiting; False when it failed the connection
        instead (a lost connection's error, or a reply no pipeline waited for)."""
        if isinstance(reply, RedisConnectionError):  # redis-py raises these: lost
            self.fail(reply)
            return False
        waiting = self._waiting
        if not waiting:
            self.fail(RedisConnectionError(f"A reply from {self._where} no call waited for"))
            return False
        head = waiting[0]
        head.replies.append(reply)
        if len(head.replies) == head.count:
            waiting.popleft()
            if not head.future.done():  # else its caller was cancelled: dropped
                head.future.set_result(head.replies)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self.fail(RedisConnectionError(f"Connection closed by {self._where}."))
        else:
            self.fail(RedisConnectionError(f"Error while reading from {self._where}: {exc}"))

    def fail(self, error: Exception) -> None:
        """Close the connection; every pipeline still waiting gets ``error``."""
        if self.lost is None:
            self.lost = error
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._transport is not None:
            self._transport.close()
        self.resume_writing()
        waiting = self._waiting
        while waiting:
            future = waiting.popleft().future
            if not future.done():
                future.set_exception(error)

    def _check(self) -> None:
        """The oldest pipeline's replies are due: overdue fails the lane, else look again
        when the (new) oldest one's are."""
        self._watch = None
        if not self._waiting:
            return
        deadline = self._waiting[0].deadline
        if self._loop.time() >= deadline:
            self.fail(RedisTimeoutError(f"Timeout reading from {self._where}"))
        else:
            self._watch = self._loop.call_at(deadline, self._check)


def plain_packer(pool: Any) -> Any:
    """A connection object of ``pool``'s class, never connected, for a connection of the
    node's own to the pool's Redis: it packs commands (the same bytes as a pooled connection)
    and holds where and how to connect. None where the pool's connections are not redis-py's
    plain TCP or Unix-socket ones (or ``fast_packing``'s of them), connecting as the class
    itself does: TLS, Sentinel, a class of its own, a credential provider, a connect callback,
    replies decoded to text, a protocol other than RESP2 or RESP3."""
    kind = getattr(pool, "connection_class", None)
    if kind is None:
        return None
    plain = kind.__bases__[1] if FastPacking in kind.__bases__ else kind
    if plain not in (Connection, UnixDomainSocketConnection):
        return None  # TLS, Sentinel, or a class of its own: it may connect its own way
    packer = kind(**pool.connection_kwargs)
    if packer.credential_provider is not None or packer.encoder.decode_responses:
        return None
    if getattr(packer, "redis_connect_func", None) is not None:
        return None
    if str(packer.protocol) not in ("2", "3"):
        return None
    return packer


def where(packer: Any) -> str:
    """How errors name the Redis ``packer`` connects to."""
    if isinstance(packer, UnixDomainSocketConnection):
        return str(packer.path)
    return f"{packer.host}:{packer.port}"


P = TypeVar("P", bound="LaneProtocol")


async def connect(packer: Any, made: Callable[[], P]) -> P:
    """A new connection to ``packer``'s Redis with the protocol ``made`` makes, set up as
    redis-py sets up a new connection of the pool (``handshake``). Fails as redis-py's
    connections fail: ``TimeoutError`` or ``ConnectionError``."""
    loop = asyncio.get_running_loop()
    name = where(packer)
    try:
        async with asyncio.timeout(packer.socket_connect_timeout or None):
            if isinstance(packer, UnixDomainSocketConnection):
                transport, protocol = await loop.create_unix_connection(made, packer.path)
            else:
                transport, protocol = await loop.create_connection(made, packer.host, packer.port)
    except TimeoutError:  # before OSError: the builtin TimeoutError is one
        raise RedisTimeoutError(f"Timeout connecting to {name}") from None
    except OSError as exc:
        raise RedisConnectionError(f"Error connecting to {name}: {exc}") from exc
    try:
        sock = transport.get_extra_info("socket")
        # the TCP class's options (a Unix socket's class has none)
        if getattr(packer, "socket_keepalive", False) and sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for option, value in (packer.socket_keepalive_options or {}).items():
                    sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError as exc:
                raise RedisConnectionError(f"Error connecting to {name}: {exc}") from exc
        await handshake(packer, protocol)
    except BaseException:
        transport.close()
        raise
    return protocol


async def handshake(packer: Any, protocol: LaneProtocol) -> None:
    """What redis-py sends on a new connection of the pool: the protocol (with the password),
    the client name, the database."""
    commands: list[tuple[Any, ...]] = []
    if str(packer.protocol) == "3":
        hello: tuple[Any, ...] = ("HELLO", 3)
        if packer.password:
            hello += ("AUTH", packer.username or "default", packer.password)
        commands.append(hello)
    elif packer.password:
        if packer.username:
            commands.append(("AUTH", packer.username, packer.password))
        else:
            commands.append(("AUTH", packer.password))
    if packer.client_name:
        commands.append(("CLIENT", "SETNAME", packer.client_name))
    if packer.db:
        commands.append(("SELECT", packer.db))
    if not commands:
        return
    # a refusal redis-py raises as lost (a wrong password: ``AuthenticationError``) has failed
    # the connection already (``data_received``), and raises here
    for reply in await protocol.send(packer.pack_commands(commands), len(commands)):
        if isinstance(reply, Exception):
            raise RedisConnectionError(f"{where(packer)} refused a new connection: {reply}")


class Lane:
    """The script pipelines' own connection to the pool's Redis (``pipeline``). Connects on
    first use and again after a loss; ``aclose`` at the engine's close."""

    def __init__(self, packer: Any) -> None:
        #: what packs the commands and connects (``plain_packer``)
        self._packer = packer
        self._where = where(packer)
        self._protocol: LaneProtocol | None = None
        self._connecting: asyncio.Task[LaneProtocol] | None = None
        self._closed = False

    @classmethod
    def of(cls, pool: Any) -> Lane | None:
        """A lane to the Redis of ``pool`` (redis-py's asyncio pool), or None where its
        connections are not redis-py's plain TCP or Unix-socket ones (``plain_packer``)."""
        packer = plain_packer(pool)
        return None if packer is None else cls(packer)

    def ready(self) -> LaneProtocol | None:
        """The connection, where a pipeline can be written on it now: made, not lost, its
        write buffer under the mark; else None (``pipeline`` connects, and waits)."""
        protocol = self._protocol
        if protocol is None or protocol.lost is not None or protocol.paused():
            return None
        return protocol

    def pack(self, commands: list[tuple[Any, ...]]) -> list[bytes | memoryview]:
        """``commands`` as bytes, for ``LaneProtocol.send``."""
        chunks: list[bytes | memoryview] = self._packer.pack_commands(commands)
        return chunks

    async def pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """``commands`` written at once, their replies in order: as ``scripts.pipeline``."""
        if not commands:
            return []
        chunks = self.pack(commands)
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        replies = protocol.send(chunks, len(commands))
        try:
            await protocol.drained()
        except BaseException:
            replies.cancel()  # its replies are dropped when they come, as for any cancel
            raise
        return await replies

    async def aclose(self) -> None:
        """Close the connection; a pipeline still waiting fails as on a lost connection, and
        so does one waiting for the connection to be made."""
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        if self._protocol is not None:
            self._protocol.fail(closed(self._where))

    async def _connect(self) -> LaneProtocol:
        """The connection, made once for every caller that waits for it."""
        if self._closed:
            raise closed(self._where)
        task = self._connecting
        if task is None:
            loop = asyncio.get_running_loop()
            task = loop.create_task(self._open(), context=contextvars.Context())
            self._connecting = task
            task.add_done_callback(self._connected)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and self._closed:  # ``aclose`` meanwhile, not our caller's cancel
                raise closed(self._where) from None
            raise

    def _connected(self, task: asyncio.Task[LaneProtocol]) -> None:
        self._connecting = None
        if not task.cancelled():
            task.exception()  # read, so that a failure nobody waited for is not logged

    async def _open(self) -> LaneProtocol:
        packer = self._packer
        timeout = packer.socket_timeout
        protocol = await connect(packer, lambda: LaneProtocol(timeout, self._where))
        if self._closed:
            protocol.fail(closed(self._where))
            raise closed(self._where)
        self._protocol = protocol
        return protocol
