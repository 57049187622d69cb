"""A viewer whose machine vanishes from a busy room is dropped within the keepalive's bounds.

In a busy room the server skips keepalive pings to viewers its fan-out keeps writing to, and
relies on ``TCP_USER_TIMEOUT`` instead. Here the viewer sits in a network namespace of its own,
and the test takes its address away: no FIN, no RST, no ACK, nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from loadtest.netns import ViewerNamespace
from tests.e2e.rawws import RawSocketClient
from tests.liveclient import token
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled

ROOT = Path(__file__).resolve().parents[2]
CLIENT = """
import sys
from loadtest import netns
netns.enter(sys.argv[1])
from tests.e2e.rawws import RawSocketClient
client = RawSocketClient(int(sys.argv[3]), sys.argv[4], 1 << 16, host=sys.argv[2])
print("connected", flush=True)
sys.stdin.read()
"""


def _online(server: ServerProcess, room: str) -> int:
    response = httpx.get(
        f"{server.url}/api/rooms/{room}/stats",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    response.raise_for_status()
    return int(response.json()["online"])


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=10)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc") is None,
    reason="needs root and iproute2 (ip, tc) for a network namespace",
)
def test_a_vanished_viewer_leaves_a_busy_room() -> None:
    room = "vanish"
    with ViewerNamespace() as ns:
        server = ServerProcess(
            host=ns.host,
            ping_interval_s=1,
            user_comment_limit=100_000,
            room_comment_cap=100_000,
            command_rate=100_000,
            command_burst=100_000,
        ).start()
        path = f"/ws?room={room}&token={token('talker', room)}"
        talker = RawSocketClient(server.port, path, 1 << 16, host=ns.host)
        far = subprocess.Popen(
            [sys.executable, "-c", CLIENT, ns.path, ns.host, str(server.port),
             f"/ws?room={room}&token={token('far', room)}"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert far.stdout is not None and far.stdout.readline().strip() == "connected"
            sent = 0

            def talk_until(done: object, seconds: float) -> float:
                """Comment every 0.1 s (answering the talker's own pings) until ``done()``."""
                nonlocal sent
                start = time.monotonic()
                deadline = start + scaled(seconds)
                next_check = start
                while time.monotonic() < deadline:
                    wire = RawSocketClient.frame(
                        0x1, f'{{"type":"comment","id":"c{sent}","text":"t{sent}"}}'.encode()
                    )
                    talker.sock.sendall(wire)
                    sent += 1
                    stop = time.monotonic() + 0.1
                    while (
                        frame := talker.read_frame(max(0.001, stop - time.monotonic()))
                    ) is not None:
                        if frame[0] == 0x9:
                            talker.sock.sendall(RawSocketClient.frame(0xA, frame[1]))
                        if time.monotonic() >= stop:
                            break
                    if time.monotonic() >= next_check:
                        next_check = time.monotonic() + 0.25
                        if done():  # type: ignore[operator]
                            return time.monotonic() - start
                raise AssertionError(f"not within {seconds} s")

            talk_until(lambda: _online(server, room) == 2, 15)
            # the far viewer's machine vanishes: its address goes, so its kernel drops what
            # comes for it without an answer (no ACK, no RST), and nothing leaves it
            _run(["ip", "netns", "exec", ns.name, "ip", "addr", "flush", "dev", ns.viewer_dev])
            took = talk_until(lambda: _online(server, room) == 1, 20)
            # TCP_USER_TIMEOUT is the ping interval and timeout (2 s); the online count moves
            # at the next pulse (1 s)
            assert took < scaled(8), took
            assert sent > 20
        finally:
            talker.close()
            if far.stdin is not None:
                far.stdin.close()
            far.wait(10)
            server.stop()
