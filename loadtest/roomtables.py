"""What a comment costs the memory engine in a busy room: ``python -m loadtest.roomtables``.

Calls ``MemoryEngine.post_comment`` for one room on a clock of its own that moves ``1/--rate``
seconds a comment, from ``--users`` users in turn, each comment's text its own (so each one
leaves a duplicate key). It first posts ``--warm-s`` seconds' worth, past the user and duplicate
windows, so that the room's tables are in their steady state, then times ``--posts`` more by
this process's CPU clock. It reports the CPU per post and how many entries the room's tables
hold: a room's work per comment should not grow with its traffic.

No socket, no hub: the engine's part alone. The clock is simulated, so the run takes as long as
the posts do, not ``--posts / --rate`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from liveroom.config import Settings
from liveroom.engine.base import CommentRules, Posted
from liveroom.engine.memory import MemoryEngine
from liveroom.protocol import room_event_body
from loadtest.results import emit


class SteppedClock:
    """A wall clock that moves only when told."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


async def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = SteppedClock()
    settings = Settings(secret="roomtables-" + "s" * 32, api_key="roomtables-" + "k" * 32)
    engine = MemoryEngine(settings, clock=clock)
    rules = CommentRules(
        user_limit=args.user_limit,
        user_window_s=args.user_window_s,
        room_cap=0,
        dedupe_window_s=args.dedupe_window_s,
    )
    users = [f"u{i}" for i in range(args.users)]
    step = 1.0 / args.rate
    body = room_event_body("comment", text="a comment")
    post = engine.post_comment
    refused = 0

    async def posts(count: int, start: int) -> int:
        refused = 0
        for n in range(start, start + count):
            clock.now += step
            result = await post("room", users[n % len(users)], body, rules, f"text {n}")
            if result.status is not Posted.OK:
                refused += 1
        return refused

    warm = int(args.warm_s * args.rate)
    refused += await posts(warm, 0)
    began = time.process_time()
    refused += await posts(args.posts, warm)
    spent = time.process_time() - began
    room = engine._room("room")
    return {
        "bench": "roomtables",
        "rate": args.rate,
        "posts": args.posts,
        "users": args.users,
        "cpu_us_per_post": round(spent / args.posts * 1e6, 3),
        "refused": refused,
        "user_windows_kept": len(room.user_windows),
        "duplicate_keys_kept": len(room.said),
        "live_duplicate_keys": sum(1 for until in room.said.values() if until > clock.now),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.roomtables", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="comments a second")
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--warm-s", type=float, default=12.0)
    parser.add_argument("--user-limit", type=int, default=5)
    parser.add_argument("--user-window-s", type=float, default=10.0)
    parser.add_argument("--dedupe-window-s", type=float, default=5.0)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    emit(asyncio.run(run(args)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
