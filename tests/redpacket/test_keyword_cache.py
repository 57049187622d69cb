"""``RoomKeywords``, the node's cache of the keywords open in a room (red packets, coupons), and
the comment hook's synchronous half (``Feature.heard``): a comment is spared the awaited hook
only when the cache is fresh, holds every event up to the comment, and lacks its text."""

from __future__ import annotations

import asyncio
from typing import Any

from liveroom.auth import Identity
from liveroom.features.keywords import KEYWORD_CACHE_S, RoomKeywords


class Node:
    """What ``RoomKeywords`` asks of its feature: how far the node has relayed each room."""

    def __init__(self) -> None:
        self.relayed: dict[str, int] = {}
        self.jumps: dict[str, int] = {}

    def stream_mark(self, room: str) -> tuple[object, int] | None:
        return (self, self.jumps.get(room, 0)) if room in self.relayed else None

    def caught_up_now(self, room: str, offset: int) -> bool:
        return self.relayed.get(room, -1) >= offset

    def unmoved(self, room: str, mark: tuple[object, int] | None, after: int | None) -> bool:
        # as ``Feature.unmoved``: the same mark, and caught up to ``after``
        if mark != self.stream_mark(room):
            return False
        return after is None or self.caught_up_now(room, after)

    async def caught_up(self, room: str, offset: int) -> bool:
        return self.caught_up_now(room, offset)


def _keywords(words: dict[str, frozenset[str]]) -> tuple[RoomKeywords, list[str], Node]:
    reads: list[str] = []

    async def read(room: str) -> frozenset[str]:
        reads.append(room)
        return words.get(room, frozenset())

    node = Node()
    return RoomKeywords(node, read), reads, node  # type: ignore[arg-type]


def test_a_fresh_caught_up_cache_answers_without_waiting() -> None:
    async def body() -> None:
        keywords, reads, node = _keywords({"r1": frozenset({"666"})})
        node.relayed["r1"] = 10
        assert keywords.may_match("r1", "hello", 10), "nothing held yet: must ask"
        assert await keywords.get("r1", 10) == frozenset({"666"})
        assert reads == ["r1"]
        assert not keywords.may_match("r1", "hello", 10)
        assert keywords.may_match("r1", "666", 10)
        assert await keywords.get("r1", 10) == frozenset({"666"})
        assert reads == ["r1"], "a fresh cache was read again"

    asyncio.run(body())


def test_a_comment_after_an_event_not_yet_relayed_must_ask() -> None:
    """The comment follows offset 12, but this node has relayed up to 10 only: a keyword
    opened at 11 or 12 on another node would be missed by the cache."""

    async def body() -> None:
        keywords, reads, node = _keywords({})
        node.relayed["r1"] = 10
        await keywords.get("r1", 10)
        assert not keywords.may_match("r1", "hello", 10)
        assert keywords.may_match("r1", "hello", 12)
        assert await keywords.get("r1", 12) == frozenset()
        assert reads == ["r1", "r1"]

    asyncio.run(body())


def test_a_relayed_event_or_an_own_keyword_drops_the_room() -> None:
    async def body() -> None:
        keywords, reads, node = _keywords({"r1": frozenset(), "r2": frozenset()})
        node.relayed.update(r1=5, r2=5)
        await keywords.get("r1", 5)
        await keywords.get("r2", 5)
        keywords.changed("r1")
        keywords.forget("r2")
        assert keywords.may_match("r1", "x", 5) and keywords.may_match("r2", "x", 5)

    asyncio.run(body())


def test_a_jump_of_the_rooms_stream_drops_what_was_read_before() -> None:
    """The room moved on without relaying what it skipped (a gap history could not fill): a
    keyword opened in the skipped events must not be missed."""

    async def body() -> None:
        keywords, reads, node = _keywords({})
        node.relayed["r1"] = 5
        await keywords.get("r1", 5)
        assert not keywords.may_match("r1", "x", 5)
        node.jumps["r1"] = 1
        node.relayed["r1"] = 50
        assert keywords.may_match("r1", "x", 50)
        await keywords.get("r1", 50)
        assert reads == ["r1", "r1"], "the cache served across the jump"
        assert not keywords.may_match("r1", "x", 50)

    asyncio.run(body())


def test_a_read_overtaken_by_a_relayed_event_is_not_kept() -> None:
    """The store answered before the event that changed the keywords reached this node: the
    answer serves the comment that asked, and is not kept for the next one."""

    async def body() -> None:
        keywords: RoomKeywords
        started = asyncio.Event()
        go_on = asyncio.Event()

        async def read(room: str) -> frozenset[str]:
            started.set()
            await go_on.wait()
            return frozenset()

        node = Node()
        node.relayed["r1"] = 5
        keywords = RoomKeywords(node, read)  # type: ignore[arg-type]
        reading = asyncio.create_task(keywords.get("r1", 5))
        await started.wait()
        keywords.changed("r1")  # a packet event relayed while the read was out
        go_on.set()
        assert await reading == frozenset()
        assert keywords.may_match("r1", "x", 5), "the overtaken read was kept"

    asyncio.run(body())


def test_a_stale_cache_must_ask(monkeypatch: Any) -> None:
    async def body() -> None:
        keywords, _, node = _keywords({})
        node.relayed["r1"] = 1
        clock = [1000.0]
        monkeypatch.setattr("liveroom.features.keywords.time.monotonic", lambda: clock[0])
        await keywords.get("r1", 1)
        assert not keywords.may_match("r1", "x", 1)
        clock[0] += KEYWORD_CACHE_S
        assert keywords.may_match("r1", "x", 1)

    asyncio.run(body())


def test_red_packets_hear_only_what_may_be_a_keyword() -> None:
    """``RedPackets.heard`` says what the cache says. Blank or over-long text never reaches it:
    the node asks a keyword feature only about comments up to its ``keyword_max``
    (tests/protocol/test_comment_hooks.py)."""
    from liveroom.features.redpacket.feature import RedPackets
    from liveroom.features.redpacket.rules import MAX_KEYWORD

    assert RedPackets.keyword_max == MAX_KEYWORD

    async def body() -> None:
        packets = RedPackets.__new__(RedPackets)
        keywords, _, node = _keywords({"r1": frozenset({"lucky"})})
        packets.keywords = keywords
        who = Identity("u1", "u1", "viewer", ("r1",))
        node.relayed["r1"] = 3
        assert packets.heard("r1", who, "hello", 3), "nothing held yet"
        await keywords.get("r1", 3)
        assert not packets.heard("r1", who, "hello", 3)
        assert packets.heard("r1", who, "lucky", 3)

    asyncio.run(body())
