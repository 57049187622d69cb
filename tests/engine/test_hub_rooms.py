"""The hub's local rooms: a viewer joining a room the idle pulse just dropped still gets events."""

from __future__ import annotations

import asyncio
import time

from liveroom.engine.base import Stream
from liveroom.engine.memory import MemoryEngine
from liveroom.hub import CHECK_EVERY, UNSUBSCRIBE_GRACE_S, Viewer
from liveroom.protocol import event, room_event_body
from tests.conftest import make_settings
from tests.engine.conftest import Hubs, Wire
from tests.timeouts import eventually


async def test_join_after_the_idle_drop_still_receives(hubs: Hubs) -> None:
    """The pulse drops an idle room while a viewer gets its snapshot; the join revives it."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = hubs(engine, make_settings())
    room = await hub.room("r1")  # handed to a joining session
    room.idle_since = time.monotonic() - 60  # its last viewer left long ago
    await hub.pulse()  # the pulse drops it while the session awaits its snapshot
    assert "r1" not in hub.rooms
    wire = Wire()
    viewer = Viewer(wire, "u1")
    joined = hub.join(room, viewer, await engine.head("r1"))
    assert hub.rooms["r1"] is joined
    await eventually(lambda: engine._handlers.get("r1") is not None)
    await engine.publish("r1", room_event_body("comment", text="still here"))
    hub.flush_all()
    assert any(b"still here" in data for data in wire.data)
    await engine.close()


class Backlog(Wire):
    """A transport whose outgoing buffer the test sets, and which can be closed under the hub."""

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0
        self.closed = False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        if self.closed:
            raise RuntimeError("unable to perform operation: the handler is closed")
        super().write(data)


async def test_fast_flushes_still_catch_a_slow_viewer_and_skip_a_closed_one(hubs: Hubs) -> None:
    """Between buffer checks a flush is one write per viewer: a closed transport in the list
    costs only its own frame, and a viewer that falls behind is treated as slow (comments
    skipped, with a marker) within CHECK_EVERY flushes."""
    settings = make_settings(outgoing_soft_kb=1)
    engine = MemoryEngine(settings)
    await engine.open()
    hub = hubs(engine, settings)
    room = await hub.room("r1")
    wires = [Backlog() for _ in range(4)]
    for i, wire in enumerate(wires):
        hub.join(room, Viewer(wire, f"u{i}"), await engine.head("r1"))
    await eventually(lambda: engine._handlers.get("r1") is not None)

    async def comment(n: int) -> None:
        await engine.publish("r1", room_event_body("comment", text=f"c{n}"))
        hub.flush_all()

    await comment(0)  # the checked flush that fills the fast list
    assert all(any(b"c0" in d for d in w.data) for w in wires)
    wires[1].closed = True  # its session has not left yet
    wires[2].buffered = 10_000  # over the 1 kB bound from now on
    for n in range(1, CHECK_EVERY + 2):
        await comment(n)
    last = f"c{CHECK_EVERY + 1}".encode()
    for wire in (wires[0], wires[3]):
        assert all(any(f"c{n}".encode() in d for d in wire.data) for n in range(CHECK_EVERY + 2))
    assert not any(last in d for d in wires[1].data)
    assert not any(last in d for d in wires[2].data), "the slow viewer still got comments"
    assert any(b'"skipped"' in d for d in wires[2].data)
    await engine.close()


async def test_one_pulse_reports_every_room_and_sends_changed_stats(hubs: Hubs) -> None:
    """``Hub.pulse`` reports every local room in one round; each room gets its own totals."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = hubs(engine, make_settings())
    rooms = [await hub.room(f"r{i}") for i in range(3)]
    for i, room in enumerate(rooms):
        room.joining.extend(Viewer(Wire(), f"u{v}") for v in range(i + 1))
        room.likes = 10 * i
    await engine.pulse("r2", "node-other", 4, 5)  # another node's viewers and likes count too
    await hub.pulse()
    for i, room in enumerate(rooms):
        other = (4, 5) if room.id == "r2" else (0, 0)
        assert room.stats == (i + 1 + other[0], i + 1 + other[0], 10 * i + other[1])
        assert room.likes == 0
        assert b'"type":"stats"' in room.state["stats"]
    rooms[0].state.clear()
    await hub.pulse()  # nothing changed in r0: no new stats event
    assert "stats" not in rooms[0].state


def _offsets(wire: Wire) -> list[int]:
    """The room-event offsets a wire got, in order: private frames and fan-out frames alike."""
    import orjson

    found = []
    for data in wire.data:
        events = orjson.loads(data[data.index(b"[") :])
        found += [e["offset"] for e in events if "offset" in e and e.get("type") == "system"]
    return found


async def test_a_viewer_caught_up_in_pieces_gets_each_event_once(hubs: Hubs) -> None:
    """A joiner behind the ring is replayed history in pieces while the room goes on flushing:
    the flushes between the pieces leave it alone, so it gets every event once, in order."""
    import asyncio

    settings = make_settings(history_len=5000)
    engine = MemoryEngine(settings)
    await engine.open()
    hub = hubs(engine, settings)
    room = await hub.room("r1")
    for n in range(1000):  # the ring keeps the newest 512 of these
        await engine.publish("r1", room_event_body("system", text=f"m{n}"))
    hub.flush_all()
    wire = Wire()
    epoch = (await engine.head("r1")).epoch
    hub.join(room, Viewer(wire, "u1"), Stream(epoch, 10))
    for n in range(60):  # live traffic while the catch-up runs
        await engine.publish("r1", room_event_body("system", text=f"live{n}"))
        hub.flush_all()
        await asyncio.sleep(0)
    await eventually(lambda: room.joining == [] and room.viewers)
    await engine.publish("r1", room_event_body("system", text="last"))
    hub.flush_all()
    assert _offsets(wire) == list(range(11, 1062))
    await engine.close()


async def test_a_closing_notice_or_a_drop_moves_the_rooms_closing_mark(hubs: Hubs) -> None:
    """The handshake asks about a kick a second time only when ``closing_since`` says one may
    have come: after a closing notice for the room, after the room was dropped, or when the
    room was not subscribed when the mark was taken; not after an ordinary private notice."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = hubs(engine, make_settings())
    hub.closing[b"kicked"] = 4031
    assert hub.closing_since(hub.closing_mark("r1"))  # not held yet: no mark
    await hub.room("r1")
    mark = hub.closing_mark("r1")
    await engine.notify("r1", "u9", event("bag_mine", bag="b1"))
    assert not hub.closing_since(mark)
    await engine.notify("r1", "u9", event("kicked", until=1.0, retry_after=1))
    assert hub.closing_since(mark)
    mark = hub.closing_mark("r1")
    room = hub.rooms["r1"]
    room.idle_since = time.monotonic() - 60
    await hub.pulse()  # dropped: unsubscribed, a notice could pass it by
    hub.join(room, Viewer(Wire(), "u1"), await engine.head("r1"))  # and taken back
    assert hub.closing_since(mark)
    await engine.close()


async def test_a_room_no_viewer_joined_is_dropped_like_an_idle_one(hubs: Hubs) -> None:
    """A session makes the room, then is refused before it joins (an ended room, a kick): the
    pulse drops the room after the same grace as a room whose last viewer left, and lets go of
    its subscription and its place in the node's pulse. Such rooms were kept for good, one for
    every ended room a visitor opened, each subscribed and pulsed every second."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = hubs(engine, make_settings())
    made = time.monotonic()
    room = await hub.room("refused")
    assert made <= room.idle_since <= time.monotonic()
    await hub.pulse()  # within the grace: kept, for a viewer who may still be on its way
    assert hub.rooms.get("refused") is room
    assert engine._handlers.get("refused") is not None
    room.idle_since -= UNSUBSCRIBE_GRACE_S + 1  # the grace has passed
    await hub.pulse()
    assert "refused" not in hub.rooms
    assert engine._handlers.get("refused") is None
    # a viewer that does join in time keeps it, as before
    kept = await hub.room("joined")
    hub.join(kept, Viewer(Wire(), "u1"), await engine.head("joined"))
    assert kept.idle_since == 0.0
    await hub.pulse()
    assert hub.rooms.get("joined") is kept
    await engine.close()


class Closing(Wire):
    """A viewer's transport that records the close code the hub gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[int] = []

    def close(self, code: int, reason: str = "") -> None:
        self.codes.append(code)


async def test_a_notice_reaches_its_users_connections_only_and_a_closing_one_closes_them(
    hubs: Hubs,
) -> None:
    """A private notice goes to every connection of its user in the room, joining or in, and
    to no other viewer; a closing one (a kick) closes each of them. The room finds them by its
    index of users (``LocalRoom.seat``), kept as viewers join and leave: a notice no longer
    passes over every viewer of the room."""
    settings = make_settings()
    engine = MemoryEngine(settings)
    await engine.open()
    hub = hubs(engine, settings)
    hub.closing[b"user.kicked"] = 4003
    room = await hub.room("r1")
    wires = {f"u{n}": Closing() for n in range(300)}
    viewers = {user: Viewer(wire, user) for user, wire in wires.items()}
    for viewer in viewers.values():
        hub.join(room, viewer, await engine.head("r1"))
    hub.flush_all()  # brought level: in the room's send list, no longer joining
    second = Closing()  # u7's second connection, still joining
    hub.join(room, Viewer(second, "u7"), await engine.head("r1"))
    assert len(room.users) == 300 and len(room.users["u7"]) == 2  # type: ignore[arg-type]
    for wire in (*wires.values(), second):
        wire.data.clear()

    await engine.notify("r1", "u7", event("hello", text="just you"))
    hub.flush_all()
    got = {user for user, wire in wires.items() if any(b"just you" in d for d in wire.data)}
    assert got == {"u7"} and any(b"just you" in d for d in second.data)

    hub.leave(viewers["u8"])
    assert "u8" not in room.users
    await engine.notify("r1", "u8", event("hello", text="gone"))
    await engine.notify("r1", "u7", event("user.kicked", until=0))
    hub.flush_all()
    assert not any(b"gone" in d for wire in wires.values() for d in wire.data)
    assert wires["u7"].codes == [4003] and second.codes == [4003]
    assert all(not wire.codes for user, wire in wires.items() if user != "u7")
    assert "u7" not in room.users and len(room.users) == 298
    assert room.size == 298
    await engine.close()


async def test_rooms_opened_at_once_are_made_once_and_leave_no_lock_behind(hubs: Hubs) -> None:
    """Fifty sessions open the same new room at once: one local room, subscribed once; and the
    lock that made them wait is not kept once the room is ready (the node kept one for every
    room id it ever opened)."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = hubs(engine, make_settings())
    subscribed: list[str] = []
    real = engine.subscribe

    async def counting(room_id: str, handler: object) -> None:
        subscribed.append(room_id)
        await real(room_id, handler)  # type: ignore[arg-type]

    engine.subscribe = counting  # type: ignore[method-assign]
    rooms = await asyncio.gather(*(hub.room("busy") for _ in range(50)))
    assert all(room is rooms[0] for room in rooms) and rooms[0].ready.is_set()
    assert subscribed == ["busy"]
    for n in range(100):
        await hub.room(f"made-up-{n}")
    assert hub._locks == {}
    await engine.close()


async def test_a_room_still_subscribing_is_not_dropped_however_long_it_takes(
    hubs: Hubs,
) -> None:
    """The engine takes long to subscribe a new room (Redis remaking its pub/sub connection):
    pulses meanwhile leave the room be, and its idle clock starts once it is subscribed."""
    engine = MemoryEngine(make_settings())
    await engine.open()
    hub = hubs(engine, make_settings())
    release = asyncio.Event()
    real = engine.subscribe

    async def slow(room_id: str, handler: object) -> None:
        await release.wait()
        await real(room_id, handler)  # type: ignore[arg-type]

    engine.subscribe = slow  # type: ignore[method-assign]
    opening = asyncio.create_task(hub.room("slow"))
    await eventually(lambda: "slow" in hub.rooms)
    room = hub.rooms["slow"]
    assert room.idle_since == 0.0 and not room.ready.is_set()
    started = time.monotonic()
    await hub.pulse()
    assert hub.rooms.get("slow") is room
    release.set()
    assert await opening is room
    assert room.idle_since >= started
    await engine.close()
