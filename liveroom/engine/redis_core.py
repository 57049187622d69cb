"""What every Redis store shares, core or feature: the client, key names, the guard that turns
an outage into ``EngineUnavailable``, history bounds, and the script registry.

``RedisEngine`` builds one ``RedisCore`` and hands it to the feature stores
(``Engine.store``); a store never reaches into the engine itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.exceptions import ClusterError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from liveroom.engine.scripts import Scripts
from liveroom.errors import EngineUnavailable

#: what an unreachable Redis raises; ``RedisCore.guard`` turns each into ``EngineUnavailable``
DOWN = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    # a cluster mid-failover: CLUSTERDOWN, TRYAGAIN, a slot with no live master
    ClusterError,
    TryAgainError,
    RedisClusterException,
)


#: rooms whose ``RoomKeys`` a node keeps (``RedisCore.keys``; about 1.5 kB each with ten names);
#: past that the cache starts over
KEYS_CACHED = 10_000


class RoomKeys:
    """Key names of one room. All share the room's hash tag ``{room:<id>}``, so every key of a
    room, and every script over them, sits in one Redis Cluster slot. A name is made on its
    first use and kept: a pulse asks for three names of every room, a comment for seven."""

    def __init__(self, prefix: str, room: str) -> None:
        self.base = f"{prefix}:{{room:{room}}}"
        self.channel = self.base + ":ch"

    def __getattr__(self, name: str) -> str:
        # seq, log, comments, muted, counters, info, nodes, online, ...
        if name.startswith("__"):  # copy, pickle and other protocols: not a key
            raise AttributeError(name)
        value = f"{self.base}:{name}"
        self.__dict__[name] = value
        return value

    def sub(self, *parts: str) -> str:
        return ":".join((self.base, *parts))


class Guard:
    """``RedisCore.guard()``: Redis calls inside it raise ``EngineUnavailable`` for an outage
    (``DOWN``). On a cluster it first takes a turn at ``gate``, waiting at most 3 s: the cluster
    client's pools fail at once when full, where the standalone blocking pool waits, and no
    guard holds more than one connection. One instance serves every call of a node: it keeps
    nothing per call. A class, not an ``asynccontextmanager``: that costs about 2 µs more per
    use, and every script call, comment and pulse goes through one."""

    __slots__ = ("gate",)

    def __init__(self, gate: asyncio.Semaphore | None) -> None:
        self.gate = gate

    async def __aenter__(self) -> None:
        gate = self.gate
        if gate is None:
            return
        if not gate.locked():
            await gate.acquire()  # free: taken at once
            return
        # Not ``wait_for``: on Python 3.11 that is a task per call, and it can lose a
        # cancellation (CPython gh-86296).
        try:
            async with asyncio.timeout(3.0):
                await gate.acquire()
        except TimeoutError:
            raise EngineUnavailable("redis busy: no free connection") from None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:  # never swallows: what is not an outage goes on as it was
        if self.gate is not None:
            self.gate.release()
        if isinstance(exc, DOWN):
            raise _unavailable(exc) from exc


class RedisCore:
    """The shared Redis plumbing of one node.

    ``client`` is a redis-py asyncio client (standalone or cluster); ``gate``, on a cluster,
    bounds the commands in flight, as the standalone blocking pool does.
    """

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        cluster: bool,
        history_len: int,
        history_age_s: float,
        gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.cluster = cluster
        self.history_len = history_len
        self.history_age_s = history_age_s
        self.gate = gate
        self.scripts = Scripts(client, pipelined=not cluster)
        #: room events go out by sharded pub/sub on a cluster, so they stay on the room's shard
        self.publish_command = "SPUBLISH" if cluster else "PUBLISH"
        #: where a room event that cannot wait for the tick is followed by its room's channel,
        #: for the nodes that hold room events for the tick (``RedisEngine``, "Bells"); "" on
        #: a cluster, whose nodes read room events as they come
        self.bell = "" if cluster else self.key("bell")
        #: rooms this process has put in the outbox registry (``outbox``)
        self._enlisted: set[str] = set()
        self._keys: dict[str, RoomKeys] = {}
        self._guard = Guard(gate)

    def keys(self, room: str) -> RoomKeys:
        """The room's key names, made once per room while ``KEYS_CACHED`` rooms are kept."""
        keys = self._keys.get(room)
        if keys is None:
            if len(self._keys) >= KEYS_CACHED:
                self._keys.clear()
            keys = self._keys[room] = RoomKeys(self.prefix, room)
        return keys

    def key(self, *parts: str) -> str:
        """A node-wide key (not a room's): ``<prefix>:<parts...>``."""
        return ":".join((self.prefix, *parts))

    @property
    def outbox_rooms(self) -> str:
        """The set of rooms that have an outbox: where the feed finds them (node-wide key)."""
        return self.key("feed", "rooms")

    async def outbox(self, room: str) -> str:
        """The key of ``room``'s outbox stream (``engine/outbox.py``), for a script that
        appends to it. The first call for a room in this process adds the room to
        ``outbox_rooms`` first (a script cannot: that key is in another Cluster slot), so no
        event is ever appended to an outbox the feed does not know. Raises
        ``EngineUnavailable``."""
        if room not in self._enlisted:
            async with self.guard():
                await self.client.sadd(self.outbox_rooms, room)
            self._enlisted.add(room)
        return self.keys(room).outbox

    async def ring(self, room: str) -> None:
        """Ring the bell for ``room`` after a script published something there that cannot
        wait for the tick (a lucky bag's news, say), where the script does not ring it itself
        as ``publish.lua`` does. Best effort: unheard, the news still comes at the tick."""
        if not self.bell:
            return
        with contextlib.suppress(EngineUnavailable):
            async with self.guard():
                await self.client.publish(self.bell, self.keys(room).channel)

    def forget_enlisted(self) -> None:
        """Enlist rooms again from now on (after Redis came back: it may have lost the set)."""
        self._enlisted.clear()

    def guard(self) -> Guard:
        """Run Redis calls inside (``async with core.guard():``): an outage raises
        ``EngineUnavailable`` (never a guess)."""
        return self._guard

    def history_bounds(self) -> tuple[int, int]:
        """``(maxlen, oldest_ms)`` for trimming a room's history stream: at most
        ``history_len`` events, none older than ``history_age_s`` (0: no age bound)."""
        age = self.history_age_s
        oldest = int((time.time() - age) * 1000) if age > 0 else 0
        return self.history_len, oldest

    async def run(
        self, name: str, keys: list[Any], args: list[Any], package: str = "liveroom.engine"
    ) -> Any:
        """Run script ``lua/<name>.lua`` of ``package`` (a feature passes ``__package__``)
        inside the guard."""
        async with self.guard():
            return await self.scripts.run(name, keys, args, package)

    async def run_many(
        self, name: str, calls: list[tuple[list[Any], list[Any]]], package: str = "liveroom.engine"
    ) -> list[Any]:
        """Script ``name`` once per ``(keys, args)``: the replies in order, a call Redis refused
        in its place. On a standalone Redis the calls fill pipelines (``Scripts.run_many``); on
        a cluster they go out together, each to its room's master under a guard of its own (the
        gate bounds what is in flight). An unreachable Redis raises ``EngineUnavailable``."""
        if not self.cluster:
            async with self.guard():
                return await self.scripts.run_many(name, calls, package)
        replies = await asyncio.gather(
            *(self.run(name, keys, args, package) for keys, args in calls),
            return_exceptions=True,
        )
        for reply in replies:
            if isinstance(reply, EngineUnavailable):
                raise reply
        return replies

    async def run_each(
        self, name: str, calls: list[tuple[list[Any], list[Any]]], package: str = "liveroom.engine"
    ) -> list[Any]:
        """``run_many``, with every call's outcome in its place and nothing raised for a
        call: its reply, the ``ResponseError`` of a refusal, or ``EngineUnavailable`` where
        Redis was out of reach for it (a pipeline lost as a whole, a cluster master down). For
        writes whose failed calls are tried again later: the others were applied."""
        if not self.cluster:
            replies = await self.scripts.run_many(name, calls, package, each=True)
            return [_unavailable(reply) if isinstance(reply, DOWN) else reply for reply in replies]
        return await asyncio.gather(
            *(self.run(name, keys, args, package) for keys, args in calls),
            return_exceptions=True,
        )


def _unavailable(exc: BaseException) -> EngineUnavailable:
    """What an outage (``DOWN``) met by a call becomes: raised by ``Guard``, or put in the
    call's place by ``run_each``."""
    error = EngineUnavailable(f"redis unreachable: {exc}")
    error.__cause__ = exc
    return error


def buffered_reply(connection: Any) -> Any:
    """The next reply the pub/sub ``connection`` has already read and hiredis has parsed, taken
    without a coroutine; ``NOT_ENOUGH_DATA`` when there is none. A busy node's read brings many
    room events at once: each after the first costs a ``gets`` instead of a ``read_response``
    (which, on RESP3, also formats every push message into a debug log line that is dropped).
    Only for hiredis's parser, whose ``gets`` is what ``read_response`` calls; a lost connection
    comes back as an exception object, and is raised as ``read_response`` raises it."""
    parser = connection._parser
    if type(parser) is not _AsyncHiredisParser or parser._reader is None:
        return NOT_ENOUGH_DATA
    reply = parser._reader.gets()
    if isinstance(reply, RedisConnectionError):
        raise reply
    return reply
