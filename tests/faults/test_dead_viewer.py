"""A viewer whose machine vanishes from a busy room is dropped within the keepalive's bounds.

The viewer sits in a network namespace of its own and answers the server's pings, until the
test takes its address away: from then on its kernel drops what comes for it without a word (no
FIN, no RST, no ACK). The room stays busy throughout, so the server keeps writing to it. The
server must still notice, through the keepalive: a frame written to a dead peer proves nothing.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loadtest import netns
from loadtest.netns import ViewerNamespace
from tests.liveclient import token
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled
from tests.wsraw import CLOSE, PING, PONG, TEXT, RawSocketClient, client_frame

ROOT = Path(__file__).resolve().parents[2]
# the far viewer: answers pings and says so on stdout, until the connection ends
FAR = """
import sys
from loadtest import netns
netns.enter(sys.argv[1])
from tests.wsraw import CLOSE, PING, PONG, RawSocketClient, client_frame
client = RawSocketClient(int(sys.argv[3]), sys.argv[4], 1 << 16, host=sys.argv[2])
print("connected", flush=True)
while True:
    frame = client.read_frame(60)
    if frame is None or frame[0] == CLOSE:
        break
    if frame[0] == PING:
        client.sock.sendall(client_frame(PONG, frame[1]))
        print("pong", flush=True)
"""


def _online(server: ServerProcess, room: str) -> int:
    response = httpx.get(
        f"{server.url}/api/rooms/{room}/stats",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    response.raise_for_status()
    return int(response.json()["online"])


@pytest.mark.skipif(bool(netns.missing()), reason=str(netns.missing()))
def test_a_vanished_viewer_leaves_a_busy_room() -> None:
    room = "vanish"
    with ViewerNamespace() as ns, contextlib.ExitStack() as cleanup:
        server = ServerProcess(
            host=ns.host,
            ping_interval_s=1,
            user_comment_limit=100_000,
            room_comment_cap=100_000,
            command_rate=100_000,
            command_burst=100_000,
        )
        cleanup.callback(server.stop)  # also when start() gives up
        server.start()
        path = f"/ws?room={room}&token={token('talker', room)}"
        talker = RawSocketClient(server.port, path, 1 << 16, host=ns.host)
        cleanup.callback(talker.close)
        far = subprocess.Popen(
            [sys.executable, "-c", FAR, ns.path, ns.host, str(server.port),
             f"/ws?room={room}&token={token('far', room)}"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        cleanup.callback(far.wait, 10)
        cleanup.callback(far.kill)
        said: list[str] = []  # the far viewer's lines, read on a thread
        assert far.stdout is not None
        reader = threading.Thread(target=lambda: said.extend(far.stdout), daemon=True)  # type: ignore[union-attr]
        reader.start()
        sent = 0

        def talk_until(done: Callable[[], bool], seconds: float) -> float:
            """Comment every 0.1 s (answering the talker's own pings) until ``done()``."""
            nonlocal sent
            start = time.monotonic()
            deadline = start + scaled(seconds)
            next_check = start
            while time.monotonic() < deadline:
                comment = f'{{"type":"comment","id":"c{sent}","text":"t{sent}"}}'.encode()
                talker.sock.sendall(client_frame(TEXT, comment))
                sent += 1
                stop = time.monotonic() + 0.1
                while (frame := talker.read_frame(max(0.001, stop - time.monotonic()))) is not None:
                    assert frame[0] != CLOSE, frame
                    if frame[0] == PING:
                        talker.sock.sendall(client_frame(PONG, frame[1]))
                    if time.monotonic() >= stop:
                        break
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + 0.25
                    if done():
                        return time.monotonic() - start
            raise AssertionError(f"not within {seconds} s")

        talk_until(lambda: "connected\n" in said and _online(server, room) == 2, 15)
        # alive: the far viewer answers two pings and stays (interval 1 s, timeout 1 s; in
        # this busy room it is pinged every third interval, its TCP acknowledging the frames)
        talk_until(lambda: said.count("pong\n") >= 2, 15)
        assert _online(server, room) == 2
        # its machine vanishes: the address goes, its kernel drops what comes for it
        subprocess.run(
            ["ip", "netns", "exec", ns.name, "ip", "addr", "flush", "dev", ns.viewer_dev],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        took = talk_until(lambda: _online(server, room) == 1, 20)
        # its acknowledgements stop: within an interval or two the server pings it, the ping
        # goes unanswered (1 s), and the online count moves at the pulse
        assert took < scaled(8), took
        assert sent > 20
