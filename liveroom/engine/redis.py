"""RedisEngine: shared state in Redis 7, for many processes and nodes.

Every key of a room carries the hash tag ``{room:<id>}`` so that all of a room's keys, and every
script over them, sit in one Redis Cluster slot. Room events are appended by ``publish.lua``:
offset, history stream and PUBLISH in one atomic step, so pub/sub order is offset order. The
room's epoch sits beside them (``<room>:epoch``); every script that appends to the stream or
reads it goes through ``lua/stream_lib.lua``, which creates a missing epoch in the same step.

When Redis cannot be reached, calls raise ``EngineUnavailable`` (never a guessed answer); the
subscriber task reconnects with backoff, subscribes again to every room it held, and tells the
reconnect listeners so the hub can fill any gap from history.

On a Redis Cluster (``Settings.redis_cluster``; ``redis_url`` then lists one or more seed nodes,
comma-separated) commands go through ``redis.asyncio.cluster.RedisCluster``, which follows MOVED
and ASK and refreshes its slot map after a failover. Room events use sharded pub/sub
(``SPUBLISH``/``SSUBSCRIBE``), so a room's traffic stays on the shard that owns its slot; the
subscriptions are kept by ``redis_shards.ShardedSubscriber``.

Why one module of about 620 lines: it is the single Redis implementation of the core's
protocols (bus, history, presence, rooms, comments) together with the client's set-up and the
room subscriber, which all share one key layout with the scripts. What every store shares is in
``redis_core.py``, the cluster's sharded pub/sub in ``redis_shards.py``, and the pub/sub
connection's protocol in ``listener.py``; the subscriber (connect, reconnect, resubscribe) is
the next part to move out.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from liveroom import metrics
from liveroom.engine import redis_core
from liveroom.engine.base import (
    CommentRules,
    EventHandler,
    History,
    MemoryHost,
    Posted,
    PostResult,
    Pulse,
    PulseReport,
    RoomState,
    S,
    Stream,
    cap_burst,
)
from liveroom.engine.lane import closed, plain_packer
from liveroom.engine.listener import Listener, ListenerProtocol
from liveroom.engine.outbox import room_change
from liveroom.engine.packing import fast_packing
from liveroom.engine.redis_core import DOWN as _DOWN
from liveroom.engine.redis_core import RedisCore, RoomKeys, buffered_reply
from liveroom.engine.redis_retry import OnceRetry
from liveroom.engine.redis_shards import ShardedSubscriber
from liveroom.errors import EngineUnavailable
from liveroom.protocol import offset_of
from liveroom.tasks import stop

log = logging.getLogger("liveroom.engine.redis")

POOL_SIZE = 200  # Redis connections per node
#: rooms per script call of a node's pulse on a standalone Redis: 1-2 ms of Redis time (5
#: commands a quiet room), while the other nodes' commands wait; 2,000 rooms are 20 calls
PULSE_ROOMS = 100


class CheckedPool(aioredis.BlockingConnectionPool):
    """redis-py's blocking pool, looking at each idle connection before it hands it out.

    The pool's check (``ensure_connection``) reconnects a connection that has bytes waiting or
    whose server closed it. redis-py 8.1 skips the check while maintenance notifications are
    on, and they are on by default (``enabled="auto"``, a true value). After a Redis restart
    every pooled connection then fails its next command once: a script call sent again after
    a lost connection (``scripts.py``) meets the next stale connection, and answers
    ``unavailable``. Here the check runs always, as it did in redis-py 8.0. It reads nothing
    from the socket: it looks at what the connection has buffered, and at its end of stream.
    """

    async def ensure_connection(self, connection: Any) -> None:
        await connection.connect()
        try:
            if await connection.can_read():
                raise RedisConnectionError("Connection has data")
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await connection.disconnect()
            await connection.connect()
            if await connection.can_read():
                raise RedisConnectionError("Connection not ready") from None


#: how long a bell holds off holding the connection for its room's event (``_rung``): the event
#: normally comes within a millisecond of its bell, later behind a backlog on the connection
BELL_WAIT_S = 1.0
#: after any bell for a room held here, the connection is not held for this long either: a
#: room event read clears its room's bell, and another that rang right after it may still come
BELL_GRACE_S = 0.1
#: ``publish.lua``'s status, as bytes, to what ``post_comment`` answers: a lookup, where
#: ``Posted(text)`` goes through the enum's call (about a microsecond a comment)
_POSTED = {status.value.encode(): status for status in Posted}


def _rings(data: bytes) -> bool:
    """Whether a published ``data`` is of a kind that rings the bell: a private notice, or a room
    event other than a comment (an epoch's notice and a comment do not ring)."""
    if data[:1] == b"@":
        return data[:2] != b"@!"
    return data.find(b'"type":"comment"', 0, 64) < 0  # it follows the offset


class RedisEngine:
    """The shared engine. Satisfies ``Engine``. ``client`` may be injected (redis-py asyncio)."""

    #: redis-py's reads run under ``asyncio.timeout``, which needs the task they run in
    starts_in_place = False
    #: the scripts of one window may still be on their way back when the next window opens: a
    #: node that slept through it would keep their replies waiting
    holds_reads = False

    def __init__(self, settings: Any, client: Any | None = None) -> None:
        self.settings = settings
        self.prefix = settings.redis_prefix
        self._own_client = client is None
        self.cluster = bool(getattr(settings, "redis_cluster", False)) or _is_cluster(client)
        if client is None and self.cluster:
            client = _cluster_client(settings.redis_url)
        elif client is None:
            # A blocking pool: a burst of commands waits for a free connection (up to the
            # socket timeout) instead of failing at once with "Too many connections".
            pool = CheckedPool.from_url(
                settings.redis_url,
                max_connections=POOL_SIZE,
                timeout=3.0,
                socket_timeout=3.0,
                socket_connect_timeout=1.0,
                retry=OnceRetry(NoBackoff(), 1),  # script calls: see redis_retry.py
                health_check_interval=0,
            )
            pool.connection_class = fast_packing(pool.connection_class)
            client = aioredis.Redis(connection_pool=pool)
            client.auto_close_connection_pool = True
        self.client = client
        self._gate = asyncio.Semaphore(POOL_SIZE) if self.cluster else None
        #: what the feature stores share with the engine (``store``)
        self.core = RedisCore(
            client,
            self.prefix,
            cluster=self.cluster,
            history_len=settings.history_len,
            history_age_s=settings.history_age_s,
            gate=self._gate,
        )
        self.scripts = self.core.scripts
        self._handlers: dict[str, EventHandler] = {}
        #: room -> its three keys of a pulse (``pulse_many``), while ``KEYS_CACHED`` are kept
        self._pulse_keys: dict[str, tuple[str, str, str]] = {}
        self._channels: dict[bytes, str] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._pubsub: Any = None
        #: the node's own pub/sub connection (``listener.py``); None: redis-py's pub/sub
        self._own: Listener | None = None
        self._wire: ListenerProtocol | None = None
        self._listener: asyncio.Task[None] | None = None
        #: hold room events for the tick (``listener.py``), on the node's own connection only
        self._at_tick = bool(getattr(settings, "events_at_tick", True))
        #: the bells' connection (``_listen_bells``), while room events are held for the tick
        self._bells: Listener | None = None
        self._bell_wire: ListenerProtocol | None = None
        self._bell_task: asyncio.Task[None] | None = None
        #: Redis confirmed the bells' subscription on a live connection: only then are room
        #: events held (a bell not heard would leave an event that cannot wait to the tick)
        self._bells_up = False
        #: rooms held here (by channel) whose bells rang before the events that rang them
        #: were read (the two come on two connections): how many such events are still to
        #: come, and when the last bell came. The connection is not held for them, for at most
        #: ``BELL_WAIT_S``
        self._rung: dict[bytes, tuple[int, float]] = {}
        #: when the last bell for a room held here came (``BELL_GRACE_S``)
        self._last_bell = 0.0
        self._reconnect_listeners: list[Callable[[], None]] = []
        self._closing = False
        self.connected = asyncio.Event()
        self.publish_command = self.core.publish_command
        self._shards: ShardedSubscriber | None = None
        #: after a reconnect: the subscription count whose confirmation means every room is back
        self._restore_at = 0
        #: the id of this engine's next publish call (what a retried ``publish.lua`` looks
        #: for): a random prefix of its own, then a count. Bytes made in C, once per comment:
        #: no Python frame, and redis-py sends bytes without encoding them.
        self._call_id: Callable[[], bytes] = map(
            (secrets.token_hex(6).encode() + b".%d").__mod__, itertools.count(1)
        ).__next__

    def keys(self, room: str) -> RoomKeys:
        return self.core.keys(room)

    def store(self, memory: Callable[[MemoryHost], S], redis: Callable[[RedisCore], S]) -> S:
        return redis(self.core)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        if self.cluster:
            options = _shard_options(getattr(self.client, "connection_kwargs", {}))
            self._shards = ShardedSubscriber(self.client, self._deliver, self._restored, options)
            self.connected.set()  # per shard from here on; see ping()
            self._listener = asyncio.create_task(
                self._shards.supervise(), name="liveroom-redis-shards"
            )
            return
        packer = plain_packer(getattr(self.client, "connection_pool", None))
        if packer is not None:
            self._own = Listener(packer, self._deliver, self._confirmed)
            self._listener = asyncio.create_task(self._listen_own(), name="liveroom-redis-pubsub")
            if self._at_tick and self.core.bell:
                self._bells = Listener(packer, self._rang, self._bell_confirmed)
                self._bell_task = asyncio.create_task(
                    self._listen_bells(), name="liveroom-redis-bells"
                )
            return
        self._pubsub = self.client.pubsub()
        self._listener = asyncio.create_task(self._listen(), name="liveroom-redis-pubsub")

    async def close(self) -> None:
        self._closing = True
        await stop([self._listener, self._bell_task])
        if self._wire is not None and self._own is not None:
            self._wire.fail(closed(self._own.where))
        if self._bell_wire is not None and self._bells is not None:
            self._bell_wire.fail(closed(self._bells.where))
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._shards is not None:
            await self._shards.close()
        await self.scripts.aclose()
        if self._own_client:
            with contextlib.suppress(Exception):
                await self.client.aclose()

    async def ping(self) -> bool:
        try:
            async with self.core.guard():
                if self._shards is not None:
                    # every master must answer: a room on a dead shard cannot sell
                    await self.client.ping(target_nodes="primaries")
                    return self._shards.healthy.is_set()
                await self.client.ping()
        except EngineUnavailable:
            return False
        return self.connected.is_set()

    def _restored(self) -> None:
        metrics.ENGINE_RECOVERIES.inc()
        self.core.forget_enlisted()
        for callback in self._reconnect_listeners:
            callback()

    def add_reconnect_listener(self, callback: Callable[[], None]) -> None:
        self._reconnect_listeners.append(callback)

    # ------------------------------------------------------------------ pub/sub

    def _up(self, first: bool) -> None:
        """The pub/sub connection is made and every room's ``SUBSCRIBE`` sent: ``connected``.
        After a reconnect with no room to confirm, the rooms are told at once."""
        self.connected.set()
        if not first:
            log.warning("redis pub/sub reconnected; %d rooms resubscribed", len(self._channels))
            if not self._restore_at:
                self._restored()

    async def _listen_own(self) -> None:
        """Keep the node's own pub/sub connection (``listener.py``): make it, subscribe every
        room in one ``SUBSCRIBE``, and once it is lost, make it again with backoff. Its reads
        happen in the protocol, not here."""
        own = self._own
        assert own is not None
        first = True

        def made(wire: ListenerProtocol) -> None:
            nonlocal first
            self._wire = wire
            self._rung.clear()  # what was on its way comes from history now
            # after a reconnect, back only once Redis confirmed every room (``_confirmed``), so
            # that the rooms' history reads come after it
            self._restore_at = 0 if first else len(self._channels)
            if self._channels:
                with contextlib.suppress(RedisError):  # lost already: ``done`` says so
                    wire.write(own.pack("SUBSCRIBE", *self._channels))
            self._up(first)
            first = False

        def lost(wire: ListenerProtocol) -> None:
            self.connected.clear()
            self._wire = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(EngineUnavailable("redis pub/sub lost"))
            self._pending.clear()

        await self._keep(own, "pub/sub", made, lost)

    async def _keep(
        self,
        listener: Listener,
        what: str,
        made: Callable[[ListenerProtocol], None],
        lost: Callable[[ListenerProtocol], None],
    ) -> None:
        """Keep one of the engine's own pub/sub connections until the engine closes: make it
        and hand it to ``made``; once it is lost, hand it to ``lost`` and make it again, with
        backoff (50 ms doubling up to 2 s, each wait jittered to half to one and a half times
        that, so at most 3 s) while Redis cannot be reached."""
        delay = 0.05
        while not self._closing:
            try:
                wire = await listener.open()
            except (RedisError, OSError) as exc:
                error: BaseException | None = exc
            else:
                made(wire)
                delay = 0.05
                await wire.done
                lost(wire)
                error = wire.lost
            if self._closing:
                return
            log.warning("redis %s lost (%s); retrying in %.2fs", what, error, delay)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    # ------------------------------------------------------------------ bells

    # Room events are held for the tick (``listener.py``): between two ticks the node's pub/sub
    # connection is not read, and the hub reads what came at each tick (``read_events``). An
    # event that cannot wait (one the hub flushes at once, a private notice, a lucky bag's
    # news) is followed by its room's channel on the bell channel (``RedisCore.bell``):
    # ``publish.lua`` rings it in the same step for every room event but a comment,
    # ``notify`` with its notice, the lucky bags' store after its scripts. Every node listens
    # to the bells on a connection of its own, always read; a bell for a room it holds has it
    # read its room events as they come again, until the next tick. Room events are held only
    # while the bells are heard: with the bells' connection down, they are read as they come.

    def read_events(self) -> None:
        """The hub's tick: the room events that came since the last one, read now, and the
        connection held again unless something awaits a reply on it (a subscription's
        confirmation, every room's after a reconnect)."""
        wire = self._wire
        if wire is None or self._bells is None:
            return
        now = time.monotonic()
        if self._rung:
            since = now - BELL_WAIT_S
            for channel, (_, at) in list(self._rung.items()):
                if at < since:
                    del self._rung[channel]  # never came (the room's script failed, say)
        if not wire.drain():
            return  # more than a drain reads: read as it comes until the next tick
        if not self._bells_up or self._pending or self._restore_at:
            return
        if self._rung or now - self._last_bell < BELL_GRACE_S:
            # a bell came before its event, which would wait for the next tick if held now;
            # or another event that rings may still be on its way right after the last one
            return
        wire.hold()

    def _hear(self) -> None:
        """Read room events as they come again (until the next tick holds them)."""
        if self._wire is not None:
            self._wire.release()

    def _rang(self, channel: bytes, room_channel: bytes) -> None:
        if room_channel not in self._channels:
            return
        now = self._last_bell = time.monotonic()
        wire = self._wire
        waiting = self._rung.get(room_channel)
        if waiting is not None:
            self._rung[room_channel] = (waiting[0] + 1, now)
        elif wire is not None and wire.held:
            # held: its event cannot have been read yet. (Not held, it may have been: a store
            # rings after its script returned, a round trip after the event; counted, it would
            # keep the connection from being held for ``BELL_WAIT_S``.)
            self._rung[room_channel] = (1, now)
        self._hear()

    def _bell_confirmed(self, kind: bytes, channel: bytes, count: int) -> None:
        if kind == b"subscribe":
            self._bells_up = True

    async def _listen_bells(self) -> None:
        """Keep the bells' connection, subscribed to the bell channel (``_keep``). Until Redis
        confirms it, and once it is lost, room events are read as they come."""
        bells = self._bells
        assert bells is not None

        def made(wire: ListenerProtocol) -> None:
            self._bell_wire = wire
            with contextlib.suppress(RedisError):  # lost already: ``done`` says so
                wire.write(bells.pack("SUBSCRIBE", self.core.bell))

        def lost(wire: ListenerProtocol) -> None:
            self._bell_wire = None
            self._bells_up = False
            self._hear()

        await self._keep(bells, "bells", made, lost)

    async def _listen(self) -> None:
        """Read pub/sub messages forever through redis-py (where ``listener.py`` cannot go);
        on a lost connection, reconnect and resubscribe."""
        delay = 0.05
        first = True
        while not self._closing:
            try:
                # every room in one SUBSCRIBE; after a reconnect, back only once Redis confirmed
                # them all (``_dispatch``), so that the rooms' history reads come after it
                self._restore_at = 0 if first else len(self._channels)
                if self._channels:
                    await self._pubsub.subscribe(*self._channels)
                else:
                    await self._pubsub.ping()
                self._up(first)
                first = False
                connection = self._pubsub.connection
                if connection is not None:  # its reconnects, which redis-py makes by itself
                    connection.register_connect_callback(self._pubsub_back)
                delay = 0.05
                await self._read(self._pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._closing:
                    return
                self.connected.clear()
                log.warning("redis pub/sub lost (%s); retrying in %.2fs", exc, delay)
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
                self._pubsub = self.client.pubsub()
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(EngineUnavailable("redis pub/sub lost"))
                self._pending.clear()

    async def _read(self, pubsub: Any) -> None:
        """Read ``pubsub``'s connection until it fails or the engine closes.

        Once per room event on this node, so a room event (``message``) goes from the reply
        straight to its room's handler, without redis-py's ``get_message`` (a retry wrapper, a
        timeout and a dict per message: about four fifths of the cost of a message). Any other
        reply (subscribe confirmations, unsubscribes, pongs) goes through ``handle_message``,
        which keeps redis-py's own record of the subscriptions. A read that fails raises, and
        ``_listen`` connects again and resubscribes every room.
        """
        connection = pubsub.connection
        if connection is None:
            raise RedisConnectionError("no pub/sub connection")
        channels, handlers = self._channels, self._handlers
        while not self._closing:
            reply = await connection.read_response(
                timeout=math.inf, disconnect_on_error=False, push_request=True
            )
            while reply is not NOT_ENOUGH_DATA:
                # a list on RESP2, hiredis's PushNotification (a list) on RESP3
                if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                    room = channels.get(reply[1])
                    if room is not None:
                        handler = handlers.get(room)
                        if handler is not None:
                            try:
                                handler(room, reply[2])
                            except Exception:  # one room's failure stops no other's events
                                log.exception("a room event's handler failed")
                else:
                    message = await pubsub.handle_message(reply)
                    if message is not None:
                        self._dispatch(message)
                reply = buffered_reply(connection)

    async def _pubsub_back(self, connection: Any) -> None:
        """redis-py made the pub/sub connection again on its own (a read failed and its retry
        reconnected) and has just re-subscribed every room in one command. Events published
        meanwhile were missed: the rooms fill from history once Redis confirmed the last
        subscription (``_dispatch``)."""
        log.warning("redis pub/sub reconnected; %d rooms resubscribed", len(self._channels))
        if self._channels:
            self._restore_at = len(self._channels)
        else:
            self._restored()

    def _deliver(self, channel: bytes, data: bytes) -> None:
        """A room event, by its channel, to its room's handler (a cluster's events come here
        from ``ShardedSubscriber``)."""
        if self._rung and channel in self._rung and _rings(data):
            left, at = self._rung[channel]
            if left > 1:
                self._rung[channel] = (left - 1, at)
            else:
                del self._rung[channel]
        room = self._channels.get(channel)
        if room is not None:
            handler = self._handlers.get(room)
            if handler is not None:
                handler(room, data)

    def _dispatch(self, message: dict[str, Any]) -> None:
        """A pub/sub reply redis-py parsed into a message (``_read``)."""
        kind = message["type"]
        if kind == "message":
            self._deliver(message["channel"], message["data"])
        elif kind == "subscribe":
            self._confirmed(b"subscribe", message["channel"], message["data"])

    def _confirmed(self, kind: bytes, channel: bytes, count: int) -> None:
        """Redis confirmed a (un)subscription: the connection now has ``count`` channels."""
        if kind != b"subscribe":
            return
        if self._restore_at and count >= self._restore_at:
            self._restore_at = 0  # every room resubscribed after a reconnect
            self._restored()
        room = self._channels.get(channel)
        future = self._pending.pop(room, None) if room is not None else None
        if future is not None and not future.done():
            future.set_result(None)

    async def subscribe(self, room: str, handler: EventHandler) -> None:
        channel = self.keys(room).channel.encode()
        self._handlers[room] = handler
        self._channels[channel] = room
        if self._shards is not None:
            async with self.core.guard():
                await self._shards.subscribe(channel)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[room] = future
        try:
            async with self.core.guard():
                if not self.connected.is_set():
                    # The listener is still making its pub/sub connection: a SUBSCRIBE sent
                    # now would open a second one that nobody reads, and never be confirmed.
                    await asyncio.wait_for(self.connected.wait(), timeout=5.0)
                if self._own is None:
                    await self._pubsub.subscribe(channel)
                elif self._wire is None:
                    raise RedisConnectionError("redis pub/sub connection lost")
                else:
                    self._wire.release()  # its confirmation is awaited
                    self._wire.write(self._own.pack("SUBSCRIBE", channel))
                await asyncio.wait_for(asyncio.shield(future), timeout=5.0)
        except BaseException:
            self._pending.pop(room, None)
            raise

    async def unsubscribe(self, room: str) -> None:
        channel = self.keys(room).channel.encode()
        self._handlers.pop(room, None)
        self._channels.pop(channel, None)
        self._rung.pop(channel, None)
        if self._shards is not None:
            await self._shards.unsubscribe(channel)
            return
        with contextlib.suppress(*_DOWN, RedisError):
            if self._own is None:
                await self._pubsub.unsubscribe(channel)
            elif self._wire is not None:
                self._wire.write(self._own.pack("UNSUBSCRIBE", channel))

    # ------------------------------------------------------------------ RoomBus

    async def publish(self, room: str, body: bytes) -> bytes:
        k = self.keys(room)
        maxlen, oldest = self.core.history_bounds()
        async with self.core.guard():
            status, payload = await self.scripts.run(
                "publish",
                [k.seq, k.log, k.comments, k.epoch],
                [
                    k.channel,
                    body,
                    maxlen,
                    oldest,
                    0,
                    self.publish_command,
                    self._call_id(),
                    self.core.bell,
                ],
            )
        return bytes(payload)

    async def notify(self, room: str, user: str, body: bytes) -> None:
        k = self.keys(room)
        notice = b"@" + user.encode() + b"\n" + body
        async with self.core.guard():
            if not self.core.bell:
                await self.client.execute_command(self.publish_command, k.channel, notice)
                return
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.execute_command(self.publish_command, k.channel, notice)
                pipe.execute_command("PUBLISH", self.core.bell, k.channel)
                await pipe.execute()

    async def post_comment(
        self, room: str, user: str, body: bytes, rules: CommentRules, text_key: str = ""
    ) -> PostResult:
        k = self.keys(room)
        maxlen, oldest = self.core.history_bounds()
        now = time.time()
        async with self.core.guard():
            status, payload = await self.scripts.run(
                "publish",
                [
                    k.seq,
                    k.log,
                    k.comments,
                    k.epoch,
                    k.muted,
                    f"{k.base}:urate:{user}",  # ``k.sub("urate", user)``, without its tuple
                    k.cap,
                    k.counters,
                    f"{k.base}:said:{user}:{text_key}",
                ],
                [
                    k.channel,
                    body,
                    maxlen,
                    oldest,
                    self.settings.snapshot_comments,
                    self.publish_command,
                    self._call_id(),
                    "",  # no bell: a comment waits for the tick
                    user,
                    int(now * 1000),
                    rules.user_limit,
                    rules.user_window_s,
                    rules.room_cap,
                    1 if rules.priority else 0,
                    cap_burst(rules.room_cap),
                    int(rules.dedupe_window_s * 1000) if text_key else 0,
                    1 if rules.hidden else 0,
                ],
            )
        result = _POSTED.get(status) or Posted(status.decode())
        if result is Posted.SHED:
            return PostResult(result, head=int(payload or 0))
        if result is Posted.OK:
            stored = bytes(payload)
            return PostResult(result, stored, 0, offset_of(stored))  # positional: see memory.py
        return PostResult(result)

    async def history(self, room: str, after: int, limit: int, epoch: str) -> History:
        k = self.keys(room)
        async with self.core.guard():
            reply = await self.scripts.run(
                "history",
                [k.seq, k.log, k.epoch],
                [after, limit, epoch, k.channel, self.publish_command],
            )
        return History(
            int(reply[0]), [bytes(e) for e in reply[3:]], bool(reply[1]), _text(reply[2])
        )

    async def history_page(self, room: str, after: int, count: int, epoch: str) -> History:
        k = self.keys(room)
        async with self.core.guard():
            reply = await self.scripts.run(
                "history_page",
                [k.seq, k.log, k.epoch],
                [after, count, epoch, k.channel, self.publish_command],
            )
        return History(
            int(reply[0]), [bytes(e) for e in reply[3:]], bool(reply[1]), _text(reply[2])
        )

    async def head(self, room: str) -> Stream:
        k = self.keys(room)
        async with self.core.guard():
            head, epoch = await self.scripts.run(
                "head", [k.seq, k.epoch], [k.channel, self.publish_command]
            )
        return Stream(_text(epoch), int(head))

    async def rotate(self, room: str, epoch: str) -> Stream:
        k = self.keys(room)
        async with self.core.guard():
            head, now = await self.scripts.run(
                "rotate", [k.seq, k.epoch], [epoch, k.channel, self.publish_command]
            )
        return Stream(_text(now), int(head))

    # ------------------------------------------------------------------ Presence

    async def pulse(self, room: str, node: str, online: int, likes: int) -> Pulse:
        k = self.keys(room)
        async with self.core.guard():
            total, peak, like_total = await self.scripts.run(
                "pulse",
                [k.nodes, k.online, k.counters],
                [
                    node,
                    online,
                    likes,
                    int(time.time() * 1000),
                    int(self.settings.node_ttl_s * 1000),
                ],
            )
        return Pulse(int(total), int(peak), int(like_total))

    async def pulse_many(
        self, node: str, reports: Sequence[PulseReport]
    ) -> Sequence[tuple[int, int, int]]:
        """Every room's pulse in one round. On a standalone Redis, ``PULSE_ROOMS`` rooms a
        script call (``pulse_rooms.lua``), the calls in one pipeline; on a cluster, where a
        script reaches one slot only, one ``pulse.lua`` a room, the calls at once."""
        now = int(time.time() * 1000)
        ttl = int(self.settings.node_ttl_s * 1000)
        if self.core.cluster:
            calls = []
            for room, online, likes in reports:
                k = self.keys(room)
                calls.append(([k.nodes, k.online, k.counters], [node, online, likes, now, ttl]))
            each: list[Pulse] = []
            for reply in await self.core.run_many("pulse", calls):
                if isinstance(reply, BaseException):
                    raise reply
                total, peak, like_total = reply
                each.append(Pulse(int(total), int(peak), int(like_total)))
            return each
        calls = []
        pulse_keys = self._pulse_keys
        for start in range(0, len(reports), PULSE_ROOMS):
            keys: list[Any] = []
            args: list[Any] = [node, now, ttl]
            for room, online, likes in reports[start : start + PULSE_ROOMS]:
                three = pulse_keys.get(room)
                if three is None:
                    if len(pulse_keys) >= redis_core.KEYS_CACHED:
                        pulse_keys.clear()
                    k = self.keys(room)
                    three = pulse_keys[room] = (k.nodes, k.online, k.counters)
                keys += three
                args += (online, likes)
            calls.append((keys, args))
        pulses: list[tuple[int, int, int]] = []
        for flat in await self.core.run_many("pulse_rooms", calls):
            if isinstance(flat, BaseException):
                raise flat
            # integer replies (Lua numbers): ints already, three a room, as plain tuples made
            # in C (no ``Pulse`` a room: the hub unpacks only a room whose totals changed)
            pulses += zip(flat[0::3], flat[1::3], flat[2::3], strict=True)
        return pulses

    async def leave(self, room: str, node: str) -> None:
        k = self.keys(room)
        async with self.core.guard():
            await self.client.zrem(k.nodes, node)
            await self.client.hdel(k.online, node)

    # ------------------------------------------------------------------ RoomStore

    async def room_info(self, room: str) -> dict[str, Any] | None:
        async with self.core.guard():
            raw = await self.client.get(self.keys(room).info)
        return orjson.loads(raw) if raw else None

    async def put_room_info(self, room: str, info: dict[str, Any]) -> None:
        outbox = await self.core.outbox(room)
        await self.core.run(
            "room_put",
            [self.keys(room).info, outbox],
            [orjson.dumps(info), 1 if info.get("ended") is True else 0, room_change(info)],
        )

    async def snapshot(self, room: str, comments: int) -> RoomState:
        k = self.keys(room)
        async with self.core.guard():
            reply = await self.scripts.run(
                "snapshot",
                [k.seq, k.comments, k.counters, k.info, k.nodes, k.online, k.epoch],
                [comments, int(time.time() * 1000), k.channel, self.publish_command],
            )
        flat = reply[2]
        counters = {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return RoomState(
            offset=int(reply[0]),
            info=orjson.loads(reply[1]) if reply[1] else None,
            counters=counters,
            online=int(reply[3]),
            epoch=_text(reply[4]),
            comments=[bytes(c) for c in reply[5:]],
        )

    async def mute(self, room: str, user: str, until: float) -> None:
        outbox = await self.core.outbox(room)
        event = orjson.dumps({"user": user, "until": until})
        await self.core.run(
            "mute", [self.keys(room).muted, outbox], [user, int(until * 1000), event]
        )

    async def unmute(self, room: str, user: str) -> None:
        async with self.core.guard():
            await self.client.hdel(self.keys(room).muted, user)

    async def muted(self, room: str) -> dict[str, float]:
        async with self.core.guard():
            raw = await self.client.hgetall(self.keys(room).muted)
        now = time.time()
        out = {_text(u): int(t) / 1000 for u, t in raw.items()}
        return {u: t for u, t in out.items() if t > now}

    async def incr(self, room: str, name: str, by: int = 1) -> int:
        async with self.core.guard():
            return int(await self.client.hincrby(self.keys(room).counters, name, by))

    async def incr_unique(self, room: str, name: str, *members: str, count_as: str = "") -> int:
        if not members:
            return 0
        k = self.keys(room)
        async with self.core.guard():
            added = await self.scripts.run(
                "unique", [k.sub("u", name), k.counters], [count_as, *members]
            )
        return int(added)

    async def unique_count(self, room: str, name: str) -> int:
        async with self.core.guard():
            return int(await self.client.scard(self.keys(room).sub("u", name)))

    async def counters(self, room: str) -> dict[str, int]:
        async with self.core.guard():
            raw = await self.client.hgetall(self.keys(room).counters)
        return {_text(k): int(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: options for the per-shard pub/sub connections (see redis_shards)
_SHARD_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_keepalive": True,
    "health_check_interval": 0,
}


def _shard_options(given: dict[str, Any]) -> dict[str, Any]:
    """Options of the per-shard pub/sub connections: the cluster client's credentials and TLS."""
    from inspect import signature

    from redis.asyncio.connection import SSLConnection

    options = dict(_SHARD_OPTIONS)
    options.update({k: given[k] for k in ("username", "password") if given.get(k)})
    if given.get("connection_class") is SSLConnection:
        accepted = signature(aioredis.Redis).parameters
        options["ssl"] = True
        options.update({k: v for k, v in given.items() if k.startswith("ssl_") and k in accepted})
    return options


def _is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


class RoutedCluster(RedisCluster):
    """redis-py's cluster client, made to load its slot map before it picks a command's node.

    redis-py 8 chooses how to route a command before it loads the slot map it lacks: while it
    has none (a client's first commands, and after each time it drops every connection to
    start afresh, which it does every fifth MOVED), a keyed command such as ``EVALSHA`` is
    routed as a keyless one, to a random node. Two times in three on three masters that node
    answers MOVED; the fifth MOVED drops every connection again, failing the commands then in
    flight ("Connection closed by server"), and the commands that start meanwhile are routed
    at random in turn. A node's first burst of scripts (a pulse's writes of hundreds of rooms)
    could keep the cycle going. Here every command waits for the map first: ``initialize``
    returns at once when it is loaded, and otherwise loads it once for all who wait."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.initialize()
        return await super().execute_command(*args, **kwargs)


def _cluster_client(url: str) -> Any:
    """A cluster client from one or more comma-separated seed URLs (any live node will do).

    Slot coverage is not required: while one shard has no master, rooms on the others go on.
    """
    from urllib.parse import urlsplit

    seeds = [urlsplit(part.strip()) for part in url.split(",") if part.strip()]
    if not seeds:
        raise ValueError("redis_url names no cluster seed node")
    first = seeds[0]
    client = RoutedCluster(
        startup_nodes=[ClusterNode(s.hostname or "127.0.0.1", s.port or 6379) for s in seeds],
        username=first.username,
        password=first.password,
        ssl=first.scheme == "rediss",
        require_full_coverage=False,
        max_connections=POOL_SIZE,
        socket_timeout=3.0,
        socket_connect_timeout=1.0,
        # MOVED, ASK and a lost master are retried this often, refreshing the slot map
        # (script calls: by the script layer, as each script allows; see redis_retry.py)
        retry=OnceRetry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        health_check_interval=0,
    )
    # FastPacking's connections for every node, the known and those found later (redis-py's
    # own settings reach the nodes the same way: the manager's kwargs and the startup nodes)
    manager = client.nodes_manager
    made = fast_packing(manager.connection_kwargs.get("connection_class", aioredis.Connection))
    manager.connection_kwargs["connection_class"] = made
    for node in manager.startup_nodes.values():
        node.connection_class = made  # type: ignore[assignment]  # a Connection subclass
    return client
