"""What the Redis engine's part of a comment costs a node: ``python -m loadtest.redisbench``.

Opens one ``RedisEngine`` (``--redis-url``, under a key prefix of its own that is deleted
afterwards), subscribes it to ``--rooms`` rooms, and measures this process's CPU time (the
figure that does not depend on how loaded the machine is) per comment:

* ``--what comments``: ``--comments`` calls of ``post_comment`` spread over the rooms,
  ``--at-once`` of them made together (as comments of many rooms arriving in one loop turn),
  then a wait until every event came back through the rooms' subscriptions;
* ``--what messages``: the subscription alone: another process publishes ``--comments`` room
  events (pipelined, so it costs this one nothing), and this one receives them.

No WebSocket, no hub: the engine's own work only (redis-py, the script call, the pub/sub
read). Under ``valgrind --tool=callgrind`` the difference between two ``--comments`` counts
gives the instructions per comment.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from typing import Any

import orjson
import uvloop

from liveroom.config import Settings
from liveroom.engine.base import CommentRules
from liveroom.engine.redis import RedisEngine
from loadtest.results import emit

BODY = orjson.dumps(
    {"type": "comment", "ts": 1.0, "user": {"id": "u1", "name": "bench"}, "text": "a comment"}
)
#: no limit refuses a comment of the bench
RULES = CommentRules(
    user_limit=10**9,
    user_window_s=60,
    room_cap=0,
    priority=False,
    dedupe_window_s=0,
    hidden=False,
)

PUBLISHER = """
import sys, redis
url, prefix, rooms, count, body = sys.argv[1:6]
client = redis.Redis.from_url(url)
pipe = client.pipeline(transaction=False)
for i in range(int(count)):
    pipe.publish(f"{prefix}:{{room:r{i % int(rooms)}}}:ch", body)
    if i % 1000 == 999:
        pipe.execute()
pipe.execute()
"""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    prefix = "rb" + secrets.token_hex(4)
    settings = Settings(
        secret="x" * 32,
        api_key="y" * 32,
        engine="redis",
        redis_url=args.redis_url,
        redis_prefix=prefix,
        demo=False,
    )
    engine = RedisEngine(settings)
    await engine.open()
    received = 0
    everything = asyncio.Event()

    def handler(room: str, payload: bytes) -> None:
        nonlocal received
        received += 1
        if received >= args.comments:
            everything.set()

    try:
        for i in range(args.rooms):
            await engine.subscribe(f"r{i}", handler)
        await engine.post_comment("r0", "u", BODY, RULES)  # warm up: the script loaded
        await asyncio.sleep(0.1)
        received = 0
        started = time.process_time()
        if args.what == "comments":
            for first in range(0, args.comments, args.at_once):
                last = min(first + args.at_once, args.comments)
                await asyncio.gather(
                    *(
                        engine.post_comment(f"r{i % args.rooms}", f"u{i}", BODY, RULES)
                        for i in range(first, last)
                    )
                )
        else:
            publisher = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                PUBLISHER,
                args.redis_url,
                prefix,
                str(args.rooms),
                str(args.comments),
                BODY,
            )
        await asyncio.wait_for(everything.wait(), 120)
        cpu = time.process_time() - started
        if args.what == "messages":
            await publisher.wait()
        return {
            "what": args.what,
            "rooms": args.rooms,
            "comments": args.comments,
            "at_once": args.at_once if args.what == "comments" else None,
            "cpu_us_per_comment": round(cpu / args.comments * 1e6, 1),
        }
    finally:
        keys = [key async for key in engine.client.scan_iter(match=prefix + ":*", count=1000)]
        for start in range(0, len(keys), 500):
            await engine.client.delete(*keys[start : start + 500])
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.redisbench", description=__doc__)
    parser.add_argument("--what", choices=["comments", "messages"], default="comments")
    parser.add_argument("--comments", type=int, default=4000)
    parser.add_argument("--at-once", type=int, default=20, help="comments made together")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    result = uvloop.run(run(args))
    emit(result, args.json)


if __name__ == "__main__":
    main()
