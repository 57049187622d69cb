"""How a node tells its features of a posted comment (``Node.comment_posted``): every listener's
``heard`` at once, a keyword feature's only for a comment short enough to be one of its
keywords that what it holds cannot rule out (``keywords.KeywordGate``), and ``commented``
awaited only for those whose ``heard`` asked for it."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, ClassVar

from liveroom.app import Node
from liveroom.auth import Identity
from liveroom.features import Feature, Held
from liveroom.features.kicks import KicksFeature
from liveroom.features.rooms import Rooms
from liveroom.features.stats import Stats
from tests.conftest import make_settings

WHO = Identity("u1", "U1", "viewer", ("r1",))


class Recorder(Feature):
    """Records what it hears and what it is awaited for; ``heard`` asks for ``commented``
    when the text is in ``wanted``."""

    name = "recorder"
    wanted: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ctx: object) -> None:
        super().__init__(ctx)  # type: ignore[arg-type]
        self.heard_texts: list[str] = []
        self.awaited: list[tuple[str, str, int | None]] = []

    def heard(self, room: str, who: Identity, text: str, after: int | None) -> bool:
        self.heard_texts.append(text)
        return text in self.wanted

    async def commented(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> None:
        self.awaited.append((room, text, after))


class Everything(Recorder):
    wanted = frozenset({"all of it"})


class ShortWords(Recorder):
    name = "short"
    keyword_max = 4
    wanted = frozenset({"abcd"})


class LongerWords(Recorder):
    name = "longer"
    keyword_max = 6
    wanted = frozenset({"abcdef"})


def _node() -> tuple[Node, Everything, ShortWords, LongerWords]:
    # the three features every node runs, and the three listeners
    kinds = (Rooms, Stats, KicksFeature, Everything, ShortWords, LongerWords)
    node = Node(make_settings(), features=kinds)
    found = {type(f): f for f in node.features}
    return node, found[Everything], found[ShortWords], found[LongerWords]  # type: ignore[return-value]


async def test_keyword_features_hear_only_comments_short_enough() -> None:
    node, every, short, longer = _node()
    for text in ["  abc  ", "abcde", "abcdefg", "   ", "\u3000xyz\n"]:
        assert node.comment_posted("r1", WHO, text, 7) is None, "nobody asked"
    assert every.heard_texts == ["abc", "abcde", "abcdefg", "", "xyz"]
    assert short.heard_texts == ["abc", "xyz"], "past 4 characters, and blank, never keywords"
    assert longer.heard_texts == ["abc", "abcde", "xyz"]
    assert not (every.awaited or short.awaited or longer.awaited)


async def test_commented_runs_for_the_features_that_asked() -> None:
    node, every, short, longer = _node()
    pending = node.comment_posted("r1", WHO, " abcd ", 3)
    assert pending is not None
    assert not short.awaited, "the awaited part waits for its caller"
    await pending
    assert short.awaited == [("r1", "abcd", 3)]
    assert not every.awaited and not longer.awaited
    await node.commented("r1", WHO, "all of it", None)
    await node.commented("r1", WHO, "abcdef", 4)
    assert every.awaited == [("r1", "all of it", None)]
    assert longer.awaited == [("r1", "abcdef", 4)]
    assert short.awaited == [("r1", "abcd", 3)]


class HeldWords(Recorder):
    """A keyword feature that holds its keywords per room, as coupons and red packets do."""

    name = "held"
    keyword_max = 8

    def __init__(self, ctx: object) -> None:
        super().__init__(ctx)
        self.held_keywords: dict[str, Held] = {}


async def test_held_keywords_spare_the_feature_only_when_they_rule_the_comment_out() -> None:
    kinds = (Rooms, Stats, KicksFeature, HeldWords)
    node = Node(make_settings(), features=kinds)
    feature = next(f for f in node.features if isinstance(f, HeldWords))
    local = SimpleNamespace(last_offset=10, jumps=2)
    node.hub.rooms["r1"] = local  # type: ignore[assignment]
    good_until = time.monotonic() + 60

    def heard(text: str, after: int | None) -> bool:
        """Whether the feature was asked about ``text``."""
        feature.heard_texts.clear()
        node.comment_posted("r1", WHO, text, after)
        return feature.heard_texts == [text]

    assert heard("hello", 10), "nothing held for the room"
    feature.held_keywords["r1"] = (good_until, frozenset({"lucky"}), local, 2)
    assert not heard("hello", 10) and not heard("hello", None) and not heard("hello", 9)
    assert heard("lucky", 10), "an open keyword"
    assert heard("hello", 11), "an event before the comment is not in yet"
    local.last_offset = None
    assert heard("hello", 1) and not heard("hello", None)
    local.last_offset = 10
    local.jumps = 3
    assert heard("hello", 10), "the room's stream jumped since the keywords were read"
    feature.held_keywords["r1"] = (good_until, frozenset({"lucky"}), local, 3)
    assert not heard("hello", 10)
    node.hub.rooms["r1"] = SimpleNamespace(last_offset=10, jumps=3)  # type: ignore[assignment]
    assert heard("hello", 10), "read under a local room since dropped"
    feature.held_keywords["r1"] = (time.monotonic() - 1, frozenset(), node.hub.rooms["r1"], 3)
    assert heard("hello", 10), "no longer fresh"
    del node.hub.rooms["r1"]
    feature.held_keywords["r1"] = (good_until, frozenset(), None, 0)
    assert not heard("hello", None), "read without a local room, and still none"
    assert heard("hello", 0), "without a local room, no event is in"


async def test_every_keyword_feature_of_a_node_is_behind_the_gate_with_what_it_holds() -> None:
    """A node's coupons, red packets and lucky bags: each behind the gate, each with its held
    keywords; coupons' and red packets' are their ``RoomKeywords``' own, so the gate reads
    what ``RoomKeywords.get`` keeps."""
    node = Node(make_settings())
    behind = {type(f).__name__: (f, held) for f, _, held in node.keywords.features}
    assert set(behind) == {"Coupons", "LuckyBags", "RedPackets"}
    assert not any(f in node.listeners for f, _ in behind.values())
    assert node.keywords.longest == 20
    for name in ("Coupons", "RedPackets"):
        feature: Any = behind[name][0]
        assert behind[name][1] is feature.held_keywords is feature.keywords.held, name
    bags, held = behind["LuckyBags"]
    assert held is bags.held_keywords and isinstance(held, dict)
