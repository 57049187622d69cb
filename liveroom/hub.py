"""The hub: this node's rooms, their events in offset order, and who gets them when.

Room events reach the hub from the engine (``Hub._receive``), in offset order: a repeat is
dropped, a gap is filled from history before anything after it goes out. Per room they collect
for one tick (``Settings.tick_ms``; critical events at once) and then go out as one frame: the
JSON array is joined from the events' stored bytes and framed once, and the room's ``SendList``
(``liveroom.fanout``) hands those same bytes to every viewer. Viewers over their buffer bound
skip comment frames and are closed if they stay over (slow consumers).

A viewer enters a room "joining" from a known offset (its snapshot's, or the one it resumes
from). At each flush the hub brings it level, from the batch or the ring of recent events, and
only then moves it to the room's fan-out, so nobody sees an event twice or misses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from liveroom import fanout, metrics
from liveroom.engine.base import Engine
from liveroom.errors import CloseCode, EngineUnavailable
from liveroom.fanout import CHECK_EVERY, SendList
from liveroom.protocol import event, frame, offset_of, ws_text_frame

__all__ = ["CHECK_EVERY", "CATCHUP_CHUNK", "Hub", "LocalRoom", "Viewer"]

log = logging.getLogger("liveroom.hub")

RING = 512  # recent events kept per room, to bring joining viewers level without Redis
CATCHUP_CHUNK = 200  # events per catch-up frame
UNSUBSCRIBE_GRACE_S = 5.0
#: the core's event types flushed at once instead of waiting for the tick; features add theirs
#: (``Feature.critical_events``) to ``Hub.critical``
CRITICAL = frozenset({b"resync"})


def type_of(payload: bytes) -> bytes:
    """The ``type`` of a stored room event: it follows the offset (see protocol.room_event_body)."""
    start = payload.find(b'"type":"')
    if start < 0:
        return b""
    start += 8
    return payload[start : payload.index(b'"', start)]


class Link(Protocol):
    """What the hub needs of a viewer's connection (``liveroom.connection``)."""

    @property
    def out(self) -> Any:
        """Where room frames go: an ``Out`` (whole frames) or a ``PayloadOut`` (payloads)."""

    def send(self, payload: bytes) -> None:
        """Frame and send ``payload`` to this connection alone."""

    def close(self, code: int, reason: str = "") -> None:
        """End the connection with a Close frame."""

    def forget(self) -> None:
        """The viewer's session is over: the connection lets go of it."""


class Viewer:
    """One connection as the hub sees it."""

    __slots__ = ("conn", "out", "user", "room", "slow_since", "offset", "left", "catching")

    def __init__(self, conn: Link, user: str) -> None:
        self.conn = conn
        self.out = conn.out
        self.user = user
        self.room: LocalRoom | None = None
        self.slow_since = 0.0
        self.offset = 0  # while joining: the newest offset this viewer already has
        self.left = False
        self.catching = False

    def send(self, payload: bytes) -> None:
        """Send a private frame (reply, snapshot, notice) to this viewer alone."""
        if not self.left:
            self.conn.send(payload)

    def close(self, code: int, reason: str = "") -> None:
        """Close the connection. To take the viewer out of its room first: ``Hub.evict``."""
        self.conn.close(code, reason)


class LocalRoom:
    """This node's share of one room."""

    def __init__(self, hub: Hub, room: str) -> None:
        self.hub = hub
        self.id = room
        #: who gets the room's frames, and how (``liveroom.fanout``)
        settings = hub.settings
        self.send_list: SendList[Viewer] = SendList(
            hub.send_all, hub.soft_limit, hub.hard_limit, settings.slow_grace_s
        )
        self.viewers = self.send_list.viewers  # in the fan-out: ``admit`` adds, ``Hub.leave`` drops
        self.joining: list[Viewer] = []  # waiting to be brought level (``_level_joining``)
        self.state_version = 0  # counts state events (stats, counts): see Rooms.snapshot
        self.pending: list[bytes] = []
        self.state: dict[str, bytes] = {}
        self.ring: deque[bytes] = deque(maxlen=RING)
        self.last_offset: int | None = None  # newest offset received; None until subscribed
        self.flushed = 0  # newest offset sent out
        self.early: list[bytes] = []  # events received before last_offset is known
        self.filling = False
        self.likes = 0
        self.stats: tuple[int, int, int] = (-1, -1, -1)
        self.ready = asyncio.Event()
        self.idle_since = 0.0
        self.info: dict[str, Any] = {}

    @property
    def size(self) -> int:
        return len(self.viewers) + len(self.joining)

    # ------------------------------------------------------------------ intake

    def receive(self, payload: bytes) -> None:
        """An event from the engine. Drops repeats; a gap is filled from history first."""
        if payload[:1] == b"@":
            self._private(payload)
            return
        if self.last_offset is None or self.filling:
            self.early.append(payload)
            return
        offset = offset_of(payload)
        if offset <= self.last_offset:
            return
        if offset > self.last_offset + 1:
            self.early.append(payload)
            self._fill_gap()
            return
        self._accept(offset, payload)

    def _accept(self, offset: int, payload: bytes) -> None:
        self.last_offset = offset
        self.pending.append(payload)
        kind = type_of(payload)
        ending = False
        if kind == b"room":
            # the event carries the public settings only; comment rules need the full ones
            with contextlib.suppress(Exception):
                ending = bool(orjson.loads(payload).get("room", {}).get("ended"))
            self.hub.spawn(self._reload_info())
        self.hub.mark(self, critical=ending or kind in self.hub.critical)
        if ending:  # after the flush that carries the news, close everyone with 4010
            asyncio.get_running_loop().call_soon(self.end)

    def _private(self, payload: bytes) -> None:
        user, _, body = payload[1:].partition(b"\n")
        name = user.decode()
        for viewer in (*self.viewers, *self.joining):
            if viewer.user == name:
                viewer.send(frame([body]))

    def start(self, head: int) -> None:
        """Subscribed; ``head`` was read after the subscription took hold."""
        self.last_offset = max(head, self.last_offset or 0)
        self.flushed = self.last_offset
        self._drain_early()
        self.ready.set()

    def _drain_early(self) -> None:
        early, self.early = self.early, []
        for payload in early:
            self.receive(payload)

    def _fill_gap(self) -> None:
        if self.filling:
            return
        self.filling = True
        self.hub.spawn(self._fill())

    async def _fill(self) -> None:
        delay = 0.05
        while True:
            try:
                after = self.last_offset or 0
                history = await self.hub.engine.history(
                    self.id, after, self.hub.settings.history_len
                )
                break
            except EngineUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.filling = False
        if history.complete:
            for payload in history.events:
                offset = offset_of(payload)
                if self.last_offset is None or offset > self.last_offset:
                    self._accept(offset, payload)
        else:
            # Too far behind to fill: tell every viewer to resume, which gives them a reset
            # snapshot if their own offset is gone too.
            metrics.RESYNCS.inc()
            log.warning(
                "room %s: gap after %s cannot be filled; viewers told to resync",
                self.id,
                self.last_offset,
            )
            self.last_offset = history.head
            self.pending.clear()
            self.ring.clear()
            self.state["resync"] = event("resync", offset=history.head)
            self.flushed = history.head
            self.hub.mark(self, critical=True)
        self._drain_early()

    def resync_from_engine(self) -> None:
        """After the engine reconnected: fetch whatever was published while we were away."""
        if self.last_offset is not None:
            self._fill_gap()

    # ------------------------------------------------------------------ fan-out

    def flush(self) -> None:
        """Send this tick's events to every viewer. The hot path of the server."""
        batch = self.pending
        first = self.flushed
        if batch:
            self.pending = []
            self.ring.extend(batch)
            self.flushed = offset_of(batch[-1])
        state = list(self.state.values())
        self.state.clear()
        late = self._level_joining(first, state) if self.joining else None
        if not batch and not state:
            if late:
                self.admit(late)
            return
        # --- once per frame: join the stored event bytes and frame them, once for every viewer
        payload = frame(batch + state) if state else frame(batch)
        sent, slow = self.send_list.send(payload, ws_text_frame(payload))
        metrics.FRAMES_OUT.inc(sent)
        metrics.EVENTS_OUT.inc(sent * (len(batch) + len(state)))
        if slow:
            self._handle_slow(slow, first, batch, state)
        if late:
            self.admit(late)

    def admit(self, viewers: list[Viewer]) -> None:
        """Move viewers into the shared fan-out (see ``SendList.admit``)."""
        self.send_list.admit(viewers)

    def _handle_slow(
        self, slow: list[Viewer], first: int, batch: list[bytes], state: list[bytes]
    ) -> None:
        """Viewers over their buffer bound: state wins, comments are skipped, laggards closed."""
        kept = [p for p in batch if type_of(p) != b"comment"]
        skipped = len(batch) - len(kept)
        marker = [event("skipped", **{"from": first + 1, "to": self.flushed, "count": skipped})]
        payload = frame(kept + state + (marker if batch else []))
        over = self.send_list.slow(slow, payload, ws_text_frame(payload), time.monotonic())
        metrics.SKIPPED.inc(skipped * (len(slow) - len(over)))
        self.hub.close_slow(over)

    async def _reload_info(self) -> None:
        with contextlib.suppress(EngineUnavailable):
            info = await self.hub.engine.room_info(self.id)
            if info is not None:
                self.info = info

    def end(self) -> None:
        """The host ended the room: every local viewer is closed with 4010 (do not retry)."""
        for viewer in [*self.viewers, *self.joining]:
            self.hub.evict(viewer, CloseCode.ROOM_ENDED, "room ended")

    def close_laggards(self) -> None:
        """Once a pulse: close the viewers over their bound past the grace (``laggards``)."""
        self.hub.close_slow(self.send_list.laggards(time.monotonic()))

    def _level_joining(self, first: int, state: list[bytes]) -> list[Viewer]:
        """Bring joining viewers level with this flush.

        A viewer holding exactly ``first`` takes the shared frame. One behind or inside the batch
        gets the events it lacks from the ring in a frame of its own, and joins the shared list
        after this flush (returned). One ahead of what reached this node waits.
        """
        last = self.flushed
        waiting: list[Viewer] = []
        late: list[Viewer] = []
        for viewer in self.joining:
            have = viewer.offset
            if have > last:
                waiting.append(viewer)  # its snapshot is ahead of what reached us: wait
                continue
            if have == first:
                self.admit([viewer])  # the shared frame is exactly what it needs
                continue
            # the ring holds the contiguous offsets ring_first..last
            ring_first = last - len(self.ring) + 1
            if have + 1 < ring_first:
                waiting.append(viewer)
                if not viewer.catching:
                    viewer.catching = True
                    self.hub.spawn(self.hub.catch_up(viewer, self))
                continue
            missing = list(itertools.islice(self.ring, have + 1 - ring_first, None))
            chunks = [missing[i : i + CATCHUP_CHUNK] for i in range(0, len(missing), CATCHUP_CHUNK)]
            chunks = chunks or [[]]
            chunks[-1] = chunks[-1] + state
            for chunk in chunks:
                if chunk:
                    viewer.send(frame(chunk))
            late.append(viewer)
        self.joining = waiting
        if waiting:
            self.hub.dirty.add(self)  # look again next tick
        metrics.VIEWERS.set(self.hub.viewer_count())
        return late

    def add_state(self, key: str, payload: bytes) -> None:
        self.state[key] = payload
        self.state_version += 1  # a snapshot built before this is stale for new joiners
        self.hub.mark(self)


class Hub:
    """All local rooms of this node. Opened in the app's lifespan."""

    def __init__(self, engine: Engine, settings: Any) -> None:
        self.engine = engine
        self.settings = settings
        self.node = settings.node_id
        self.rooms: dict[str, LocalRoom] = {}
        self.dirty: set[LocalRoom] = set()
        #: event types flushed at once: the core's and, once the node adds them, its features'
        self.critical: frozenset[bytes] = CRITICAL
        self.soft_limit = settings.outgoing_soft_kb * 1024
        #: the fan-out's send loop: C (``liveroom._sendall``) unless built without it or
        #: ``send_loop`` is "python" (``liveroom.sendall``)
        self.send_all = fanout.send_loop(settings.send_loop)
        self.hard_limit = settings.outgoing_hard_kb * 1024
        self.tick = settings.tick_ms / 1000
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._flush_soon: asyncio.Handle | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.on_pulse: list[Callable[[LocalRoom], Any]] = []

    async def open(self) -> None:
        log.info("fan-out send loop: %s", fanout.loop_name(self.send_all))
        self._loops = [
            asyncio.create_task(self._tick_loop(), name="liveroom-tick"),
            asyncio.create_task(self._pulse_loop(), name="liveroom-pulse"),
        ]
        self.engine.add_reconnect_listener(self._engine_back)

    async def close(self) -> None:
        for task in (*self._loops, *self._tasks):
            task.cancel()
        for task in (*self._loops, *self._tasks):
            with contextlib.suppress(BaseException):
                await task
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
                    head = await self.engine.head(room_id)
                except BaseException:
                    if room.size == 0:
                        self.rooms.pop(room_id, None)
                    raise
                room.start(head)
        return room

    def _receive(self, room_id: str, payload: bytes) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.receive(payload)

    def join(self, room: LocalRoom, viewer: Viewer, have: int) -> LocalRoom:
        """Add a viewer that already holds every event up to offset ``have``.

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
        viewer.offset = have
        room.joining.append(viewer)
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
        viewer.room = None
        if room.size == 0:
            room.idle_since = time.monotonic()
        metrics.VIEWERS.set(self.viewer_count())

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
        """A joining viewer fell behind the ring: send it history, then let the flush finish."""
        try:
            history = await self.engine.history(room.id, viewer.offset, self.settings.history_len)
        except EngineUnavailable:
            viewer.catching = False
            return  # it stays joining; the next flush tries again
        if viewer.left:
            return
        if not history.complete:
            viewer.send(frame([event("resync", offset=history.head)]))
            self.evict(viewer, CloseCode.SERVICE_RESTART, "resync")
            return
        viewer.catching = False
        events = [p for p in history.events if offset_of(p) > viewer.offset]
        for start in range(0, len(events), CATCHUP_CHUNK):
            viewer.send(frame(events[start : start + CATCHUP_CHUNK]))
        if events:
            viewer.offset = offset_of(events[-1])
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
        for room in dirty:
            try:
                room.flush()
            except Exception:
                log.exception("flush of room %s failed", room.id)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            if self.dirty:
                self.flush_all()

    async def _pulse_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.pulse_s)
            for room in list(self.rooms.values()):
                await self._pulse(room)

    async def _pulse(self, room: LocalRoom) -> None:
        room.close_laggards()
        likes, room.likes = room.likes, 0
        try:
            if (
                room.size == 0
                and room.idle_since
                and (time.monotonic() - room.idle_since > UNSUBSCRIBE_GRACE_S)
            ):
                await self._drop(room)
                return
            pulse = await self.engine.pulse(room.id, self.node, room.size, likes)
        except EngineUnavailable:
            room.likes += likes  # keep them for the next pulse
            return
        stats = (pulse.online, pulse.peak, pulse.likes)
        if stats != room.stats:
            room.stats = stats
            room.add_state(
                "stats", event("stats", online=pulse.online, peak=pulse.peak, likes=pulse.likes)
            )
        for callback in self.on_pulse:
            callback(room)

    async def _drop(self, room: LocalRoom) -> None:
        if room.size:
            return
        self.rooms.pop(room.id, None)
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
