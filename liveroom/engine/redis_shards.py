"""Sharded pub/sub on a Redis Cluster: a room's channel lives on the shard that owns its slot.

A room's channel ``<prefix>:{room:<id>}:ch`` carries the room's hash tag, so ``SPUBLISH`` from the
room's scripts and ``SSUBSCRIBE`` here both land on the one master serving the room's slot. This
module keeps one plain ``redis.asyncio.Redis`` pub/sub connection per master that holds at least
one of this node's rooms, and reads each from its own task.

We do not use redis-py's cluster pub/sub: it appeared only in recent releases, reconnects and
resubscribes behind our back, and polls its shards in turn. The hub must know when a
subscription was lost so it can fill the gap from history; here that is explicit:

* a shard connection that drops, or a ``sunsubscribe`` the server sends by itself (its slot moved
  away, or the master became a replica), orphans the channels it held;
* once a second the owner of every channel is looked up again in the cluster client's slot map
  (which follows MOVED replies), and a channel whose owner changed is orphaned too;
* the supervisor refreshes the slot map, subscribes every orphan on its current owner (with
  backoff while that fails), waits for each confirmation, and then calls ``restored`` so the
  hub reads whatever was published in between from history.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import random
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from liveroom.engine.redis_core import buffered_reply
from liveroom.tasks import stop

log = logging.getLogger("liveroom.engine.redis")

CONFIRM_S = 5.0  # how long an SSUBSCRIBE may take to be confirmed
CHECK_S = 1.0  # how often channel owners are compared with the slot map
MAX_BACKOFF_S = 2.0

Deliver = Callable[[bytes, bytes], None]


class Shard:
    """One master's pub/sub connection and the channels this node holds on it."""

    def __init__(self, name: str, host: str, port: int, options: dict[str, Any]) -> None:
        self.name = name
        # No retries in redis-py: a lost connection must surface here, not be silently
        # reopened (perhaps to a node that is now a replica).
        self.client = aioredis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **options)
        self.pubsub = self.client.pubsub()
        self.channels: set[bytes] = set()
        self.reader: asyncio.Task[None] | None = None
        self.dead = False

    async def close(self) -> None:
        self.dead = True
        await stop([self.reader])  # not the reader itself, when it is the one closing
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        with contextlib.suppress(Exception):
            await self.client.aclose()


class ShardedSubscriber:
    """Subscriptions to room channels over a ``redis.asyncio.cluster.RedisCluster``.

    ``deliver`` gets every room event (``smessage``) as its channel and data; ``restored`` is
    called after lost subscriptions are back. Run ``supervise()`` as a task while open.
    """

    def __init__(
        self,
        cluster: Any,
        deliver: Deliver,
        restored: Callable[[], None],
        options: dict[str, Any] | None = None,
    ) -> None:
        self.cluster = cluster
        self.deliver = deliver
        self.restored = restored
        self.options = options or {}
        self.shards: dict[str, Shard] = {}
        self.wanted: set[bytes] = set()
        self.orphans: set[bytes] = set()
        self.wake = asyncio.Event()
        self.healthy = asyncio.Event()
        self.healthy.set()
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ public

    async def subscribe(self, channel: bytes) -> None:
        """Subscribe on the master owning ``channel``; returns once the server confirmed it."""
        self.wanted.add(channel)
        try:
            async with self._lock:
                await self._subscribe(channel)
        except BaseException:
            self.wanted.discard(channel)
            raise

    async def unsubscribe(self, channel: bytes) -> None:
        self.wanted.discard(channel)
        self.orphans.discard(channel)
        async with self._lock:
            for shard in list(self.shards.values()):
                if channel in shard.channels:
                    shard.channels.discard(channel)
                    if not shard.channels:
                        await self._drop(shard)
                    else:
                        with contextlib.suppress(RedisError, OSError):
                            await shard.pubsub.sunsubscribe(channel)

    async def close(self) -> None:
        for shard in list(self.shards.values()):
            await shard.close()
        self.shards.clear()

    # ------------------------------------------------------------------ internals

    async def _subscribe(self, channel: bytes) -> None:
        await self.cluster.initialize()  # the slot map, unless it is already loaded
        node = self.cluster.get_node_from_key(channel)
        shard = self.shards.get(node.name)
        if shard is None or shard.dead:
            shard = Shard(node.name, node.host, int(node.port), self.options)
            self.shards[node.name] = shard
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm[channel] = future
        try:
            await shard.pubsub.ssubscribe(channel)
            shard.channels.add(channel)
            if shard.reader is None:
                # a clean context: the caller's (a connection's log ids) is not the reader's
                shard.reader = asyncio.create_task(
                    self._read(shard), name=f"shard-{shard.name}", context=contextvars.Context()
                )
            await asyncio.wait_for(asyncio.shield(future), CONFIRM_S)
        except BaseException:
            shard.channels.discard(channel)
            if not shard.channels:
                await self._drop(shard)
            raise
        finally:
            self._confirm.pop(channel, None)

    async def _drop(self, shard: Shard) -> None:
        if self.shards.get(shard.name) is shard:
            del self.shards[shard.name]
        await shard.close()

    def _orphan(self, shard: Shard, channels: set[bytes], why: str) -> None:
        lost = channels & self.wanted
        shard.channels -= channels
        if not lost:
            return
        log.warning("redis shard %s: %d rooms lost (%s)", shard.name, len(lost), why)
        self.orphans |= lost
        self.healthy.clear()
        self.wake.set()

    async def _read(self, shard: Shard) -> None:
        """Read one shard's connection until it fails or the shard holds no channel.

        A room event (``smessage``) goes from the reply straight to ``deliver``, without
        redis-py's ``get_message`` (its retry wrapper, a timeout per call and a dict per
        message), as ``RedisEngine._read`` does on a standalone Redis. Any other reply
        (confirmations, unsubscribes) goes through ``handle_message``, which keeps redis-py's
        record of the shard's subscriptions. The read waits without a timeout: the shard's
        close cancels it, and a lost connection raises.
        """
        try:
            connection = shard.pubsub.connection
            if connection is None:
                raise RedisConnectionError("no pub/sub connection")
            deliver = self.deliver
            while shard.channels and not shard.dead:
                reply = await connection.read_response(
                    timeout=math.inf, disconnect_on_error=False, push_request=True
                )
                while reply is not NOT_ENOUGH_DATA:
                    if reply is None:
                        raise RedisConnectionError("shard connection read nothing")
                    # a list on RESP2, hiredis's PushNotification (a list) on RESP3
                    if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"smessage":
                        deliver(reply[1], reply[2])
                    else:
                        message = await shard.pubsub.handle_message(reply)
                        if message is not None:
                            self._handle(shard, message)
                    reply = buffered_reply(connection)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as exc:
            shard.dead = True
            for future in self._confirm.values():
                if not future.done():
                    future.set_exception(exc)
            self._orphan(shard, set(shard.channels), f"connection lost: {exc}")
        if self.shards.get(shard.name) is shard and (shard.dead or not shard.channels):
            del self.shards[shard.name]
            await shard.close()

    def _handle(self, shard: Shard, message: dict[str, Any]) -> None:
        """A reply of the shard's connection that is not a room event."""
        kind = message["type"]
        if kind == "ssubscribe":
            future = self._confirm.get(message["channel"])
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == "sunsubscribe":
            channel = message["channel"]
            if channel in self.wanted and channel in shard.channels:
                # not asked for: the slot moved away or this master became a replica
                self._orphan(shard, {channel}, "slot moved")

    def _misplaced(self) -> set[bytes]:
        """Channels held on a shard that the slot map no longer names as their owner."""
        out: set[bytes] = set()
        for shard in self.shards.values():
            for channel in shard.channels:
                try:
                    owner = self.cluster.get_node_from_key(channel).name
                except (RedisClusterException, RedisError, LookupError):
                    continue
                if owner != shard.name:
                    out.add(channel)
        return out

    async def supervise(self) -> None:
        """Forever: move misplaced channels, resubscribe orphans with backoff, report recovery."""
        delay = 0.05
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), CHECK_S)
            self.wake.clear()
            moved = self._misplaced()
            for shard in list(self.shards.values()):
                mine = moved & shard.channels
                if mine:
                    self._orphan(shard, mine, "slot owner changed")
                    with contextlib.suppress(RedisError, OSError):
                        await shard.pubsub.sunsubscribe(*mine)
                    if not shard.channels:
                        await self._drop(shard)
            if not self.orphans:
                if not self.healthy.is_set():
                    # what was lost is back: some rooms were subscribed again by a pass that
                    # then failed on the rest, and the rest were left meanwhile (``unsubscribe``
                    # takes a room out of ``orphans``)
                    self._recovered()
                continue
            try:
                await self.cluster.nodes_manager.initialize()
                async with self._lock:
                    for channel in sorted(self.orphans):
                        if channel in self.wanted:
                            await self._subscribe(channel)
                        self.orphans.discard(channel)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
                log.warning(
                    "redis cluster: %d rooms not resubscribed (%s); retrying in %.2fs",
                    len(self.orphans),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, MAX_BACKOFF_S)
                self.wake.set()
                continue
            delay = 0.05
            if self.orphans:  # more were lost during the pass: the next one takes them
                self.wake.set()
                continue
            self._recovered()

    def _recovered(self) -> None:
        """Every room lost since ``healthy`` was cleared is subscribed again (or was left):
        healthy, and the hub reads from history what the rooms missed meanwhile."""
        self.healthy.set()
        log.warning("redis cluster: rooms resubscribed on their current shards")
        self.restored()
