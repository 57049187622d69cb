"""The comment path without the network: ``python -m loadtest.commentcost``.

Opens a node (memory engine, every comment limit lifted) in this process, puts one signed-in
viewer in each of ``--rooms`` rooms, and hands ``--count`` commands (``--kind comment`` or
``like``) round-robin to their sessions (``Session.take``: size and rate checks, decode, role
check, the handler, the reply), flushing the hub once a round, so each comment also goes out
to its room as one frame. The viewers' sockets are stand-ins that count what they are given.

What it is for: counting the instructions of that path with valgrind, where the machine's load
does not matter and nothing else runs (no timers fire, no client shares the count). Run it
under ``valgrind --tool=callgrind`` twice, with two counts, and divide the difference of the
two totals by the difference of the counts: start-up cancels out. ``python -m loadtest ingest
--callgrind`` counts the whole server over real sockets, but its idle share depends on how long
the run takes, which on a loaded machine varies more than the change being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
import uvloop

from liveroom.app import Node
from liveroom.auth import Identity
from liveroom.config import Settings
from liveroom.connection.session import Session
from liveroom.hub import Viewer
from loadtest.ingest import TEXT, comment_text


class CountingOut:
    """A viewer's socket that takes every frame and counts it."""

    def __init__(self) -> None:
        self.out = self
        self.frames = 0

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.frames += 1

    def send(self, payload: bytes) -> None:
        self.frames += 1

    def close(self, code: int, reason: str = "") -> None:
        pass

    def forget(self) -> None:
        pass


async def run(count: int, rooms: int, kind: str, text: str = TEXT) -> int:
    """Hand ``count`` commands to ``rooms`` sessions; the frames the viewers were given."""
    settings = Settings(
        secret="commentcost-" + "s" * 32,
        api_key="commentcost-" + "k" * 32,
        demo=False,
        user_comment_limit=10**9,
        room_comment_cap=0,
        command_rate=10**6,
        command_burst=10**6,
        pulse_s=3600,  # no pulse in the count
    )
    node = Node(settings)
    await node.open()
    sessions, outs = [], []
    try:
        for i in range(rooms):
            room = await node.hub.room(f"room{i}")
            out = CountingOut()
            viewer = Viewer(out, f"p{i}")
            who = Identity(user=f"p{i}", name=f"p{i}", role="viewer", rooms=("*",))
            node.hub.join(room, viewer, await node.engine.head(room.id))
            sessions.append(Session(node, None, who, room, viewer))  # type: ignore[arg-type]
            outs.append(out)
        node.hub.flush_all()
        for n in range(count):
            if kind == "like":
                body = {"type": "like", "id": str(n), "count": 1}
            else:
                body = {"type": "comment", "id": str(n), "text": text.format(n=n)}
            await sessions[n % rooms].take(orjson.dumps(body).decode())
            if n % rooms == rooms - 1:
                node.hub.flush_all()
        node.hub.flush_all()
        return sum(out.frames for out in outs)
    finally:
        await node.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.commentcost", description=__doc__)
    parser.add_argument("--count", type=int, default=2500)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--kind", choices=["comment", "like"], default="comment")
    parser.add_argument(
        "--text",
        type=comment_text,
        default=TEXT,
        help="the comments' text, with {n} for the comment's number (as ingest's --text)",
    )
    args = parser.parse_args(argv)
    uvloop.install()
    frames = asyncio.run(run(args.count, args.rooms, args.kind, args.text))
    print(f"{args.count} {args.kind}s, {frames} frames to the viewers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
