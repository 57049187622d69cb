"""MemoryEngine: all shared state in this process's memory.

For one process only: it is the embedded default of ``liveroom serve`` and of tests, and needs
nothing installed. It does not share rooms between processes or survive a restart; use
``RedisEngine`` for that. Every operation is atomic because nothing here awaits in the middle.

A room's stream gets a random epoch when the room is first touched, so the offsets of a
restarted process are never taken for the ones its predecessor gave out.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from liveroom.engine.base import (
    POSTED,
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
    epoch_notice,
)
from liveroom.engine.coupons import MemoryCoupons
from liveroom.engine.outbox import MemoryOutbox, room_change
from liveroom.protocol import with_offset

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore


#: a user with no comment window: one that ended long ago
_NO_WINDOW = (0.0, 0)
#: the fewest entries a room's comment tables hold before they are swept
SWEEP_FLOOR = 256


def _sweep_windows(state: _Room, now: float, window_s: float) -> None:
    """Forget the comment windows that have ended, as Redis expires their keys, and sweep
    again when the table has twice the entries it kept (so a sweep costs a comment O(1)
    whatever the room's size; a plain dict never shrinks, so the kept ones get a new one)."""
    kept = {u: w for u, w in state.user_windows.items() if now - w[0] < window_s}
    state.user_windows = kept
    state.windows_swept_at = max(SWEEP_FLOOR, 2 * len(kept))


def _sweep_said(state: _Room, now: float) -> None:
    """``_sweep_windows`` for the duplicate keys: forget those whose window has passed."""
    kept = {key: until for key, until in state.said.items() if until > now}
    state.said = kept
    state.said_swept_at = max(SWEEP_FLOOR, 2 * len(kept))


def new_epoch() -> str:
    """A fresh random epoch: 12 characters of ``A-Z a-z 0-9 _ -``."""
    return secrets.token_urlsafe(9)


@dataclass(slots=True)
class _Room:
    history_len: int
    snapshot_len: int
    seq: int = 0
    epoch: str = field(default_factory=new_epoch)
    history: deque[tuple[float, bytes]] = field(default_factory=deque)
    comments: deque[bytes] = field(default_factory=deque)
    info: dict[str, Any] | None = None
    counters: dict[str, int] = field(default_factory=dict)
    muted: dict[str, float] = field(default_factory=dict)
    #: user -> (when their comment window began, comments in it); windows that ended are
    #: forgotten once the table outgrows ``windows_swept_at`` (``_sweep_windows``)
    user_windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    windows_swept_at: int = SWEEP_FLOOR
    #: (user, text key) of posted comments -> until when a repeat is a duplicate; forgotten as
    #: the windows are (``_sweep_said``)
    said: dict[tuple[str, str], float] = field(default_factory=dict)
    said_swept_at: int = SWEEP_FLOOR
    cap_due: float = 0.0
    nodes: dict[str, tuple[int, float]] = field(default_factory=dict)
    uniques: dict[str, set[str]] = field(default_factory=dict)


class MemoryEngine:
    """The single-process engine. Satisfies ``Engine``."""

    #: nothing here waits, so a command runs to its reply with no task (``tasks.start_in_place``)
    starts_in_place = True
    #: nothing comes back from a network either: the node may sleep through a command window
    holds_reads = True

    def __init__(self, settings: Any, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._rooms: dict[str, _Room] = {}
        self._handlers: dict[str, EventHandler] = {}
        # features keep their own tables here, keyed by feature name
        self.tables: dict[str, dict[str, Any]] = {}
        self.outbox = MemoryOutbox(clock, settings.feed_outbox_len, settings.feed_outbox_age_s)
        self.coupons = MemoryCoupons(self.emit_now)

    def store(self, memory: Callable[[MemoryHost], S], redis: Callable[[RedisCore], S]) -> S:
        return memory(self)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()

    def read_events(self) -> None:
        return None  # every event reaches its room as it is published

    async def ping(self) -> bool:
        return True

    def add_reconnect_listener(self, callback: Callable[[], None]) -> None:
        return None  # memory never disconnects

    def _room(self, room: str) -> _Room:
        state = self._rooms.get(room)
        if state is None:
            state = _Room(self.settings.history_len, self.settings.snapshot_comments)
            self._rooms[room] = state
        return state

    # ------------------------------------------------------------------ RoomBus

    async def publish(self, room: str, body: bytes) -> bytes:
        return self._append(room, body, is_comment=False)

    def publish_now(self, room: str, body: bytes) -> bytes:
        """``publish`` without awaiting, for feature tables that must stay atomic."""
        return self._append(room, body, is_comment=False)

    async def post_comment(
        self, room: str, user: str, body: bytes, rules: CommentRules, text_key: str = ""
    ) -> PostResult:
        state = self._room(room)
        now = self.clock()
        until = state.muted.get(user)
        if until is not None:
            if until > now:
                return PostResult(Posted.MUTED)
            del state.muted[user]
        said = state.said
        dedupe = (user, text_key) if text_key and rules.dedupe_window_s > 0 else None
        if dedupe is not None and said.get(dedupe, 0.0) > now:
            return PostResult(Posted.DUPLICATE)
        windows = state.user_windows
        start, count = windows.get(user, _NO_WINDOW)
        if now - start >= rules.user_window_s:
            start, count = now, 0
        if count >= rules.user_limit:
            return PostResult(Posted.RATE_LIMITED)
        windows[user] = (start, count + 1)
        if len(windows) > state.windows_swept_at:
            _sweep_windows(state, now, rules.user_window_s)
        status = POSTED
        if rules.hidden:
            status = Posted.HIDDEN
        elif rules.room_cap and not rules.priority:
            interval = 1.0 / rules.room_cap
            due = max(state.cap_due, now)  # when the cap is next free (GCRA's TAT)
            if due - now > (cap_burst(rules.room_cap) - 1) * interval + 1e-6:
                status = Posted.SHED
            else:
                state.cap_due = due + interval
        if dedupe is not None:
            said[dedupe] = now + rules.dedupe_window_s
            if len(said) > state.said_swept_at:
                _sweep_said(state, now)
        if status is POSTED:
            offset = state.seq + 1  # what ``_append`` gives it (its handler may publish more)
            # positional arguments here and below: keywords cost a call about twice as much
            payload = self._append(room, body, True, now, state)
            return PostResult(status, payload, 0, offset)
        if status is Posted.SHED:
            return PostResult(status, head=state.seq)
        return PostResult(status)  # hidden

    def _append(
        self,
        room: str,
        body: bytes,
        is_comment: bool,
        now: float | None = None,
        state: _Room | None = None,
    ) -> bytes:
        if state is None:
            state = self._room(room)
        state.seq += 1
        payload = with_offset(state.seq, body)
        if now is None:
            now = self.clock()
        history = state.history
        history.append((now, payload))
        while len(history) > state.history_len:
            history.popleft()
        oldest = now - self.settings.history_age_s
        while history and history[0][0] < oldest:
            history.popleft()
        if is_comment:
            state.counters["comments"] = state.counters.get("comments", 0) + 1
            state.comments.append(payload)
            while len(state.comments) > state.snapshot_len:
                state.comments.popleft()
        handler = self._handlers.get(room)
        if handler is not None:
            handler(room, payload)
        return payload

    def emit_now(self, room: str, etype: str, data: dict[str, Any]) -> str:
        return self.outbox.append(room, etype, data)

    async def notify(self, room: str, user: str, body: bytes) -> None:
        handler = self._handlers.get(room)
        if handler is not None:
            handler(room, b"@" + user.encode() + b"\n" + body)

    async def subscribe(self, room: str, handler: EventHandler) -> None:
        self._handlers[room] = handler

    async def unsubscribe(self, room: str) -> None:
        self._handlers.pop(room, None)

    async def history(self, room: str, after: int, limit: int, epoch: str) -> History:
        state = self._room(room)
        head = state.seq
        if epoch != state.epoch:
            return History(head, [], False, state.epoch)
        if after >= head:
            return History(head, [], after == head, epoch)
        need = head - after
        if need > len(state.history) or need > limit:
            return History(head, [], False, epoch)
        items = list(state.history)[-need:]
        return History(head, [payload for _, payload in items], True, epoch)

    async def history_page(self, room: str, after: int, count: int, epoch: str) -> History:
        state = self._room(room)
        head = state.seq
        if epoch != state.epoch:
            return History(head, [], False, state.epoch)
        if after >= head:
            return History(head, [], after == head, epoch)
        held = len(state.history)
        need = head - after
        if need > held:
            return History(head, [], False, epoch)
        start = held - need
        items = itertools.islice(state.history, start, start + count)
        return History(head, [payload for _, payload in items], True, epoch)

    async def head(self, room: str) -> Stream:
        state = self._room(room)
        return Stream(state.epoch, state.seq)

    async def rotate(self, room: str, epoch: str) -> Stream:
        state = self._room(room)
        if state.epoch == epoch:
            state.epoch = new_epoch()
            handler = self._handlers.get(room)
            if handler is not None:
                handler(room, epoch_notice(Stream(state.epoch, state.seq)))
        return Stream(state.epoch, state.seq)

    # ------------------------------------------------------------------ Presence

    async def pulse(self, room: str, node: str, online: int, likes: int) -> Pulse:
        state = self._room(room)
        now = self.clock()
        if online > 0:
            state.nodes[node] = (online, now + self.settings.node_ttl_s)
        else:
            state.nodes.pop(node, None)
        for other, (_, expiry) in list(state.nodes.items()):
            if expiry <= now:
                del state.nodes[other]
        total = sum(count for count, _ in state.nodes.values())
        counters = state.counters
        if likes:
            counters["likes"] = counters.get("likes", 0) + likes
        if total > counters.get("peak_online", 0):
            counters["peak_online"] = total
        return Pulse(total, counters.get("peak_online", 0), counters.get("likes", 0))

    async def pulse_many(
        self, node: str, reports: Sequence[PulseReport]
    ) -> Sequence[tuple[int, int, int]]:
        return [await self.pulse(room, node, online, likes) for room, online, likes in reports]

    async def leave(self, room: str, node: str) -> None:
        self._room(room).nodes.pop(node, None)

    # ------------------------------------------------------------------ RoomStore

    async def room_info(self, room: str) -> dict[str, Any] | None:
        info = self._room(room).info
        return dict(info) if info is not None else None

    async def put_room_info(self, room: str, info: dict[str, Any]) -> None:
        state = self._room(room)
        was_ended = state.info is None or state.info.get("ended") is True
        state.info = dict(info)
        ended = info.get("ended") is True
        if ended != was_ended:
            kind = "room.ended" if ended else "room.started"
            self.emit_now(room, kind, orjson.loads(room_change(info)))

    async def snapshot(self, room: str, comments: int) -> RoomState:
        state = self._room(room)
        now = self.clock()
        online = sum(c for c, expiry in state.nodes.values() if expiry > now)
        recent = list(state.comments)[-comments:] if comments else []
        return RoomState(
            offset=state.seq,
            comments=recent,
            counters=dict(state.counters),
            info=dict(state.info) if state.info is not None else None,
            online=online,
            epoch=state.epoch,
        )

    async def mute(self, room: str, user: str, until: float) -> None:
        self._room(room).muted[user] = until
        self.emit_now(room, "user.muted", {"user": user, "until": until})

    async def unmute(self, room: str, user: str) -> None:
        self._room(room).muted.pop(user, None)

    async def muted(self, room: str) -> dict[str, float]:
        now = self.clock()
        return {u: t for u, t in self._room(room).muted.items() if t > now}

    async def incr(self, room: str, name: str, by: int = 1) -> int:
        counters = self._room(room).counters
        counters[name] = counters.get(name, 0) + by
        return counters[name]

    async def incr_unique(self, room: str, name: str, *members: str, count_as: str = "") -> int:
        state = self._room(room)
        known = state.uniques.setdefault(name, set())
        before = len(known)
        known.update(members)
        added = len(known) - before
        if count_as and added:
            state.counters[count_as] = state.counters.get(count_as, 0) + added
        return added

    async def unique_count(self, room: str, name: str) -> int:
        return len(self._room(room).uniques.get(name, ()))

    async def counters(self, room: str) -> dict[str, int]:
        return dict(self._room(room).counters)
