"""The hub: this node's viewers per room, tick batching, and encode-once fan-out.

Room events reach the hub from the engine (``_receive``), in offset order. Per room they collect
for one tick (``Settings.tick_ms``) and then go out as one frame: the JSON array is joined from the
events' stored bytes, wrapped once as a WebSocket frame, and that same ``bytes`` object is written
to every viewer's transport. A checked flush looks at each viewer's outgoing buffer and
remembers who is under the bound; the flushes after it are one call per viewer and nothing else:
the socket's own ``send`` for viewers whose ``DirectOut`` buffer was empty (see
``liveroom.transport``), made for the whole list from one C loop (``liveroom._sendall``), and
the transport's ``write`` for the others. A buffer behind ``write`` grows unseen, so while any
viewer is on that list the flush checks again every ``CHECK_EVERY`` flushes. A ``send`` that the
kernel cuts short is counted (``DirectOut.shorts``), which makes the next flush a checked one;
so when every viewer is on the ``send`` list, only that, the pulse (which looks at every buffer
once a second) finding one over the bound, or a viewer joining or leaving brings a check. With
the C loop, joins and leaves do not: a viewer leaving is blanked in place (-1 in the descriptor
array) and one joining with nothing queued is appended, until the blanks pile up. Viewers
over the bound skip comment frames and are closed if they stay over (slow consumers).

A viewer enters a room "joining" from a known offset (its snapshot's, or the one it resumes
from). At each flush the hub brings it level, from the batch or the ring of recent events, and
only then moves it to the room's viewer list, so nobody sees an event twice or misses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from liveroom import metrics
from liveroom.engine.base import Engine
from liveroom.errors import CloseCode, EngineUnavailable
from liveroom.protocol import event, frame, offset_of, ws_text_frame
from liveroom.transport import DirectOut

SendAll = Callable[["array[int]", bytes], "list[tuple[int, int]] | None"]
c_send_all: SendAll | None
try:  # the fan-out's send loop in C (liveroom/_sendall.c), built at install where it can be
    from liveroom._sendall import send_all as c_send_all
except ImportError:  # pragma: no cover - no C compiler at install: the loop in Python
    c_send_all = None

log = logging.getLogger("liveroom.hub")

RING = 512  # recent events kept per room, to bring joining viewers level without Redis
#: flushes between two checks of every viewer's outgoing buffer; in between, a flush is one
#: write call per viewer (``LocalRoom._write_fast``)
CHECK_EVERY = 8
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


class Viewer:
    """One connection as the hub sees it."""

    __slots__ = ("link", "out", "user", "room", "slow_since", "offset", "left", "catching")

    def __init__(self, link: Any, user: str) -> None:
        self.link = link
        self.out = link.out
        self.user = user
        self.room: LocalRoom | None = None
        self.slow_since = 0.0
        self.offset = 0  # while joining: the newest offset this viewer already has
        self.left = False
        self.catching = False

    def send(self, payload: bytes) -> None:
        """Send a private frame (reply, snapshot, notice) to this viewer alone."""
        if not self.left:
            self.link.send(payload)

    def close(self, code: int, reason: str = "") -> None:
        self.link.close(code, reason)


class LocalRoom:
    """This node's share of one room."""

    def __init__(self, hub: Hub, room: str) -> None:
        self.hub = hub
        self.id = room
        self.viewers: set[Viewer] = set()
        self.joining: list[Viewer] = []
        # the fast path, from the last check of every buffer: ``sends`` holds the socket of
        # each viewer whose DirectOut had nothing queued, ``writes`` the bound
        # ``write`` of the others under the bound, ``lagging`` the viewers over it. ``writes``
        # is None when ``viewers`` changed since.
        self.sends: list[socket.socket] = []
        self.fds = array("i")  # the descriptors of ``sends``, for the C send loop
        self.slots: dict[int, int] | None = None  # descriptor -> its index in ``fds``, on demand
        self.blanks = 0  # slots of ``fds`` set to -1 since the last check
        self.releases = 0  # DirectOut.releases when ``fds`` was last brought up to date
        self.writes: list[Callable[[bytes], None]] | None = None
        self.lagging: list[Viewer] = []
        self.unchecked = 0  # flushes left before the next buffer check of every viewer
        self.shorts = 0  # DirectOut.shorts at the last check
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
        # --- once per frame: join the stored event bytes and build the WebSocket frame
        wire = ws_text_frame(frame(batch + state) if state else frame(batch))
        writes = self.writes
        if (
            writes is not None
            and self.shorts == DirectOut.shorts
            and (self.unchecked > 0 or not (writes or self.lagging))
            and self.blanks <= max(64, len(self.fds) >> 3)
        ):
            self.unchecked -= 1
            sent = self._send_fast(wire) + self._write_fast(writes, wire)
            recovered, slow = self._recheck(self.lagging, wire)
            sent += recovered
        else:
            sent, slow = self._write_checked(wire)
        metrics.FRAMES_OUT.inc(sent)
        metrics.EVENTS_OUT.inc(sent * (len(batch) + len(state)))
        if slow:
            self._handle_slow(slow, first, batch, state)
        if late:
            self.admit(late)

    def admit(self, viewers: list[Viewer]) -> None:
        """Move viewers into the shared fan-out. With the C loop, viewers whose sockets have
        nothing queued go straight onto the ``send`` list; otherwise the next flush checks every
        buffer and rebuilds the lists."""
        self.viewers.update(viewers)
        if not self._append(viewers):
            self.writes = None

    def _append(self, viewers: list[Viewer]) -> bool:
        """Add ``viewers`` to ``sends`` and ``fds`` in place, if the lists are current and each
        is a live ``DirectOut`` with nothing queued. Releases not yet blanked are blanked first:
        a new connection may hold a number released a moment ago, and must not be blanked in
        its stead."""
        if self.writes is None or self.hub.send_all is None or self.shorts != DirectOut.shorts:
            return False
        for viewer in viewers:
            out = viewer.out
            if not isinstance(out, DirectOut) or not out.live or out.get_write_buffer_size():
                return False
        self._blank_released()
        for viewer in viewers:
            sock = viewer.out.sock
            fd = sock.fileno()
            if self.slots is not None:
                self.slots[fd] = len(self.fds)
            self.sends.append(sock)
            self.fds.append(fd)
        return True

    def drop(self, viewer: Viewer) -> None:
        """``viewer``, one of ``viewers``, left. With the C loop, and when it was on the
        ``send`` list (or released, its slot blanked already), its slot is blanked in place;
        otherwise the next flush checks every buffer and rebuilds the lists."""
        out = viewer.out
        if (
            self.writes is None
            or self.hub.send_all is None
            or self.writes
            or not isinstance(out, DirectOut)
            or viewer in self.lagging
        ):
            self.writes = None
            return
        self._blank_released()  # a released socket's slot goes here
        if out.live:
            index = self._slots().pop(out.sock.fileno(), -1)
            if index < 0 or self.sends[index] is not out.sock:
                self.writes = None
                return
            self._blank(index)

    def _slots(self) -> dict[int, int]:
        """Descriptor -> its index in ``fds``, made on first need after a check."""
        if self.slots is None:
            self.slots = dict(zip(self.fds, range(len(self.fds)), strict=True))
        return self.slots

    def _blank(self, index: int) -> None:
        """Skip ``fds[index]`` from now on. A blank costs the C loop a skipped entry per flush:
        past 64 of them (and an eighth of the list) the next flush checks every buffer and
        rebuilds the lists (``flush``)."""
        self.fds[index] = -1
        self.blanks += 1

    def _write_checked(self, wire: bytes) -> tuple[int, list[Viewer]]:
        """Every viewer: a buffer check, then one write of the shared bytes. Remembers who was
        under the bound, and whose socket can take the next ``CHECK_EVERY - 1`` frames straight
        from ``send``, so that those flushes can skip the checks."""
        self.shorts = DirectOut.shorts
        self.releases = DirectOut.releases
        soft = self.hub.soft_limit
        sends: list[socket.socket] = []
        writes: list[Callable[[bytes], None]] = []
        slow: list[Viewer] = []
        for viewer in self.viewers:
            out = viewer.out
            try:
                queued = out.get_write_buffer_size()
                if queued > soft:
                    slow.append(viewer)
                    continue
                if queued or not isinstance(out, DirectOut) or not out.live:
                    out.write(wire)
                    writes.append(out.write)
                elif out.send_now(wire):
                    sends.append(out.sock)
                else:
                    continue
            except Exception:  # a transport closing under us: its session cleans up
                continue
            if viewer.slow_since:
                viewer.slow_since = 0.0
        self.sends, self.writes, self.lagging = sends, writes, slow
        if self.hub.send_all is not None:
            self.fds = array("i", [sock.fileno() for sock in sends])
            self.slots = None
            self.blanks = 0
        self.unchecked = CHECK_EVERY - 1
        return len(sends) + len(writes), slow

    def _send_fast(self, wire: bytes) -> int:
        """--- once per viewer: ``send`` on the socket, and a look at what it took. A socket that
        took less than the frame gets the rest queued in uvloop (``DirectOut.behind``); that
        moves ``DirectOut.shorts``, so the next flush checks every buffer again. The list holds
        the socket objects themselves: one object touched per viewer, no bound method."""
        if self.hub.send_all is not None:
            return self._send_all(self.hub.send_all, wire)
        sends = self.sends
        size = len(wire)
        failed = 0
        owners: dict[socket.socket, DirectOut] = {}
        pending = iter(sends)
        while True:
            sock: socket.socket | None = None
            try:
                for sock in pending:
                    taken = sock.send(wire)
                    if taken != size:
                        self._owner(owners, sock).behind(wire, taken)
                return len(sends) - failed
            except BlockingIOError:  # the kernel took none of it
                with contextlib.suppress(Exception):
                    self._owner(owners, sock).behind(wire, 0)
            except Exception as exc:  # a connection going away: end it, its session cleans up
                failed += 1
                with contextlib.suppress(Exception):
                    self._owner(owners, sock).fail(exc)

    def _send_all(self, send_all: SendAll, wire: bytes) -> int:
        """--- once per viewer, in C: ``send`` to each descriptor of ``fds``, the GIL released
        once for all of them (``liveroom/_sendall.c``). Only the sockets that did not take the
        whole frame come back, with the bytes taken or the error, and are handled as in
        ``_send_fast``. ``fds`` holds numbers, not sockets: a socket released since they were
        taken (its connection is going, and uvloop may close the number and hand it to the
        next connection) is blanked first, so that nothing reaches a stranger."""
        self._blank_released()
        misses = send_all(self.fds, wire)
        if misses is None:
            return len(self.sends)
        failed = 0
        owners: dict[socket.socket, DirectOut] = {}
        fds = self.fds
        for index, result in misses:
            if fds[index] < 0:  # blanked: released, its connection already going
                failed += 1
                continue
            with contextlib.suppress(Exception):  # KeyError: its viewer left meanwhile
                out = self._owner(owners, self.sends[index])
                if result >= 0:
                    out.behind(wire, result)
                    continue
                out.fail(OSError(-result, os.strerror(-result)))
            failed += 1
        return len(self.sends) - failed

    def _blank_released(self) -> None:
        """Set to -1 (skipped by the C loop) each descriptor of ``fds`` released since they
        were taken: looked up in ``slots``, made on the first release after a check, so that a
        release anywhere in the process costs a room one lookup. Should more have been
        released than ``DirectOut.released`` remembers, every slot of a released socket is
        blanked instead. Nothing to do (the usual case) when no socket was released since."""
        new = DirectOut.releases - self.releases
        if not new:
            return
        self.releases = DirectOut.releases
        fds = self.fds
        if new > len(DirectOut.released):
            self.slots = None
            for index, sock in enumerate(self.sends):
                if sock.fileno() < 0 and fds[index] >= 0:
                    self._blank(index)
        else:
            slots = self._slots()
            for fd in itertools.islice(reversed(DirectOut.released), new):
                index = slots.pop(fd, -1)
                if index >= 0:
                    self._blank(index)

    def _owner(
        self, owners: dict[socket.socket, DirectOut], sock: socket.socket | None
    ) -> DirectOut:
        """The DirectOut of ``sock``: a rare question (a send that went wrong), so the map is
        built on the first one of a flush. KeyError if its viewer left meanwhile."""
        if not owners:
            for viewer in self.viewers:
                out = viewer.out
                if isinstance(out, DirectOut):
                    owners[out.sock] = out
        return owners[sock]  # type: ignore[index]

    @staticmethod
    def _write_fast(writes: list[Callable[[bytes], None]], wire: bytes) -> int:
        """--- once per viewer: one call, nothing else. A buffer grows by one frame a flush at
        most, so checking every ``CHECK_EVERY`` flushes keeps it far below the hard bound."""
        failed = 0
        pending = iter(writes)
        while True:
            try:
                for write in pending:
                    write(wire)
                return len(writes) - failed
            except Exception:  # a transport closing under us: skip it, go on with the rest
                failed += 1

    def _recheck(self, lagging: list[Viewer], wire: bytes) -> tuple[int, list[Viewer]]:
        """Viewers over their bound at the last check: the ones that drained get the frame (and
        the fast list is rebuilt next flush); the rest are still slow. Returns frames written
        and the viewers still slow."""
        soft = self.hub.soft_limit
        still: list[Viewer] = []
        written = 0
        for viewer in lagging:
            if viewer.left:
                continue
            if viewer.out.get_write_buffer_size() > soft:
                still.append(viewer)
                continue
            try:
                viewer.out.write(wire)
                written += 1
            except Exception:  # a transport closing under us: its session cleans up
                pass
            viewer.slow_since = 0.0
            self.writes = None
        self.lagging = still
        return written, still

    def _handle_slow(
        self, slow: list[Viewer], first: int, batch: list[bytes], state: list[bytes]
    ) -> None:
        """Viewers over their buffer bound: state wins, comments are skipped, laggards closed."""
        hub = self.hub
        now = time.monotonic()
        kept = [p for p in batch if type_of(p) != b"comment"]
        skipped = len(batch) - len(kept)
        marker = [event("skipped", **{"from": first + 1, "to": self.flushed, "count": skipped})]
        wire = ws_text_frame(frame(kept + state + (marker if batch else [])))
        for viewer in slow:
            if not viewer.slow_since:
                viewer.slow_since = now
            size = viewer.out.get_write_buffer_size()
            if size > hub.hard_limit or now - viewer.slow_since > hub.settings.slow_grace_s:
                metrics.SLOW_CLOSES.inc()
                hub.leave(viewer)
                viewer.close(CloseCode.SLOW_CONSUMER, "slow consumer")
                continue
            metrics.SKIPPED.inc(skipped)
            with contextlib.suppress(Exception):
                viewer.out.write(wire)

    async def _reload_info(self) -> None:
        with contextlib.suppress(EngineUnavailable):
            info = await self.hub.engine.room_info(self.id)
            if info is not None:
                self.info = info

    def end(self) -> None:
        """The host ended the room: every local viewer is closed with 4010 (do not retry)."""
        for viewer in [*self.viewers, *self.joining]:
            self.hub.leave(viewer)
            viewer.close(CloseCode.ROOM_ENDED, "room ended")

    def close_laggards(self) -> None:
        """Once a pulse: find viewers over their bound (a quiet room has no flush to notice),
        and close those still over it past the grace."""
        hub = self.hub
        soft = hub.soft_limit
        now = time.monotonic()
        for viewer in list(self.viewers):
            if viewer.out.get_write_buffer_size() <= soft:
                viewer.slow_since = 0.0
            elif not viewer.slow_since:
                viewer.slow_since = now
                self.writes = None  # the next flush checks every buffer again
            elif now - viewer.slow_since > hub.settings.slow_grace_s:
                metrics.SLOW_CLOSES.inc()
                hub.leave(viewer)
                viewer.close(CloseCode.SLOW_CONSUMER, "slow consumer")

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
        #: ``send_loop`` is "python"
        self.send_all: SendAll | None = c_send_all if settings.send_loop != "python" else None
        if settings.send_loop == "c" and c_send_all is None:
            raise RuntimeError("send_loop is c but liveroom._sendall was not built at install")
        self.hard_limit = settings.outgoing_hard_kb * 1024
        self.tick = settings.tick_ms / 1000
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._flush_soon: asyncio.Handle | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.on_pulse: list[Callable[[LocalRoom], Any]] = []

    async def open(self) -> None:
        log.info("fan-out send loop: %s", "C" if self.send_all is not None else "Python")
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
            room.viewers.remove(viewer)
            room.drop(viewer)
        if viewer in room.joining:
            room.joining.remove(viewer)
        viewer.room = None
        if room.size == 0:
            room.idle_since = time.monotonic()
        metrics.VIEWERS.set(self.viewer_count())

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
            self.leave(viewer)
            viewer.close(CloseCode.SERVICE_RESTART, "resync")
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
                self.leave(viewer)
                viewer.close(code, reason)
