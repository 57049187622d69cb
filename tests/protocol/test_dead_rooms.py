"""Rooms the hub dropped are let go by the features that cache per room: lucky bags, red packets
and coupons. Their caches held each room's stream mark, the ``LocalRoom`` itself, so a room the
idle pulse dropped stayed in memory with its event ring for as long as the node ran: one dead
room per broadcast where room ids are one per broadcast."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest

from liveroom.app import Node
from liveroom.auth import Identity
from liveroom.features.coupons import Coupons
from liveroom.features.keywords import RoomKeywords
from liveroom.features.luckybag import LuckyBags
from liveroom.features.redpacket import RedPackets
from liveroom.hub import UNSUBSCRIBE_GRACE_S, Viewer
from liveroom.localroom import LocalRoom
from liveroom.protocol import offset_of, room_event_body
from tests.conftest import make_settings
from tests.engine.conftest import Wire
from tests.timeouts import eventually

PULSE_S = 0.02


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    """A node on the memory engine, open: its hub's pulse and the features' upkeep run."""
    made = Node(make_settings(engine="memory", pulse_s=PULSE_S))
    await made.open()
    try:
        yield made
    finally:
        await made.close()


def feature(node: Node, kind: type[Any]) -> Any:
    return next(f for f in node.features if isinstance(f, kind))


async def watched(node: Node, room_id: str, user: str) -> tuple[LocalRoom, Viewer]:
    """A viewer of ``user`` joins ``room_id``; every caching feature then holds the room:
    the lucky bags from their pulse, the keyword features from a comment, each having relayed
    one of its events there."""
    hub = node.hub
    local = await hub.room(room_id)
    viewer = Viewer(Wire(), user)  # type: ignore[arg-type]
    hub.join(local, viewer, await node.engine.head(room_id))
    last = 0
    for kind in ("bag", "packet", "coupon"):
        stored = await node.engine.publish(room_id, room_event_body(kind, note="for the relay"))
        last = offset_of(stored)
    await eventually(lambda: local.last_offset is not None and local.last_offset >= last)
    bags, packets, coupons = (feature(node, k) for k in (LuckyBags, RedPackets, Coupons))
    who = Identity(user, user, "viewer", (room_id,))
    await node.commented(room_id, who, "hello", local.last_offset)
    await eventually(lambda: room_id in bags._current)
    for held in (bags.held_keywords, packets.held_keywords, coupons.held_keywords):
        assert held[room_id][2] is local, "read under the room's local room"
    return local, viewer


def holders(node: Node, room_id: str) -> list[str]:
    """The features' caches that still hold ``room_id``."""
    bags, packets, coupons = (feature(node, k) for k in (LuckyBags, RedPackets, Coupons))
    held = {
        "luckybag current": room_id in bags._current,
        "luckybag keywords": room_id in bags.held_keywords,
        "redpacket keywords": room_id in packets.held_keywords,
        "coupon keywords": room_id in coupons.held_keywords,
        "luckybag stamps": room_id in bags._generations._stamps,
        "redpacket stamps": room_id in packets.keywords._generations._stamps,
        "coupon stamps": room_id in coupons.keywords._generations._stamps,
    }
    return [name for name, holds in held.items() if holds]


async def test_a_room_the_hub_dropped_is_forgotten_and_collected(node: Node) -> None:
    """A room the idle pulse dropped is collected and in no feature's cache; a watched one stays."""
    hub = node.hub
    gone, leaving = await watched(node, "gone", "u1")
    kept, _ = await watched(node, "kept", "u2")
    kept_entries = {
        name: dict(f.held_keywords)["kept"]
        for name, f in (
            ("luckybag", feature(node, LuckyBags)),
            ("redpacket", feature(node, RedPackets)),
            ("coupons", feature(node, Coupons)),
        )
    }
    hub.leave(leaving)
    gone.idle_since -= UNSUBSCRIBE_GRACE_S + 1  # the grace has passed
    await eventually(lambda: "gone" not in hub.rooms)
    dropped = weakref.ref(gone)
    del gone, leaving

    def collected() -> bool:
        gc.collect()
        return dropped() is None

    await eventually(collected)
    await eventually(lambda: not holders(node, "gone"))
    assert hub.rooms["kept"] is kept
    bags = feature(node, LuckyBags)
    assert bags._current["kept"][2] == (kept, kept.jumps)
    for name, f in (("redpacket", feature(node, RedPackets)), ("coupons", feature(node, Coupons))):
        assert f.held_keywords.get("kept") == kept_entries[name], f"{name} lost a live room"
    assert bags.held_keywords["kept"][2] is kept


class Marks:
    """What ``RoomKeywords`` asks of its feature, for one local room that stays put."""

    def __init__(self) -> None:
        self.local = object()

    def stream_mark(self, room: str) -> tuple[object, int] | None:
        return (self.local, 0)

    def unmoved(self, room: str, mark: tuple[object, int] | None, after: int | None) -> bool:
        return mark == self.stream_mark(room)

    async def caught_up(self, room: str, offset: int) -> bool:
        return True


async def test_a_read_overtaken_before_its_room_was_forgotten_is_not_kept() -> None:
    """A read overtaken by an event is not kept, though the room's stamp was forgotten since."""
    started, go_on = asyncio.Event(), asyncio.Event()

    async def read(room: str) -> frozenset[str]:
        started.set()
        await go_on.wait()
        return frozenset()

    marks = Marks()
    keywords = RoomKeywords(marks, read)  # type: ignore[arg-type]
    reading = asyncio.create_task(keywords.get("r1", None))
    await started.wait()
    keywords.changed("r1")  # a packet opened: the read may predate it
    keywords.forget_dropped({})  # the hub dropped the room meanwhile
    go_on.set()
    assert await reading == frozenset()
    assert "r1" not in keywords.held, "a read older than a relayed event was kept"
    assert keywords.may_match("r1", "lucky", None)


async def test_forgetting_keeps_what_was_read_under_the_hubs_room() -> None:
    """Only entries read under the local room the hub holds now outlive ``forget_dropped``."""
    marks = Marks()

    async def read(room: str) -> frozenset[str]:
        return frozenset({"lucky"})

    keywords = RoomKeywords(marks, read)  # type: ignore[arg-type]
    for room in ("live", "replaced", "no-local"):
        await keywords.get(room, None)
    keywords.held["no-local"] = (*keywords.held["no-local"][:2], None, 0)
    keywords.forget_dropped({"live": marks.local, "replaced": object(), "no-local": object()})
    assert list(keywords.held) == ["live"]
    assert not keywords.may_match("live", "hello", None), "the live room's entry still serves"
