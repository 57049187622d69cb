"""The memory engine forgets users' comment windows and comments' duplicate keys once they end,
as Redis expires its keys for them: a room's tables follow its recent commenters, not everyone
who ever commented. On a clock the test moves."""

from __future__ import annotations

from liveroom.engine.base import CommentRules, Posted
from liveroom.engine.memory import SWEEP_FLOOR, MemoryEngine
from liveroom.protocol import room_event_body
from tests.clocks import SteppedClock
from tests.conftest import make_settings


def _engine() -> tuple[MemoryEngine, SteppedClock]:
    clock = SteppedClock(1_000.0)
    return MemoryEngine(make_settings(), clock=clock), clock


async def _post(engine: MemoryEngine, user: str, rules: CommentRules, key: str = "") -> Posted:
    body = room_event_body("comment", text=key)
    return (await engine.post_comment("r1", user, body, rules, key)).status


async def test_a_rooms_tables_hold_its_recent_commenters_only() -> None:
    """20,000 users comment once each, 128 a second: the last 10 s of users (the window, 1,280)
    and 3 s of keys (384) are live, and the tables never hold more than twice that, plus the
    comment that sets off a sweep."""
    engine, clock = _engine()
    rules = CommentRules(user_limit=5, user_window_s=10, room_cap=0, dedupe_window_s=3.0)
    room = engine._room("r1")
    most_windows = most_said = sweeps = 0
    for i in range(20_000):
        clock.now += 1 / 128  # (steps a double holds exactly)
        before = len(room.user_windows), len(room.said)
        assert await _post(engine, f"u{i}", rules, f"k{i}") is Posted.OK
        most_windows = max(most_windows, len(room.user_windows))
        most_said = max(most_said, len(room.said))
        if len(room.user_windows) <= before[0]:  # swept: what is kept is what is live
            sweeps += 1
            assert set(room.user_windows) == {f"u{n}" for n in range(i - 1_279, i + 1)}
        if len(room.said) <= before[1]:
            sweeps += 1
            assert set(room.said) == {(f"u{n}", f"k{n}") for n in range(i - 383, i + 1)}
    assert 1_280 < most_windows <= 2 * 1_280 + 1
    assert 384 < most_said <= 2 * 384 + 1
    assert sweeps > 20


async def test_forgetting_changes_no_answer() -> None:
    """A user over the limit stays refused to the end of their own window, and a repeat stays
    a duplicate to the end of its own, however many sweeps other users' comments set off."""
    engine, clock = _engine()
    rules = CommentRules(user_limit=2, user_window_s=10, room_cap=0, dedupe_window_s=3.0)
    assert [await _post(engine, "a", rules, "hi") for _ in range(2)] == [
        Posted.OK,
        Posted.DUPLICATE,
    ]
    assert await _post(engine, "a", rules, "again") is Posted.OK
    assert await _post(engine, "a", rules, "more") is Posted.RATE_LIMITED
    for i in range(4 * SWEEP_FLOOR):  # sweeps, with a's window 8 s on (steps a double holds)
        clock.now += 1 / 128
        await _post(engine, f"u{i}", rules, "x")
    assert await _post(engine, "a", rules, "more") is Posted.RATE_LIMITED
    clock.now += 2.0  # a's window has ended: so have the keys "hi" and "again"
    for i in range(4 * SWEEP_FLOOR):
        await _post(engine, f"v{i}", rules, "x")
    assert await _post(engine, "a", rules, "hi") is Posted.OK
    assert await _post(engine, "a", rules, "hi") is Posted.DUPLICATE
    assert await _post(engine, "a", rules, "again") is Posted.OK
    assert await _post(engine, "a", rules, "third") is Posted.RATE_LIMITED
