"""The Engine: the one seam between rooms and shared state.

Interfaces are ``typing.Protocol``s split by capability. ``MemoryEngine`` (one process) and
``RedisEngine`` (many processes and nodes) both satisfy ``Engine``; ``tests/engine`` runs one
conformance suite against both.

Room events are stored and published as the bytes ``protocol.with_offset`` makes: a JSON object
whose first member is its ``offset``. Offsets are per room, start at 1, and have no gaps; history
holds a contiguous run of the newest ones.

A room's offsets belong to its stream's **epoch**: a short id that changes whenever the stream's
history starts afresh (a memory engine restarted, a Redis that lost the room's keys) or was found
to have lost events some node already delivered (``RoomBus.rotate``, after a failover to a
replica that had not caught up). An offset means something only with its epoch. A subscriber
hears of a new epoch in stream order, through an epoch notice (``EPOCH_NOTICE``) on the room's
channel, before any event of that epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from liveroom.engine.coupons import MemoryCoupons
    from liveroom.engine.outbox import MemoryOutbox
    from liveroom.engine.redis_core import RedisCore

#: called with (room, stored event payload) for every event published to a subscribed room,
#: in offset order; also with private notices (``@user\n`` + event) and epoch notices
EventHandler = Callable[[str, bytes], None]

#: how an epoch notice on a room's channel starts: ``@!<epoch> <head>``, "from here on the stream
#: is ``epoch``, and its events continue after offset ``head``". It looks like a private notice
#: (``@user\n``) for a user id that cannot exist, so a node older than epochs drops it.
EPOCH_NOTICE = b"@!"


@dataclass(frozen=True, slots=True)
class Stream:
    """Where a room's stream is: its epoch and its newest offset (0 before any event)."""

    epoch: str
    head: int


def epoch_notice(stream: Stream) -> bytes:
    """The channel message that announces ``stream.epoch`` (see ``EPOCH_NOTICE``)."""
    return b"@!%s %d" % (stream.epoch.encode(), stream.head)


def read_epoch_notice(payload: bytes) -> Stream:
    """The stream an epoch notice announces."""
    epoch, _, head = payload[2:].partition(b" ")
    return Stream(epoch.decode(), int(head))


class Posted(StrEnum):
    """What happened to a comment handed to ``post_comment``."""

    OK = "ok"
    MUTED = "muted"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    SHED = "shed"
    HIDDEN = "hidden"  # checked, counted and remembered, but not published (``hidden`` rules)


#: ``Posted.OK``, read once: reading a member off an Enum class goes through its metaclass's
#: ``__getattr__`` hook (about a microsecond), and the comment path would do it per comment
POSTED = Posted.OK


# Not frozen, as PostResult below and the client commands: a frozen dataclass sets each field
# through ``object.__setattr__``, which doubles what making one costs. Nothing changes them once
# made: the comments feature keeps one ``CommentRules`` per room cap for its viewers' comments
# and hands the same one to every such comment.
@dataclass(slots=True)
class CommentRules:
    """The limits ``post_comment`` enforces atomically with the publish, in this order: the
    mute, the duplicate check, the user's rate, the room's cap. The same for many comments:
    the text's own key goes to ``post_comment`` beside them.

    ``post_comment``'s ``text_key`` (a digest of the text) and ``dedupe_window_s`` make the
    duplicate check: the same user's same ``text_key`` within the window, on any node, is
    ``DUPLICATE``. Only a comment that passes every check (posted, shed or hidden) is
    remembered; a refused one is not. An empty ``text_key`` or a window of 0 skips the check."""

    user_limit: int
    user_window_s: int
    room_cap: int  # comments per second per room, spaced evenly (``cap_burst``); 0 = no cap
    priority: bool = False  # priority comments are never shed
    dedupe_window_s: float = 0.0
    #: shown to its sender only (a sensitive word in a ``self`` room): mute, duplicate and rate
    #: are checked and the comment counts against the rate, but it is not published (``HIDDEN``)
    hidden: bool = False


def cap_burst(room_cap: int) -> int:
    """Comments a capped room passes back to back: a tenth of a second's worth, at least one.

    The cap is a rate, not a count per calendar second: passed comments are spaced
    ``1 / room_cap`` apart (GCRA), with this much slack. A flood then shows as a steady stream
    (40/s is two a tick at 50 ms ticks), not as the first 40 of each second and then silence.
    """
    return max(1, -(-room_cap // 10))


@dataclass(slots=True)  # not frozen: see ``CommentRules``
class PostResult:
    status: Posted
    payload: bytes | None = None  # the stored event, when status is OK
    #: when SHED, the room's newest offset at that moment: every event up to it came before
    head: int = 0
    offset: int = 0  # the stored event's, when status is OK


@dataclass(frozen=True, slots=True)
class History:
    """Events after a given offset. ``complete`` is False when history no longer reaches back,
    or when the stream's ``epoch`` is not the one asked for (then ``events`` is empty)."""

    head: int
    events: list[bytes]
    complete: bool
    epoch: str


@dataclass(frozen=True, slots=True)
class RoomState:
    """What a snapshot is built from, read in one consistent step."""

    offset: int
    comments: list[bytes]
    counters: dict[str, int]
    info: dict[str, Any] | None
    online: int = 0
    epoch: str = ""


class Pulse(NamedTuple):
    """A room's totals after a pulse (``Engine.pulse``). A tuple, so that it compares equal to
    the plain ``(online, peak, likes)`` tuples ``pulse_many`` may give instead (the Redis
    engine's, made in C: a node pulses thousands of rooms a second), which the hub keeps as a
    room's last ``stats``."""

    online: int
    peak: int
    likes: int


#: one room's part of a node's pulse: ``(room, viewers on this node, likes since the last pulse)``
PulseReport = tuple[str, int, int]


@dataclass(slots=True)
class EngineHealth:
    ok: bool = True
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class RoomBus(Protocol):
    """Publish, subscribe and history for room events."""

    async def publish(self, room: str, body: bytes) -> bytes:
        """Give ``body`` the room's next offset, store it in history, deliver it to subscribers.

        Returns the stored payload.
        """
        ...

    async def post_comment(
        self, room: str, user: str, body: bytes, rules: CommentRules, text_key: str = ""
    ) -> PostResult:
        """Check mute, duplicate (``text_key``, the text's digest), the user's rate and the
        room's cap (``CommentRules``), then publish; all in one step."""
        ...

    async def notify(self, room: str, user: str, body: bytes) -> None:
        """Send ``body`` (one event, no offset) to every connection of ``user`` in ``room``, on
        every node. Not kept in history: private notices are also stored by their feature."""
        ...

    async def subscribe(self, room: str, handler: EventHandler) -> None:
        """Deliver the room's events to ``handler`` from now on. Returns once that holds."""
        ...

    async def unsubscribe(self, room: str) -> None: ...

    async def history(self, room: str, after: int, limit: int, epoch: str) -> History:
        """Events with offsets above ``after`` of epoch ``epoch``; incomplete if more than
        ``limit``, trimmed, or the stream's epoch is another."""
        ...

    async def history_page(self, room: str, after: int, count: int, epoch: str) -> History:
        """The oldest ``count`` (or fewer) events of epoch ``epoch`` with offsets above
        ``after``: one piece of a replay read in bounded pieces. ``complete`` is False when
        history no longer holds the event right after ``after`` (or ``after`` is ahead of the
        room), or the stream is on another epoch; ``head`` is the room's newest offset now."""
        ...

    async def head(self, room: str) -> Stream:
        """The room's stream now: its epoch (created if the room has none yet) and newest
        offset."""
        ...

    async def rotate(self, room: str, epoch: str) -> Stream:
        """The stream under ``epoch`` lost events that a node had delivered: give it a new
        epoch, announced on the room's channel, so that nobody takes its coming offsets for the
        lost ones. A compare-and-set: a stream already on another epoch keeps it. Returns the
        stream after."""
        ...


@runtime_checkable
class Presence(Protocol):
    """Online counts summed over nodes, with node heartbeats; likes folded in."""

    async def pulse(self, room: str, node: str, online: int, likes: int) -> Pulse:
        """Report this node's viewers and likes since the last pulse; get the room's totals.

        A node that stops pulsing drops out after the node TTL.
        """
        ...

    async def pulse_many(
        self, node: str, reports: Sequence[PulseReport]
    ) -> Sequence[tuple[int, int, int]]:
        """``pulse`` for many rooms in one round: a ``(room, online, likes)`` report each, the
        rooms' totals in the same order, each ``(online, peak, likes)`` (a ``Pulse``, or a
        plain tuple of the three). The hub's pulse of all its rooms."""
        ...

    async def leave(self, room: str, node: str) -> None:
        """This node holds no more viewers of ``room``."""
        ...


@runtime_checkable
class RoomStore(Protocol):
    """Room settings, mutes, counters and snapshots."""

    async def room_info(self, room: str) -> dict[str, Any] | None: ...

    async def put_room_info(self, room: str, info: dict[str, Any]) -> None: ...

    async def snapshot(self, room: str, comments: int) -> RoomState: ...

    async def mute(self, room: str, user: str, until: float) -> None: ...

    async def unmute(self, room: str, user: str) -> None: ...

    async def muted(self, room: str) -> dict[str, float]: ...

    async def incr(self, room: str, name: str, by: int = 1) -> int: ...

    async def incr_unique(self, room: str, name: str, *members: str, count_as: str = "") -> int:
        """Add ``members`` to the set ``name``; how many were new. For once-per-user counts.
        With ``count_as``, that many are added to the counter ``count_as`` in the same atomic
        step (so the same members sent again after a failure are counted exactly once)."""
        ...

    async def unique_count(self, room: str, name: str) -> int: ...

    async def counters(self, room: str) -> dict[str, int]: ...


class MemoryHost(Protocol):
    """What the memory engine offers the feature stores it hosts (``Engine.store``): its clock,
    and publishing inside the same synchronous step as the state change, so no other task runs
    between the two."""

    def clock(self) -> float: ...

    def publish_now(self, room: str, body: bytes) -> bytes:
        """``RoomBus.publish`` without an ``await``: the stored payload."""
        ...

    async def notify(self, room: str, user: str, body: bytes) -> None: ...

    def emit_now(self, room: str, etype: str, data: dict[str, Any]) -> str:
        """Append a business event to ``room``'s outbox (``engine/outbox.py``) without an
        ``await``, so a store calls it inside the step that changes the state; the entry id."""
        ...

    @property
    def outbox(self) -> MemoryOutbox: ...

    @property
    def coupons(self) -> MemoryCoupons:
        """Claimed coupons (``engine/coupons.py``): a store that takes orders uses and returns
        them here in its own synchronous step, as the Redis scripts do with ``coupon_lib``."""
        ...


S = TypeVar("S")


@runtime_checkable
class Engine(RoomBus, Presence, RoomStore, Protocol):
    """All capabilities together: what ``create_app`` opens in its lifespan."""

    #: whether a command may start outside a task (``tasks.start_in_place``): true when no
    #: call of this engine needs ``asyncio.current_task()`` before it first waits
    starts_in_place: bool
    #: whether a node on this engine may sleep while a command window is open (the read hold,
    #: ``connection/gather.py``): true when no call of this engine waits on a network, so no
    #: reply can be on its way while the thread sleeps. A subclass of ``MemoryEngine`` whose
    #: calls do wait on a network sets it false
    holds_reads: bool

    def store(self, memory: Callable[[MemoryHost], S], redis: Callable[[RedisCore], S]) -> S:
        """A feature's store for this engine: ``memory(host)`` on the memory engine,
        ``redis(core)`` on Redis. Each factory imports its store module, so a node loads only
        the one it runs."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def read_events(self) -> None:
        """Called by the hub at each tick, right before it flushes: read the room events the
        engine held since the last tick and hand them to their rooms now (``RedisEngine``;
        nothing to do where events come in as they are published)."""
        ...

    async def ping(self) -> bool:
        """True when the backing store answers right now."""
        ...

    def add_reconnect_listener(self, callback: Callable[[], None]) -> None:
        """Called after the engine lost its store and got it back (subscriptions restored)."""
        ...
