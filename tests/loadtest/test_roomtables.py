"""``python -m loadtest.roomtables``: the memory engine's tables in a busy room."""

from __future__ import annotations

import argparse

from loadtest import roomtables


async def test_a_busy_rooms_tables_stay_within_twice_what_is_live() -> None:
    """At 1,000 comments a second from 50,000 users: 10 s of user windows and 5 s of duplicate
    keys are live (10,000 and 5,000), and the tables hold at most twice that; every post
    passes (one comment a user every 50 s, under the limit of 5 in 10 s)."""
    args = argparse.Namespace(
        rate=1000.0,
        posts=20_000,
        users=50_000,
        warm_s=12.0,
        user_limit=5,
        user_window_s=10.0,
        dedupe_window_s=5.0,
    )
    result = await roomtables.run(args)
    assert result["refused"] == 0, result
    assert 10_000 <= result["user_windows_kept"] <= 2 * 10_000 + 1, result
    assert result["live_duplicate_keys"] == 5_000, result
    assert 5_000 <= result["duplicate_keys_kept"] <= 2 * 5_000 + 1, result
    assert result["cpu_us_per_post"] > 0, result
