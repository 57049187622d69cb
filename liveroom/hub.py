"""The hub: this node's rooms, and when their events go out.

The hub holds this node's ``LocalRoom``s (``liveroom.localroom``: ordering, gap filling, the
per-room flush and the bringing level of joining viewers), subscribes them to the engine, and
runs the node's clocks: the tick that flushes rooms with something to send (``Settings.tick_ms``;
critical events at once), and the pulse that publishes counts and closes laggards. Joins, leaves
and evictions go through it, so a room's membership changes in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from liveroom import fanout, metrics
from liveroom.engine.base import Engine, Stream
from liveroom.errors import CloseCode, EngineUnavailable
from liveroom.fanout import CHECK_EVERY
from liveroom.localroom import CATCHUP_CHUNK, CRITICAL, LocalRoom, Viewer
from liveroom.protocol import event, frame
from liveroom.replay import Replays
from liveroom.tasks import stop

__all__ = ["CHECK_EVERY", "CATCHUP_CHUNK", "Hub", "LocalRoom", "Viewer"]

log = logging.getLogger("liveroom.hub")

#: rooms reading their history at once to fill a gap (all of them after a Redis restart)
HISTORY_READS = 32
UNSUBSCRIBE_GRACE_S = 5.0  # an empty room stays subscribed this long, for viewers on their way back


def next_tick(due: float, now: float, tick: float) -> tuple[float, int]:
    """The tick after the one due at ``due``, seen at ``now``, and how many slots were missed.

    The next tick is the first slot of the grid ``due + k * tick`` (k >= 1) not before ``now``;
    the slots before ``now`` were missed (overruns).
    """
    following = due + tick
    if now <= following:
        return following, 0
    missed = math.ceil((now - following) / tick)
    return following + missed * tick, missed


class Hub:
    """All local rooms of this node. Opened in the app's lifespan."""

    def __init__(self, engine: Engine, settings: Any) -> None:
        self.engine = engine
        self.settings = settings
        self.node = settings.node_id
        self.rooms: dict[str, LocalRoom] = {}
        self.dirty: set[LocalRoom] = set()
        self.tick_at = 0.0  # when the current round of flushes began (``flush_all``)
        self._tick_due = math.inf  # when the next tick is due (``next_tick_at``)
        #: called after each tick's flushes: the gather's read hold, which ended at the tick,
        #: goes on to its window's end (``Gather.hold_again``); set by the node
        self.after_tick: Callable[[], None] | None = None
        #: frames and events the flushes sent since ``flush_all`` last counted them
        self.frames_out = self.events_out = 0
        self.history_gate = asyncio.Semaphore(HISTORY_READS)
        #: event types flushed at once: the core's and, once the node adds them, its features'
        self.critical: frozenset[bytes] = CRITICAL
        #: event type -> features' ``relayed`` hooks, called as a room takes such an event
        self.watchers: dict[bytes, list[Callable[[str, bytes, bytes], None]]] = {}
        self.soft_limit = settings.outgoing_soft_kb * 1024
        #: the fan-out's send loop: C (``liveroom._sendall``) unless built without it or
        #: ``send_loop`` is "python" (``liveroom.sendall``)
        self.send_all = fanout.send_loop(settings.send_loop)
        self.hard_limit = settings.outgoing_hard_kb * 1024
        self.tick = settings.tick_ms / 1000
        #: the tick's clock and sleep: the event loop's, unless a test brings its own
        self.clock: Callable[[], float] | None = None
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._flush_soon: asyncio.Handle | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.on_pulse: list[Callable[[LocalRoom], Any]] = []
        #: private event types that end their connections after delivery, with the close code:
        #: the features' ``closing_events`` (a kick, say)
        self.closing: dict[bytes, int] = {}
        #: replays of history to resuming and lagging viewers: in pieces, a bounded number at once
        self.replays = Replays(engine, settings.resume_reads)

    async def open(self) -> None:
        log.info("fan-out send loop: %s", fanout.loop_name(self.send_all))
        self._loops = [
            asyncio.create_task(self._tick_loop(), name="liveroom-tick"),
            asyncio.create_task(self._pulse_loop(), name="liveroom-pulse"),
        ]
        self.engine.add_reconnect_listener(self._engine_back)

    async def close(self) -> None:
        await stop([*self._loops, *self._tasks])
        for room in list(self.rooms):
            with contextlib.suppress(Exception):
                await self.engine.leave(room, self.node)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def viewer_count(self) -> int:
        return sum(room.size for room in self.rooms.values())

    # ------------------------------------------------------------------ membership

    async def room(self, room_id: str) -> LocalRoom:
        """The local room, subscribed and started."""
        room = self.rooms.get(room_id)
        if room is not None and room.ready.is_set():
            if room.idle_since:  # a viewer is on its way in: restart the idle clock
                room.idle_since = time.monotonic()
            return room
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            room = self.rooms.get(room_id)
            if room is None:
                room = LocalRoom(self, room_id)
                self.rooms[room_id] = room
            if not room.ready.is_set():
                try:
                    await self.engine.subscribe(room_id, self._receive)
                    stream = await self.engine.head(room_id)
                except BaseException:
                    if room.size == 0:
                        self.rooms.pop(room_id, None)
                    raise
                room.start(stream)
                if room.size == 0:
                    # idle from here: a viewer refused on its way in (a room that has ended, a
                    # kick, the engine down during its snapshot) never joins, and the pulse must
                    # drop the room it made as it drops a room whose last viewer left. (Not
                    # before it is subscribed: a slow subscription is no reason to drop it.)
                    room.idle_since = time.monotonic()
            # ready: whoever comes next takes the path above, so the lock is done with (kept,
            # the node held one for every room id it ever opened, made-up ones included)
            if self._locks.get(room_id) is lock:
                del self._locks[room_id]
        return room

    def closing_mark(self, room_id: str) -> tuple[LocalRoom, int] | None:
        """Where the room stands on closing notices (a kick, say) now, for ``closing_since``;
        None when this node does not hold the room subscribed."""
        room = self.rooms.get(room_id)
        if room is None or not room.ready.is_set():
            return None
        return room, room.closings

    def closing_since(self, mark: tuple[LocalRoom, int] | None) -> bool:
        """Whether a closing notice may have come for the room since ``mark`` was taken: one
        came, or the room was dropped or its subscription lost meanwhile, or there is no mark.
        A joining viewer is on none of the room's lists until ``join``, so such a notice
        would have missed it; when this says no, any kick stored since reaches it after
        ``join``, and the handshake need not ask the store again. A notice lost with the
        engine's subscription before the node sees the loss (the reconnect's resync moves the
        mark) misses a joining viewer as it misses the viewers already in the room."""
        if mark is None:
            return True
        room, seen = mark
        return self.rooms.get(room.id) is not room or room.closings != seen

    def _receive(self, room_id: str, payload: bytes) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.receive(payload)

    def join(self, room: LocalRoom, viewer: Viewer, have: Stream) -> LocalRoom:
        """Add a viewer that already holds every event of epoch ``have.epoch`` up to offset
        ``have.head``.

        Returns the room the viewer joined: if the pulse dropped ``room`` (idle) while the
        viewer was getting its snapshot, the viewer goes to the room's current local room, or
        the dropped one is taken back and subscribed again, filling the gap from history.
        """
        current = self.rooms.get(room.id)
        if current is None:
            self.rooms[room.id] = room
            self.spawn(self._revive(room))
        elif current is not room:
            room = current
        viewer.room = room
        viewer.offset, viewer.epoch = have.head, have.epoch
        room.joining.append(viewer)
        room.seat(viewer)
        room.idle_since = 0.0
        self.mark(room)
        return room

    async def _revive(self, room: LocalRoom) -> None:
        try:
            await self.engine.subscribe(room.id, self._receive)
        except EngineUnavailable:
            return  # the engine's reconnect resubscribes and resyncs every held room
        room.resync_from_engine()

    def leave(self, viewer: Viewer) -> None:
        room = viewer.room
        viewer.left = True
        if room is None:
            return
        if viewer in room.viewers:  # not while still joining: then it is on no list
            room.send_list.drop(viewer)
        if viewer in room.joining:
            room.joining.remove(viewer)
        room.unseat(viewer)
        viewer.room = None
        if room.size == 0:
            room.idle_since = time.monotonic()

    def evict(self, viewer: Viewer, code: int, reason: str = "") -> None:
        """Take ``viewer`` out of its room, then close its connection with ``code``."""
        self.leave(viewer)
        viewer.close(code, reason)

    def close_slow(self, viewers: list[Viewer]) -> None:
        """Close slow consumers (4008): their clients reconnect and resume from their offset."""
        for viewer in viewers:
            metrics.SLOW_CLOSES.inc()
            self.evict(viewer, CloseCode.SLOW_CONSUMER, "slow consumer")

    async def catch_up(self, viewer: Viewer, room: LocalRoom) -> None:
        """A joining viewer fell behind the ring: replay it history in pieces
        (``liveroom.replay``), then let the flush finish."""
        try:
            replay = await self.replays.replay(room.id, viewer)
        except EngineUnavailable:
            viewer.catching = False
            return  # it stays joining, holding what was sent; the next flush goes on from there
        if viewer.left:
            return
        if not replay.complete:
            viewer.send(frame([event("resync", offset=replay.head, epoch=replay.epoch)]))
            self.evict(viewer, CloseCode.SERVICE_RESTART, "resync")
            return
        viewer.catching = False
        self.mark(room)

    # ------------------------------------------------------------------ timing

    def mark(self, room: LocalRoom, critical: bool = False) -> None:
        self.dirty.add(room)
        if critical and self._flush_soon is None:
            self._flush_soon = asyncio.get_running_loop().call_soon(self._flush_critical)

    def _flush_critical(self) -> None:
        self._flush_soon = None
        self.flush_all()

    def flush_all(self) -> None:
        dirty, self.dirty = self.dirty, set()
        self.tick_at = time.monotonic()
        for room in dirty:
            try:
                room.flush()
            except Exception:
                log.exception("flush of room %s failed", room.id)
        # once per tick, not per room: the counters take a lock each time
        if self.frames_out:
            metrics.FRAMES_OUT.inc(self.frames_out)
            metrics.EVENTS_OUT.inc(self.events_out)
            self.frames_out = self.events_out = 0

    def next_tick_at(self) -> float:
        """When the next tick is due, on the event loop's clock (also where a test gives the
        tick a clock of its own); infinity before the ticks start. The gather's read hold ends
        by then (``connection/gather.py``)."""
        return self._tick_due

    async def _tick_loop(self) -> None:
        """Flush the rooms with something to send on a fixed cadence.

        Tick k is due at ``start + k * tick``, however long the flushes take: a room delivers
        1000 / ``tick_ms`` frames a second whenever its flush fits in the tick. When the flushes
        run past the next due time (an overrun), the slots passed over are counted, what waits
        is flushed once right away, and the ticks after that keep their places on the grid.
        """
        loop_time = asyncio.get_running_loop().time
        clock = self.clock or loop_time
        due = self._tick_due = clock() + self.tick
        if self.clock is not None:
            self._tick_due = loop_time() + self.tick
        while True:
            await self.sleep(due - clock())
            self._read_events()
            if self.dirty:
                self.flush_all()
            now = clock()
            due, missed = next_tick(due, now, self.tick)
            # ``next_tick_at`` answers on the loop's clock, whatever the tick's
            self._tick_due = due if self.clock is None else loop_time() + (due - now)
            if missed:
                metrics.TICK_OVERRUNS.inc(missed)
                await self.sleep(0)  # let the readers in, then the late flush
                self._read_events()
                if self.dirty:
                    self.flush_all()
            if self.after_tick is not None:
                try:
                    self.after_tick()
                except Exception:  # the ticks go on whatever the hook does
                    log.exception("the hook after the tick failed")

    def _read_events(self) -> None:
        """What the engine held for the tick (``RedisEngine.read_events``). A failure there is
        the engine's to recover from (its connection is made again); the ticks go on."""
        try:
            self.engine.read_events()
        except Exception:
            log.exception("reading the engine's room events failed")

    async def _pulse_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.pulse_s)
            await self.pulse()

    async def pulse(self) -> None:
        """One heartbeat of every local room, in one round to the engine.

        Laggards are closed, idle rooms past their grace are dropped, and the others report
        their viewers and likes in one ``pulse_many``; the totals that changed go to viewers as
        ``stats``. If the engine is down, the likes wait for the next pulse.
        """
        started = time.monotonic()
        rooms: list[LocalRoom] = []
        for room in list(self.rooms.values()):
            room.close_laggards(started)
            # ``idle_since`` first: it is 0 in a room with viewers, which then needs no size
            # here (reading one touches the room's viewer set and joining list, out of the
            # caches by now)
            if (
                room.idle_since
                and room.size == 0
                and started - room.idle_since > UNSUBSCRIBE_GRACE_S
            ):
                with contextlib.suppress(EngineUnavailable):
                    await self._drop(room)
                continue
            rooms.append(room)
        reports = []
        for room in rooms:  # sizes read after every drop's round trip, as fresh as they come
            reports.append((room.id, room.size, room.likes))
            room.likes = 0
        try:
            pulses = await self.engine.pulse_many(self.node, reports) if reports else []
        except EngineUnavailable:
            for room, (_, _, likes) in zip(rooms, reports, strict=True):
                room.likes += likes  # keep them for the next pulse
            return
        finally:
            metrics.PULSE_SECONDS.set(time.monotonic() - started)
        callbacks = self.on_pulse
        for room, pulse in zip(rooms, pulses, strict=True):
            if pulse != room.stats:  # (online, peak, likes), as a tuple or a ``Pulse``
                room.stats = pulse
                online, peak, likes = pulse
                room.add_state("stats", event("stats", online=online, peak=peak, likes=likes))
            if callbacks:
                for callback in callbacks:
                    callback(room)

    async def _drop(self, room: LocalRoom) -> None:
        if room.size:
            return
        self.rooms.pop(room.id, None)
        room.closings += 1  # unsubscribed from here on: ``closing_since``
        self.dirty.discard(room)
        await self.engine.unsubscribe(room.id)
        await self.engine.leave(room.id, self.node)

    def _engine_back(self) -> None:
        for room in self.rooms.values():
            room.resync_from_engine()

    def shutdown(self, code: int = CloseCode.SERVICE_RESTART, reason: str = "restart") -> None:
        """Tell every viewer to reconnect elsewhere."""
        self.flush_all()
        for room in list(self.rooms.values()):
            for viewer in (*room.viewers, *room.joining):
                self.evict(viewer, code, reason)
