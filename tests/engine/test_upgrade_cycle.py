"""Connections are freed by reference counting alone, not left in reference cycles for a full
garbage collection (which the node's GC thresholds make rare): uvicorn's HTTP protocol object
after the upgrade (``UpgradingHttpProtocol``), and the WebSocket protocol with its session and
transport once the connection is over, however the client left."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import weakref
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
import uvloop

from liveroom.app import create_app
from liveroom.connection.uvicorn_adapter import DirectWebSocketProtocol, UpgradingHttpProtocol
from tests.conftest import make_settings
from tests.liveclient import LiveClient, token
from tests.timeouts import scaled
from tests.wsraw import CLOSE, TEXT, RawSocketClient, client_frame


class Counted(UpgradingHttpProtocol):
    """Remembers each instance weakly, to see whether reference counting alone freed it."""

    alive: weakref.WeakSet[Any] = weakref.WeakSet()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Counted.alive.add(self)


class CountedWs(DirectWebSocketProtocol):
    alive: weakref.WeakSet[Any] = weakref.WeakSet()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        CountedWs.alive.add(self)


@contextlib.asynccontextmanager
async def _serving(http: Any, ws: Any) -> AsyncIterator[int]:
    """A uvicorn server in this loop with these protocol classes; its port. Stopped after."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(make_settings()),
        loop="none",
        http=http,
        ws=ws,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = asyncio.get_running_loop().time() + scaled(10)
    while not server.started:
        assert not serving.done(), "the server stopped at start"
        assert asyncio.get_running_loop().time() < deadline, "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await serving


async def _none_left(alive: weakref.WeakSet[Any]) -> int:
    """Wait for the server's side of the last close; then how many objects are still alive."""
    deadline = asyncio.get_running_loop().time() + scaled(5)
    while len(alive) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return len(alive)


def _without_the_collector(body: Any) -> None:
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(body())
    finally:
        gc.enable()


def test_upgraded_http_protocols_are_freed_without_the_collector() -> None:
    """20 viewers join and leave with the cyclic GC off: no HTTP protocol object survives."""

    async def body() -> None:
        async with _serving(
            Counted, "liveroom.connection.uvicorn_adapter:DirectWebSocketProtocol"
        ) as port:
            for n in range(20):
                client = await LiveClient.connect(f"ws://127.0.0.1:{port}/ws", "r1", f"u{n}")
                await client.event("welcome")  # the upgrade is done
                await client.close()
            left = await _none_left(Counted.alive)
            assert left == 0, f"{left} HTTP protocols left in cycles"

    _without_the_collector(body)


def _joined(port: int, user: str, ttl: float = 3600) -> RawSocketClient:
    client = RawSocketClient(port, f"/ws?room=r1&token={token(user, 'r1', ttl=ttl)}", 1 << 16)
    while True:
        frame = client.read_frame(scaled(5))
        assert frame is not None, "no snapshot"
        if b"snapshot" in frame[1]:
            return client


def _until_closed(client: RawSocketClient) -> None:
    """Read to the server's Close, answer it, and hang up."""
    while (frame := client.read_frame(scaled(10))) is not None and frame[0] != CLOSE:
        pass
    assert frame is not None, "no Close from the server"
    client.sock.sendall(client_frame(CLOSE, frame[1][:2]))
    client.close()


def test_ended_connections_are_freed_without_the_collector() -> None:
    """Viewers join and leave in every way, with the cyclic GC off: by a closing handshake, by a
    Close and a hang-up, by a bare hang-up, by a Close that waits for a command's reply, and
    closed by the server (their tokens expire). No WebSocket protocol survives, nor the session
    and transport it holds. Before, the token-expiry watch kept every ended session, and so its
    whole connection, until its token expired (an hour later here)."""

    async def body() -> None:
        async with _serving(
            "liveroom.connection.uvicorn_adapter:UpgradingHttpProtocol", CountedWs
        ) as port:
            for n in range(10):
                viewer = await LiveClient.connect(f"ws://127.0.0.1:{port}/ws", "r1", f"h{n}")
                await viewer.event("snapshot")
                await viewer.close()
            for n in range(20):
                client = await asyncio.to_thread(_joined, port, f"r{n}")
                if n % 2 == 0:  # a Close, then the socket at once, as a browser tab going away
                    client.sock.sendall(client_frame(CLOSE, (1001).to_bytes(2, "big")))
                client.close()
            for n in range(5):
                client = await asyncio.to_thread(_joined, port, f"c{n}")
                command = orjson.dumps({"type": "comment", "id": "c", "text": f"bye {n}"})
                wire = client_frame(TEXT, command)
                client.sock.sendall(wire + client_frame(CLOSE, (1000).to_bytes(2, "big")))
                await asyncio.to_thread(_until_closed, client)
            # exp is whole seconds from a whole-second iat: a ttl of 3 leaves 2 to 3 s, enough
            # for all five to join before the first expires (1.5 left as little as 0 s)
            expiring = [await asyncio.to_thread(_joined, port, f"e{n}", 3) for n in range(5)]
            for client in expiring:
                await asyncio.to_thread(_until_closed, client)
            left = await _none_left(CountedWs.alive)
            assert left == 0, f"{left} of 40 ended connections still held"

    _without_the_collector(body)


async def _in_r1(port: int, prefix: str, count: int) -> list[LiveClient]:
    """``count`` viewers in room r1, each past its snapshot (so detached from the ASGI task)."""
    viewers = [
        await LiveClient.connect(f"ws://127.0.0.1:{port}/ws", "r1", f"{prefix}{n}")
        for n in range(count)
    ]
    for viewer in viewers:
        await viewer.event("snapshot")
    return viewers


def test_a_joined_viewer_keeps_no_upgrade_request() -> None:
    """Once a viewer is in its room, nothing of its protocol holds the HTTP upgrade request:
    websockets' server parser kept it (about 2 kB with its headers) as a local of its
    generator for as long as the connection lived, and the parser is swapped at the join."""
    from websockets.http11 import Request

    async def body() -> None:
        async with _serving(
            "liveroom.connection.uvicorn_adapter:UpgradingHttpProtocol", CountedWs
        ) as port:
            viewers = await _in_r1(port, "q", 3)
            protocols = list(CountedWs.alive)
            assert len(protocols) == 3
            for protocol in protocols:
                parser = protocol.conn.parser
                frame = getattr(parser, "gi_frame", None)  # a generator, once one has run
                assert frame is not None or type(parser).__name__ == "_FrameParser"
                held = (
                    [v for v in frame.f_locals.values() if isinstance(v, Request)] if frame else []
                )
                assert not held, "the parser still holds the upgrade request"
                reply = await viewers[0].command("ping")
                assert reply["ok"], reply  # the new parser's connection still answers
            for viewer in viewers:
                await viewer.close()

    _without_the_collector(body)


def test_a_joined_viewer_s_protocol_keeps_only_its_own_state() -> None:
    """At the join, the protocol's server-wide attributes move to a class shared by the
    server's connections and its settled ones are read from there: the instance dict holds
    what differs. Each connection still reads its own values, a write lands on the instance
    alone, and a client ping (a frame the parser, started again, takes) is still answered."""

    async def body() -> None:
        async with _serving(
            "liveroom.connection.uvicorn_adapter:UpgradingHttpProtocol", CountedWs
        ) as port:
            viewers = await _in_r1(port, "c", 2)
            first, second = list(CountedWs.alive)
            assert type(first) is type(second) and type(first) is not CountedWs
            assert isinstance(first, CountedWs)
            for name in ("config", "loop", "app", "connections", "handshake_complete"):
                assert name not in first.__dict__, name
            assert first.loop is asyncio.get_running_loop()
            assert first.handshake_complete is True and first.read_paused is False
            assert len(first.__dict__) <= 10, sorted(first.__dict__)
            assert first.client != second.client and first.conn is not second.conn
            first.read_paused = True  # a write is the instance's own
            assert second.read_paused is False
            first.read_paused = False
            pong = await viewers[0].ws.ping(b"are you there")
            await asyncio.wait_for(pong, 5)
            for viewer in viewers:
                reply = await viewer.command("ping")
                assert reply["ok"], reply
            for viewer in viewers:
                await viewer.close()

    _without_the_collector(body)
