"""Read a room's business events straight from liveroom's outbox, with a consumer group of your
own: the "Pulling" recipe of docs/events.md, runnable as it stands.

    python docs/pull_outbox.py redis://127.0.0.1:6379/0 lr myroom shop-backend worker-1

prints each event as a JSON line. ``--until-idle`` stops once nothing new came for a second.
Needs only ``redis`` (redis-py). Run it again after a crash: what the consumer read and did not
acknowledge comes back first, so every event is handled at least once; make ``handle``
idempotent on ``event["id"]``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import redis


def outbox_key(prefix: str, room: str) -> str:
    """The room's outbox stream: liveroom's key prefix, then the room's hash tag."""
    return f"{prefix}:{{room:{room}}}:outbox"


def pull(
    r: redis.Redis,
    prefix: str,
    room: str,
    group: str,
    consumer: str,
    handle: Callable[[dict[str, Any]], None],
    until_idle: bool = False,
) -> None:
    key = outbox_key(prefix, room)
    try:
        # "0": this group starts with every event the outbox still holds; "$": only new ones
        r.xgroup_create(key, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    cursor = "0"  # first what this consumer read before and did not acknowledge, then ">"
    while True:
        reply = r.xreadgroup(group, consumer, {key: cursor}, count=100, block=1000)
        entries = reply[0][1] if reply else []
        if not entries:
            if cursor == "0":
                cursor = ">"
                continue
            if until_idle:
                return
            continue
        for entry_id, fields in entries:
            if fields:  # empty: trimmed away (by age or count) before it was acknowledged
                handle(
                    {
                        "id": f"{room}:{entry_id.decode()}",
                        "type": fields[b"type"].decode(),
                        "room": fields[b"room"].decode(),
                        "timestamp": int(fields[b"ts"]) / 1000,
                        "data": json.loads(fields[b"data"]),
                    }
                )
            r.xack(key, group, entry_id)


def main(argv: list[str]) -> None:
    args = [a for a in argv if not a.startswith("--")]
    url, prefix, room, group, consumer = args
    client = redis.Redis.from_url(url)
    pull(
        client,
        prefix,
        room,
        group,
        consumer,
        lambda event: print(json.dumps(event), flush=True),
        until_idle="--until-idle" in argv,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
