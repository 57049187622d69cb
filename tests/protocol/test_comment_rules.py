"""``Chat.post``'s rules: a viewer's comments share their room cap's ``CommentRules``; staff and
hidden comments get their own. Over the memory engine, which records what it was handed."""

from __future__ import annotations

from typing import Any

from liveroom.auth import Identity
from liveroom.config import Settings
from liveroom.engine.base import CommentRules, PostResult
from liveroom.engine.memory import MemoryEngine
from liveroom.features.comments.chat import Chat, text_key

VIEWER = Identity("u1", "U1", "viewer", ("*",))
OTHER = Identity("u2", "U2", "viewer", ("*",))
HOST = Identity("h1", "H1", "host", ("*",))


class RecordingEngine(MemoryEngine):
    """The memory engine, keeping the rules and key of every ``post_comment``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.calls: list[tuple[CommentRules, str]] = []

    async def post_comment(
        self, room: str, user: str, body: bytes, rules: CommentRules, text_key: str = ""
    ) -> PostResult:
        self.calls.append((rules, text_key))
        return await super().post_comment(room, user, body, rules, text_key)


def _settings() -> Settings:
    return Settings(
        secret="s" * 32,
        user_comment_limit=7,
        user_comment_window_s=11,
        room_comment_cap=40,
        dedupe_window_s=3.0,
    )


def _expected(cap: int, priority: bool = False, hidden: bool = False) -> CommentRules:
    return CommentRules(7, 11, cap, priority, 3.0, hidden)


async def test_a_viewers_comments_share_their_room_caps_rules() -> None:
    engine = RecordingEngine(_settings())
    chat = Chat(engine, engine.settings)
    await chat.post("r1", VIEWER, "第一句", {})
    await chat.post("r2", OTHER, "second", {})  # another room with the same (default) cap
    await chat.post("r3", VIEWER, "third", {"comment_cap": 5})
    await chat.post("r3", OTHER, "fourth", {"comment_cap": 5})
    (first, k1), (second, k2), (third, k3), (fourth, k4) = engine.calls
    assert first is second and first == _expected(40)
    assert third is fourth and third == _expected(5)
    assert first is not third
    assert [k1, k2, k3, k4] == [text_key(t) for t in ("第一句", "second", "third", "fourth")]


async def test_staff_and_hidden_comments_get_rules_of_their_own() -> None:
    engine = RecordingEngine(_settings())
    chat = Chat(engine, engine.settings)
    await chat.post("r1", VIEWER, "plain", {})
    await chat.post("r1", HOST, "from the host", {})
    hidden_room = {"sensitive_words": ["加微信"], "sensitive_mode": "self"}
    await chat.post("r1", VIEWER, "加微信 now", hidden_room)
    await chat.post("r1", VIEWER, "plain again", {})
    (plain, _), (host, _), (hidden, _), (again, _) = engine.calls
    assert host == _expected(40, priority=True)
    assert hidden == _expected(40, hidden=True)
    assert host is not plain and hidden is not plain
    assert again is plain and plain == _expected(40)  # the shared rules were left as they were


async def test_the_shared_rules_are_let_go_past_a_thousand_caps() -> None:
    engine = RecordingEngine(_settings())
    chat = Chat(engine, engine.settings)
    info: dict[str, Any] = {}
    for cap in range(1, 1003):
        info["comment_cap"] = cap
        await chat.post(f"r{cap}", VIEWER, f"comment {cap}", info)
    assert len(chat._viewer_rules) <= 1001
    assert [rules.room_cap for rules, _ in engine.calls] == list(range(1, 1003))
