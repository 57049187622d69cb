"""Keep-alive pings spared where the peer's TCP shows it is there (``keepalive_round``).

A viewer of a room with traffic acknowledges the server's frames as they come: its machine is
there, so the server skips its ping on two of the sweep's laps in three, and pings it on the
third anyway (its application may hang while its kernel acknowledges). A quiet viewer is
pinged every interval, as before: the ACK that came with its last pong is an interval old.
"""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.liveclient import token
from tests.servers import ServerProcess, StartServer
from tests.timeouts import scaled
from tests.wsraw import CLOSE, PING, PONG, TEXT, RawSocketClient, client_frame

INTERVAL = 1.0
UNLIMITED = {
    "user_comment_limit": 100_000,
    "room_comment_cap": 100_000,
    "command_rate": 100_000,
    "command_burst": 100_000,
}


def _viewer(server: ServerProcess, room: str, user: str) -> RawSocketClient:
    return RawSocketClient(server.port, f"/ws?room={room}&token={token(user, room)}", 1 << 16)


def _watch(client: RawSocketClient, seconds: float, answer: bool) -> tuple[list[float], int | None]:
    """Read frames for ``seconds``: the times the server's pings came (each answered with its
    pong when ``answer``), and the close code if the server closed first."""
    pings: list[float] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        frame = client.read_frame(left)
        if frame is None:
            continue  # the deadline passed (or EOF: the loop ends there too)
        opcode, payload = frame
        if opcode == CLOSE:
            return pings, int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        if opcode == PING:
            pings.append(time.monotonic())
            if answer:
                client.sock.sendall(client_frame(PONG, payload))
    return pings, None


class Talker(threading.Thread):
    """Comments in ``room`` every 50 ms, answering its own pings, until ``stop``."""

    def __init__(self, server: ServerProcess, room: str) -> None:
        super().__init__(daemon=True)
        self.client = _viewer(server, room, "talker")
        self.done = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.done.is_set():
            body = f'{{"type":"comment","id":"c{self.sent}","text":"t{self.sent}"}}'.encode()
            self.client.sock.sendall(client_frame(TEXT, body))
            self.sent += 1
            _watch(self.client, 0.05, answer=True)

    def stop(self) -> None:
        self.done.set()
        self.join(scaled(10))
        self.client.close()


def _gaps(times: list[float]) -> list[float]:
    return [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)]


def test_a_viewer_of_a_busy_room_is_pinged_every_third_interval(start_server: StartServer) -> None:
    """Over ten intervals: the busy room's viewer, whose TCP acknowledges frames all along, is
    pinged every third interval; the quiet room's, every interval."""
    server = start_server(ping_interval_s=INTERVAL, **UNLIMITED)
    talker = Talker(server, "busy")
    talker.start()
    busy, quiet = _viewer(server, "busy", "bea"), _viewer(server, "quiet", "quinn")
    try:
        with ThreadPoolExecutor(2) as pool:
            watched = pool.map(
                functools.partial(_watch, seconds=10 * INTERVAL, answer=True), (busy, quiet)
            )
            (busy_pings, busy_code), (quiet_pings, quiet_code) = watched
    finally:
        talker.stop()
        busy.close()
        quiet.close()
    assert busy_code is None and quiet_code is None, (busy_code, quiet_code)
    assert talker.sent > 50
    # still pinged, every third interval (give or take the loops' lag: the sweep's and this
    # thread's, which shares the GIL with two others)
    assert len(busy_pings) >= 2, busy_pings
    assert all(2.0 * INTERVAL <= gap <= scaled(3.9 * INTERVAL) for gap in _gaps(busy_pings)), _gaps(
        busy_pings
    )
    # the quiet viewer: a ping every interval (a pong half an interval late could spare one)
    assert len(quiet_pings) >= 7, quiet_pings
    assert max(_gaps(quiet_pings)) <= 1.9 * INTERVAL, _gaps(quiet_pings)


def test_a_busy_rooms_viewer_that_answers_no_ping_is_still_closed(
    start_server: StartServer,
) -> None:
    """A viewer whose kernel acknowledges every frame but which answers no ping (its application
    hangs) is closed with 4002: the sweep's third lap pings it, spared or not, and the lap after
    finds no answer: within four intervals."""
    server = start_server(ping_interval_s=INTERVAL, **UNLIMITED)
    talker = Talker(server, "busy")
    talker.start()
    hung = _viewer(server, "busy", "hugo")
    try:
        started = time.monotonic()
        pings, code = _watch(hung, scaled(12 * INTERVAL), answer=False)
        took = time.monotonic() - started
    finally:
        talker.stop()
        hung.close()
    assert code == 4002, (code, pings)
    assert len(pings) == 1, pings
    assert took <= scaled(5 * INTERVAL), took
