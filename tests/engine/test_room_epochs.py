"""A local room follows one stream epoch, and moves to another only with a ``resync`` first."""

from __future__ import annotations

from typing import Any

import orjson

from liveroom.engine.base import Stream
from liveroom.engine.memory import MemoryEngine, _Room
from liveroom.hub import Hub, LocalRoom, Viewer
from liveroom.protocol import room_event_body
from tests.conftest import make_settings
from tests.engine.conftest import Hubs
from tests.engine.test_hub_rooms import Wire
from tests.streamcheck import Ledger
from tests.timeouts import eventually


def events(wire: Wire) -> list[dict[str, Any]]:
    """Every event the wire got, shared frames (WebSocket framed) and private ones alike."""
    out: list[dict[str, Any]] = []
    for data in wire.data:
        if data[:1] == b"\x81":  # a whole text frame: skip its header
            size = data[1] & 0x7F
            data = data[2 + {126: 2, 127: 8}.get(size, 0) :]
        out.extend(orjson.loads(data))
    return out


async def joined_room(engine: MemoryEngine, hub: Hub, wire: Wire) -> LocalRoom:
    room = await hub.room("r1")
    hub.join(room, Viewer(wire, "u1"), await engine.head("r1"))
    await eventually(lambda: engine._handlers.get("r1") is not None)
    return room


async def comment(engine: MemoryEngine, hub: Hub, text: str) -> None:
    await engine.publish("r1", room_event_body("comment", text=text))
    hub.flush_all()


def snapshot_at(stream: Stream) -> dict[str, Any]:
    """The join as the handshake would have sent it (the tests join without one)."""
    return {"type": "snapshot", "offset": stream.head, "epoch": stream.epoch, "comments": []}


async def test_an_announced_epoch_resyncs_viewers_before_its_events(hubs: Hubs) -> None:
    """An epoch notice: viewers get ``resync`` with the new epoch, then its events, never an
    offset at or below one they got in the same epoch."""
    engine = MemoryEngine(make_settings())
    hub = hubs(engine, make_settings())
    wire = Wire()
    room = await joined_room(engine, hub, wire)
    start = await engine.head("r1")
    for n in range(3):
        await comment(engine, hub, f"old-{n}")
    assert room.jumps == 0
    moved = await engine.rotate("r1", start.epoch)
    assert room.epoch == moved.epoch
    assert room.jumps == 1, "features' caches kept from relayed events must see the jump"
    hub.flush_all()
    await comment(engine, hub, "new")
    got = events(wire)
    resync = next(e for e in got if e["type"] == "resync")
    assert resync == {"type": "resync", "offset": 3, "epoch": moved.epoch}
    assert [e["offset"] for e in got if e["type"] == "comment"] == [1, 2, 3, 4]
    Ledger().connection([snapshot_at(start), *got])


async def test_an_offset_given_out_again_rotates_the_epoch(hubs: Hubs) -> None:
    """The stream lost its events under the room's feet without a word (a failover to a replica
    that missed them): the first repeat that differs from the room's copy rotates the epoch, and
    the reused offsets are never delivered."""
    engine = MemoryEngine(make_settings())
    hub = hubs(engine, make_settings())
    wire = Wire()
    room = await joined_room(engine, hub, wire)
    start = await engine.head("r1")
    for n in range(3):
        await comment(engine, hub, f"kept-{n}")
    lost = engine._rooms["r1"]
    again = _Room(lost.history_len, lost.snapshot_len, epoch=start.epoch)
    for item in list(lost.history)[:1]:  # the replica had only the first event
        again.history.append(item)
    again.seq = 1
    engine._rooms["r1"] = again
    await comment(engine, hub, "reused-2")  # offset 2 again, under the same epoch
    await eventually(lambda: room.epoch != start.epoch)
    hub.flush_all()
    await comment(engine, hub, "after")
    got = events(wire)
    texts = [e["text"] for e in got if e["type"] == "comment"]
    assert texts == ["kept-0", "kept-1", "kept-2", "after"]
    resync = next(e for e in got if e["type"] == "resync")
    assert resync["epoch"] == room.epoch != start.epoch and resync["offset"] == 2
    assert (await engine.head("r1")).epoch == room.epoch
    Ledger().connection([snapshot_at(start), *got])


async def test_a_joiner_from_an_older_epoch_gets_a_resync_of_its_own(hubs: Hubs) -> None:
    """A viewer whose snapshot was of the epoch the room has just left is told before anything
    of the new epoch reaches it."""
    engine = MemoryEngine(make_settings())
    hub = hubs(engine, make_settings())
    room = await joined_room(engine, hub, Wire())
    old = await engine.head("r1")
    await comment(engine, hub, "one")
    moved = await engine.rotate("r1", old.epoch)
    hub.flush_all()
    late = Wire()
    hub.join(room, Viewer(late, "u2"), Stream(old.epoch, 1))  # its snapshot was read before
    hub.flush_all()
    await eventually(lambda: any(e["type"] == "resync" for e in events(late)))
    hub.flush_all()
    await comment(engine, hub, "two")
    got = events(late)
    assert got[0] == {"type": "resync", "offset": 1, "epoch": moved.epoch}
    assert [e["text"] for e in got if e["type"] == "comment"] == ["two"]
    Ledger().connection([snapshot_at(Stream(old.epoch, 1)), *got])


async def test_a_joiner_from_an_epoch_the_room_has_not_heard_of_makes_it_catch_up(
    hubs: Hubs,
) -> None:
    """The stream started afresh without a word to the room (its notice missed, say), and a
    viewer joins from a snapshot of the new epoch: the room finds the new epoch, resyncs its
    viewers, and the joiner gets the new epoch's events, never the old ones'."""
    engine = MemoryEngine(make_settings())
    hub = hubs(engine, make_settings())
    wire = Wire()
    room = await joined_room(engine, hub, wire)
    old = await engine.head("r1")
    for n in range(3):
        await comment(engine, hub, f"old-{n}")
    lost = engine._rooms["r1"]
    engine._rooms["r1"] = _Room(lost.history_len, lost.snapshot_len)  # a new epoch, no notice
    fresh = await engine.head("r1")
    joiner = Wire()
    hub.join(room, Viewer(joiner, "u2"), fresh)
    hub.flush_all()
    await eventually(lambda: room.epoch == fresh.epoch)
    hub.flush_all()
    await comment(engine, hub, "new")
    got = events(joiner)
    assert [(e["offset"], e["text"]) for e in got if e["type"] == "comment"] == [(1, "new")]
    Ledger().connection([snapshot_at(fresh), *got])
    seen = events(wire)
    assert {"type": "resync", "offset": 0, "epoch": fresh.epoch} in seen
    Ledger().connection([snapshot_at(old), *seen])


async def test_a_head_below_what_the_room_delivered_rotates_the_epoch(hubs: Hubs) -> None:
    """Back from a lost connection, the room finds the stream's head below the offsets it
    delivered under the same epoch: it rotates the epoch before anything is given out again."""
    engine = MemoryEngine(make_settings())
    hub = hubs(engine, make_settings())
    wire = Wire()
    room = await joined_room(engine, hub, wire)
    start = await engine.head("r1")
    for n in range(3):
        await comment(engine, hub, f"kept-{n}")
    lost = engine._rooms["r1"]
    again = _Room(lost.history_len, lost.snapshot_len, epoch=start.epoch)
    again.history.append(lost.history[0])
    again.seq = 1
    engine._rooms["r1"] = again
    room.resync_from_engine()  # what the hub does when the engine's connection comes back
    await eventually(lambda: room.epoch != start.epoch)
    assert (await engine.head("r1")) == Stream(room.epoch, 1)
    hub.flush_all()
    await comment(engine, hub, "after")
    got = events(wire)
    assert {"type": "resync", "offset": 1, "epoch": room.epoch} in got
    assert [e["text"] for e in got if e["type"] == "comment"] == [
        *(f"kept-{n}" for n in range(3)),
        "after",
    ]
    Ledger().connection([snapshot_at(start), *got])


class PublishDuringRead(MemoryEngine):
    """A memory engine whose history reads let one event be published while they are in flight,
    as a Redis round trip would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.during_read: bytes | None = None

    async def history(self, room: str, after: int, limit: int, epoch: str) -> Any:
        answer = await super().history(room, after, limit, epoch)
        if self.during_read is not None:
            self.publish_now(room, self.during_read)
            self.during_read = None
        return answer


async def test_the_resync_comes_before_the_first_event_of_the_new_stream(hubs: Hubs) -> None:
    """An event of the new stream that arrived while the room read the history goes out after
    the ``resync``, never in front of it."""
    engine = PublishDuringRead(make_settings())
    hub = hubs(engine, make_settings())
    wire = Wire()
    room = await joined_room(engine, hub, wire)
    start = await engine.head("r1")
    for n in range(3):
        await comment(engine, hub, f"old-{n}")
    lost = engine._rooms["r1"]
    engine._rooms["r1"] = _Room(lost.history_len, lost.snapshot_len)  # a new epoch, no notice
    engine.during_read = room_event_body("comment", text="new")
    room.resync_from_engine()
    await eventually(lambda: room.epoch != start.epoch and room.pending)
    hub.flush_all()
    got = [e for e in events(wire) if e["type"] in ("resync", "comment")]
    assert [(e["type"], e["offset"]) for e in got[-2:]] == [("resync", 0), ("comment", 1)]
    Ledger().connection([snapshot_at(start), *events(wire)])
