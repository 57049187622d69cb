"""One room as this node holds it: its events in offset order, its viewers, its flushes.

A ``LocalRoom`` takes the room's events from the engine (``receive``) in offset order: a repeat
is dropped, a gap is filled from history before anything after it goes out. Per tick its
``flush`` joins the batch's stored bytes into one frame and hands that frame to every viewer
through the room's ``SendList`` (``liveroom.fanout``). Joining viewers are brought level from
the batch or the ring of recent events before they enter the shared fan-out.

Offsets count within the stream's epoch (``liveroom.engine.base``). The room follows one epoch
at a time, and moves to another only with a ``resync`` to every viewer, so that no connection
is ever handed an offset of one epoch as if it followed one of another. It moves when the engine
announces a new epoch (an epoch notice), when a fill finds the stream on another epoch, and when
it finds that the stream under its epoch lost events it already delivered: the head is below
them, or an event it sees again at an offset it holds is not the same event (a failover to a
replica that had not caught up). Then it rotates the epoch itself (``Engine.rotate``). These
checks are per room and per fill, never per viewer; a repeat is compared with the room's own
copy only on the rare path where a repeat arrives.

What a room needs of the node (spawning tasks, the tick's dirty set, evictions, catch-up from
history) is the ``RoomHost`` protocol; ``liveroom.hub.Hub`` is the one implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import orjson

from liveroom import metrics
from liveroom.engine.base import EPOCH_NOTICE, Engine, History, Stream, read_epoch_notice
from liveroom.errors import CloseCode, EngineUnavailable
from liveroom.fanout import SendAll, SendList
from liveroom.protocol import event, frame, offset_of, stamp_of, ws_text_frame

__all__ = ["CATCHUP_CHUNK", "CRITICAL", "RING", "Link", "LocalRoom", "RoomHost", "Viewer"]

log = logging.getLogger("liveroom.hub")

RING = 512  # recent events kept per room, to bring joining viewers level without Redis
CATCHUP_CHUNK = 200  # events per catch-up frame
#: the core's event types flushed at once instead of waiting for the tick; features add theirs
#: (``Feature.critical_events``) to ``Hub.critical``
CRITICAL = frozenset({b"resync"})
#: events of a frame looked at for its oldest chat event (``metrics.COMMENT_DELAYS``)
STAMPS_LOOKED_AT = 16
#: a room's frames are looked at for ``metrics.COMMENT_DELAYS`` at most this often, seconds:
#: a busy room's frame each tick would cost a comment path about 2% more
STAMP_EVERY_S = 0.25


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

    __slots__ = (
        "conn",
        "out",
        "user",
        "room",
        "slow_since",
        "offset",
        "epoch",
        "left",
        "catching",
    )

    def __init__(self, conn: Link, user: str) -> None:
        self.conn = conn
        self.out = conn.out
        self.user = user
        self.room: LocalRoom | None = None
        self.slow_since = 0.0
        self.offset = 0  # while joining: the newest offset this viewer already has
        self.epoch = ""  # while joining: the epoch of that offset
        self.left = False
        self.catching = False  # a task is bringing it level (history, or its epoch checked)

    def send(self, payload: bytes) -> None:
        """Send a private frame (reply, snapshot, notice) to this viewer alone."""
        if not self.left:
            self.conn.send(payload)

    def close(self, code: int, reason: str = "") -> None:
        """Close the connection. To take the viewer out of its room first: ``Hub.evict``."""
        self.conn.close(code, reason)


class RoomHost(Protocol):
    """What a local room needs of its node (``liveroom.hub.Hub``)."""

    engine: Engine
    settings: Any
    send_all: SendAll
    soft_limit: int
    hard_limit: int
    critical: frozenset[bytes]
    #: private event types after which their connections are closed, with the close code
    closing: dict[bytes, int]
    dirty: set[LocalRoom]
    #: event type -> callbacks ``(room, type, payload)`` run as a room takes such an event
    watchers: dict[bytes, list[Callable[[str, bytes, bytes], None]]]
    frames_out: int  # frames and events sent since the metrics were last counted
    #: held by each room's history read when filling a gap: after a Redis restart every room
    #: of the node fills at once, and the reads must not take every connection of the pool
    history_gate: asyncio.Semaphore
    events_out: int
    #: ``time.monotonic()`` as the current round of flushes began (``Hub.flush_all``)
    tick_at: float

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the node cancels on close."""

    def mark(self, room: LocalRoom, critical: bool = False) -> None:
        """``room`` has something to flush: at the next tick, or at once when critical."""

    def evict(self, viewer: Viewer, code: int, reason: str = "") -> None:
        """Take ``viewer`` out of its room and close its connection."""

    def close_slow(self, viewers: list[Viewer]) -> None:
        """Close viewers that stayed over their buffer bound."""

    async def catch_up(self, viewer: Viewer, room: LocalRoom) -> None:
        """Bring a joining viewer level from the engine's history (too far behind the ring)."""

    def viewer_count(self) -> int:
        """Viewers in every local room of this node."""


class LocalRoom:
    """This node's share of one room."""

    def __init__(self, hub: RoomHost, room: str) -> None:
        self.hub = hub
        self.id = room
        #: who gets the room's frames, and how (``liveroom.fanout``)
        settings = hub.settings
        self.send_list: SendList[Viewer] = SendList(
            hub.send_all, hub.soft_limit, hub.hard_limit, settings.slow_grace_s
        )
        self.viewers = self.send_list.viewers  # in the fan-out: ``admit`` adds, ``Hub.leave`` drops
        self.joining: list[Viewer] = []  # waiting to be brought level (``_level_joining``)
        #: user -> their viewer here, joining or in, or a list of them when the user has several
        #: connections here (``seat``): a notice to one user finds them without a pass over
        #: every viewer of the room
        self.users: dict[str, Viewer | list[Viewer]] = {}
        self.state_version = 0  # counts state events (stats, counts): see Rooms.snapshot
        self.pending: list[bytes] = []
        self.state: dict[str, bytes] = {}
        self.ring: deque[bytes] = deque(maxlen=RING)
        self.epoch = ""  # the stream's epoch that last_offset, ring and pending belong to
        self.last_offset: int | None = None  # newest offset received; None until subscribed
        #: times the room moved to a stream position without relaying the events before it
        #: (``_new_epoch``): what a feature learnt from relayed events may be stale since
        self.jumps = 0
        self.flushed = 0  # newest offset sent out
        self.early: list[bytes] = []  # events received before last_offset is known
        self.filling = False
        self.likes = 0
        self.stats: tuple[int, int, int] = (-1, -1, -1)
        self.ready = asyncio.Event()
        self.idle_since = 0.0
        self.info: dict[str, Any] = {}
        #: moves with every closing notice (a kick, say) the room takes, and whenever it may
        #: have missed one (dropped, or the engine reconnected): ``Hub.closing_since``
        self.closings = 0
        #: the hub's ``tick_at`` from which a frame is looked at for its comments' age again
        self.stamp_due = 0.0

    @property
    def size(self) -> int:
        return len(self.viewers) + len(self.joining)

    def seat(self, viewer: Viewer) -> None:
        """``viewer`` joined (``Hub.join``): find it by its user from now on."""
        users = self.users
        held = users.get(viewer.user)
        if held is None:
            users[viewer.user] = viewer
        elif isinstance(held, list):
            held.append(viewer)
        else:
            users[viewer.user] = [held, viewer]

    def unseat(self, viewer: Viewer) -> None:
        """``viewer`` left (``Hub.leave``)."""
        users = self.users
        held = users.get(viewer.user)
        if held is viewer:
            del users[viewer.user]
        elif isinstance(held, list) and viewer in held:
            held.remove(viewer)
            if len(held) == 1:
                users[viewer.user] = held[0]

    # ------------------------------------------------------------------ intake

    def receive(self, payload: bytes) -> None:
        """An event from the engine. Drops repeats; a gap is filled from history first."""
        private = payload[:1] == b"@"
        if private and payload[:2] != EPOCH_NOTICE:
            self._private(payload)
            return
        if self.last_offset is None or self.filling:
            self.early.append(payload)  # an epoch notice too: it is ordered with the events
            return
        if private:
            stream = read_epoch_notice(payload)
            if stream.epoch != self.epoch:
                self._new_epoch(stream)
            return
        offset = offset_of(payload)
        if offset <= self.last_offset:
            held = self._held(offset)
            if held is not None and held != payload:
                self._fill_gap(diverged=True)  # the offset was given out again: see _fill
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
        watchers = self.hub.watchers.get(kind)
        if watchers:  # a feature's bookkeeping (a lucky bag opened, say); rare event types only
            for watch in watchers:
                watch(self.id, kind, payload)
        ending = False
        if kind == b"room":
            # the event carries the public settings only; comment rules need the full ones
            with contextlib.suppress(Exception):
                ending = bool(orjson.loads(payload).get("room", {}).get("ended"))
            self.hub.spawn(self._reload_info())
        self.hub.mark(self, ending or kind in self.hub.critical)  # critical (positional: cheaper)
        if ending:  # after the flush that carries the news, close everyone with 4010
            asyncio.get_running_loop().call_soon(self.end)

    def _private(self, payload: bytes) -> None:
        user, _, body = payload[1:].partition(b"\n")
        name = user.decode()
        closing = self.hub.closing.get(type_of(body)) if self.hub.closing else None
        if closing is not None:
            self.closings += 1
        held = self.users.get(name)
        if held is None:
            return
        # (a copy: an eviction below unseats the viewer)
        for viewer in list(held) if isinstance(held, list) else (held,):
            viewer.send(frame([body]))
            if closing is not None:  # a kick, say: the event says why, then the close
                metrics.CLOSES.labels(str(closing)).inc()
                self.hub.evict(viewer, closing, type_of(body).decode())

    def start(self, stream: Stream) -> None:
        """Subscribed; ``stream`` was read after the subscription took hold."""
        self.epoch = stream.epoch
        self.last_offset = stream.head
        self.flushed = self.last_offset
        self._drain_early()
        self.ready.set()

    def _drain_early(self) -> None:
        early, self.early = self.early, []
        for payload in early:
            self.receive(payload)

    def _held(self, offset: int) -> bytes | None:
        """This room's copy of the event at ``offset`` (not yet flushed, or in the ring)."""
        if offset > self.flushed:
            index = offset - self.flushed - 1
            return self.pending[index] if index < len(self.pending) else None
        index = len(self.ring) - 1 - (self.flushed - offset)
        return self.ring[index] if index >= 0 else None

    def _fill_gap(self, diverged: bool = False) -> None:
        if self.filling:
            return
        self.filling = True
        self.hub.spawn(self._fill(diverged))

    async def _fill(self, diverged: bool) -> None:
        """Read what the room missed from history, checking that the stream is still the one
        this room has been delivering; events received meanwhile wait in ``early``.

        The stream has moved on without this room when its epoch is another (Redis lost it),
        or when under the same epoch it no longer holds what this room delivered: the head is
        below the room's last offset, or the event at that offset differs from the room's copy
        (``diverged``: a repeat that was not the same event). In the last two cases the stream
        lost events that viewers have (a failover to a replica that had not caught up), and
        its offsets would be given out again: the room rotates the epoch so that every node
        and every client holding the lost offsets starts afresh.
        """
        engine, limit = self.hub.engine, self.hub.settings.history_len
        history: History | None = None
        moved: Stream | None = None
        delay = 0.05
        while True:
            try:
                async with self.hub.history_gate:  # bounded: a whole node may resync at once
                    after = self.last_offset or 0
                    if not diverged:
                        # from one before: the event at ``after`` must still be the one we hold
                        held = self._held(after) if after else None
                        since = after - 1 if held is not None else after
                        history = await engine.history(self.id, since, limit, self.epoch)
                        if history.epoch == self.epoch and (
                            history.head < after
                            or (held is not None and history.complete and history.events[0] != held)
                        ):
                            diverged = True
                    if diverged:
                        moved = await engine.rotate(self.id, self.epoch)
                break
            except EngineUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.filling = False
        if moved is not None:
            log.warning(
                "room %s: epoch %s lost events up to offset %s; rotated to %s",
                self.id,
                self.epoch,
                self.last_offset,
                moved.epoch,
            )
            self._new_epoch(moved)
        elif history is not None and history.epoch != self.epoch:
            log.warning(
                "room %s: stream restarted (epoch %s, now %s)", self.id, self.epoch, history.epoch
            )
            self._new_epoch(Stream(history.epoch, history.head))
        elif history is not None and history.complete:
            self._take(history)
        elif history is not None:
            # Too far behind to fill: tell every viewer to resume, which gives them a reset
            # snapshot if their own offset is gone too.
            log.warning(
                "room %s: gap after %s cannot be filled; viewers told to resync",
                self.id,
                self.last_offset,
            )
            self._new_epoch(Stream(self.epoch, history.head))
        self._drain_early()

    def _take(self, history: History) -> None:
        for payload in history.events:
            offset = offset_of(payload)
            if self.last_offset is None or offset > self.last_offset:
                self._accept(offset, payload)

    def _new_epoch(self, stream: Stream) -> None:
        """Leave what this room delivered: from here on it follows ``stream`` (a new epoch, or
        the same one after a gap history cannot fill) from its head. Every viewer is told with a
        ``resync`` first, flushed at once: an event of the new stream taken right after (from
        ``early``) must not share its frame, where it would come before the ``resync``. A viewer
        still joining from another epoch is told when it is brought level (``_check_epoch``)."""
        metrics.RESYNCS.inc()
        self.jumps += 1
        self.epoch = stream.epoch
        self.last_offset = stream.head
        self.pending.clear()
        self.ring.clear()
        self.state["resync"] = event("resync", offset=stream.head, epoch=stream.epoch)
        self.flushed = stream.head
        self.flush()

    def resync_from_engine(self) -> None:
        """After the engine reconnected: fetch whatever was published while we were away
        (private notices are not kept: one may have been missed)."""
        self.closings += 1
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
            # ``_accept`` appends to ``pending`` and moves ``last_offset`` to the event's offset
            # together; ``pending`` is empty until ``start`` (events wait in ``early`` while
            # ``last_offset`` is None), and ``_new_epoch`` empties it as it moves ``last_offset``:
            # the batch ends at ``last_offset``
            self.flushed = self.last_offset  # type: ignore[assignment]
        held = self.state
        if held:  # (most flushes carry none: no list made, no call)
            state = list(held.values())
            held.clear()
        else:
            state = []
        late = self._level_joining(first, state) if self.joining else None
        if not batch and not state:
            if late:
                self.admit(late)
            return
        # --- once per frame: join the stored event bytes and frame them, once for every viewer
        payload = frame(batch + state) if state else frame(batch)
        sent, slow = self.send_list.send(payload, ws_text_frame(payload))
        hub = self.hub  # counted into the node's metrics once per tick (``Hub.flush_all``)
        hub.frames_out += sent
        hub.events_out += sent * (len(batch) + len(state))
        if batch and sent and hub.tick_at >= self.stamp_due:
            for stored in batch[:STAMPS_LOOKED_AT]:  # the frame's oldest chat event
                stamp = stamp_of(stored)
                if stamp is not None:
                    self.stamp_due = hub.tick_at + STAMP_EVERY_S
                    # wall clocks: another node's may be a little ahead of this one's
                    metrics.COMMENT_DELAYS.add(max(0.0, time.time() - stamp), sent)
                    break
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

    def close_laggards(self, now: float | None = None) -> None:
        """Once a pulse: close the viewers over their bound past the grace (``laggards``);
        ``now``: the pulse's ``time.monotonic()``, read once for all its rooms."""
        over = self.send_list.laggards(time.monotonic() if now is None else now)
        if over:
            self.hub.close_slow(over)

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
            if viewer.catching:
                # a replay from history is sending it pieces (``Hub.catch_up``), or its epoch is
                # being checked (``_check_epoch``): bringing it level meanwhile would send
                # events twice, or events of another epoch
                waiting.append(viewer)
                continue
            if viewer.epoch != self.epoch:
                waiting.append(viewer)  # its offset means nothing here until that is settled
                viewer.catching = True
                self.hub.spawn(self._check_epoch(viewer))
                continue
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
        return late

    async def _check_epoch(self, viewer: Viewer) -> None:
        """A joining viewer's snapshot or resume is of another epoch than this room's: either the
        room has not heard of the stream's new epoch yet (it fills, and finds it), or the stream
        moved on after the viewer's read (the viewer gets a ``resync`` of its own and joins at
        the room's offset). Anything else (the stream moving on again) is looked at again at
        the next flush."""
        try:
            stream = await self.hub.engine.head(self.id)
        except EngineUnavailable:
            stream = None
        viewer.catching = False
        if viewer.left or stream is None:
            self.hub.mark(self)
            return
        if stream.epoch == self.epoch:
            viewer.send(frame([event("resync", offset=self.flushed, epoch=self.epoch)]))
            viewer.offset, viewer.epoch = self.flushed, self.epoch
        elif stream.epoch == viewer.epoch:
            self._fill_gap()
        self.hub.mark(self)

    def add_state(self, key: str, payload: bytes) -> None:
        self.state[key] = payload
        self.state_version += 1  # a snapshot built before this is stale for new joiners
        self.hub.mark(self)
