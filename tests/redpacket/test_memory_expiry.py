"""The memory store forgets a red packet ``PACKET_TTL_S`` after it was made, as Redis expires
its keys (``test_expiry.py``): a process that runs for weeks keeps neither every packet nor
every grabber, nor a table for a room whose packets are all gone."""

from __future__ import annotations

import orjson

from liveroom.features.redpacket.store import PACKET_TTL_S, Grab
from liveroom.features.redpacket.store_memory import MemoryPackets
from tests.clocks import SteppedClock


def _store() -> tuple[MemoryPackets, SteppedClock, list[str]]:
    clock = SteppedClock()
    emitted: list[str] = []

    def emit(room: str, etype: str, data: dict[str, object]) -> str:
        emitted.append(etype)
        return str(len(emitted))

    return MemoryPackets(emit, clock), clock, emitted


async def _create(store: MemoryPackets, room: str, packet: str, keyword: str = "") -> None:
    meta = orjson.dumps({"id": packet, "total": 30, "count": 3})
    assert await store.create(room, packet, meta, [10, 10, 10], keyword, 0.0)


async def test_a_packet_is_forgotten_after_its_lifetime_and_not_before() -> None:
    store, clock, _ = _store()
    await _create(store, "r1", "old", keyword="口令")
    clock.now += 3600
    await _create(store, "r1", "new")
    await _create(store, "r2", "other")
    assert (await store.grab("r1", "old", "u1", "U1", clock.now)).status is Grab.KEYWORD
    assert (await store.grab("r1", "new", "u1", "U1", clock.now)).status is Grab.OK

    clock.now += PACKET_TTL_S - 3600 - 1  # a second before the first's end
    assert await store.audit("r1", "old") is not None
    clock.now += 1
    assert await store.audit("r1", "old") is None
    assert (await store.grab("r1", "old", "u2", "U2", clock.now)).status is Grab.NOT_FOUND
    assert await store.said("r1", "u2", "口令") == []
    assert [orjson.loads(a.meta)["id"] for a in await store.active("r1")] == ["new"]
    assert await store.grabbers("r1", "new") == {"u1": 10}

    clock.now += 3600  # the rest are past their lifetime: their rooms' tables go with them
    assert await store.active("r1") == [] and await store.active("r2") == []
    assert store._rooms == {}
    assert not store._expiry


async def test_reading_a_room_with_no_packets_makes_no_table() -> None:
    store, _, _ = _store()
    for n in range(100):
        assert await store.active(f"room{n}") == []
        assert await store.said(f"room{n}", "u1", "hi") == []
        assert (await store.grab(f"room{n}", "p", "u1", "U1", 0.0)).status is Grab.NOT_FOUND
    assert store._rooms == {}
