"""A node's rooms after a Redis restart: ``python -m loadtest.resubbench --rooms 2000``.

Starts a redis-server of its own (append-only, so a clean stop keeps every event), builds one
node's hub on it with ``--rooms`` subscribed rooms (one stand-in viewer each), publishes an event
in every room, then stops Redis, starts it again on the same port and, from a second engine (as
another node would), publishes one more event in every room at once: events the node's pub/sub,
still reconnecting, may never see. Prints how long after Redis answered again the node had
re-subscribed every room (one ``SUBSCRIBE``, confirmed) and how long until every room held the
new event, from pub/sub or from its history, read ``HISTORY_READS`` rooms at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liveroom.config import Settings
from liveroom.engine import engine_from_settings
from liveroom.hub import Hub, Viewer
from liveroom.protocol import room_event_body
from loadtest.pulsebench import Idle
from loadtest.results import emit


async def resync_after_restart(
    url: str, rooms: int, restart: Callable[[], None], timeout: float = 60.0
) -> dict[str, Any]:
    """Hub with ``rooms`` rooms on Redis at ``url``; ``restart()`` stops and starts that Redis.
    Returns the timings and, per room, whether it holds the event published after the restart."""
    settings = Settings(
        secret="x" * 32, api_key="y" * 32, engine="redis", redis_url=url, demo=False, pulse_s=1.0
    )
    engine = engine_from_settings(settings)
    other = engine_from_settings(settings)
    await engine.open()
    hub = Hub(engine, settings)
    await hub.open()
    back: list[float] = []
    engine.add_reconnect_listener(lambda: back.append(time.monotonic()))
    try:
        ids = [f"r{i}" for i in range(rooms)]
        local = []
        for room_id in ids:
            room = await hub.room(room_id)
            room.joining.append(Viewer(Idle(), "stand-in"))
            local.append(room)
        for room_id in ids:
            await engine.publish(room_id, room_event_body("comment", text="before"))
        await _until(lambda: all(r.last_offset == 1 for r in local), timeout)

        restart()
        up = time.monotonic()
        await other.open()
        await asyncio.gather(
            *(other.publish(room_id, room_event_body("comment", text="after")) for room_id in ids)
        )
        published = time.monotonic()
        caught = await _until(
            lambda: all((r.last_offset or 0) >= 2 and not r.filling for r in local), timeout
        )
        done = time.monotonic()
        return {
            "rooms": rooms,
            "published_after_restart_s": round(published - up, 3),
            "resubscribed_s": round(back[0] - up, 3) if back else None,
            "all_resynced_s": round(done - up, 3) if caught else None,
            "rooms_with_the_new_event": sum(
                1 for r in local if any(b'"after"' in e for e in (*r.ring, *r.pending))
            ),
            "rooms_told_resync": sum(1 for r in local if "resync" in r.state),
        }
    finally:
        await hub.close()
        await other.close()
        await engine.close()


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


class OwnRedis:
    """A redis-server on a free port, append-only, that ``restart`` stops and starts again."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.dir = Path(tempfile.mkdtemp(prefix="resubbench-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.dir), "--save", "", "--appendonly", "yes"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.resubbench", description=__doc__)
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    redis = OwnRedis()
    redis.start()
    try:
        result = asyncio.run(resync_after_restart(redis.url, args.rooms, redis.restart))
    finally:
        redis.close()
    emit(result, args.json)


if __name__ == "__main__":
    main()
