"""After the WebSocket upgrade, uvicorn's HTTP protocol object is freed at once, not left in a
reference cycle for a full garbage collection (``UpgradingHttpProtocol``)."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from typing import Any

import uvicorn
import uvloop
import websockets

from liveroom.app import create_app
from liveroom.transport import UpgradingHttpProtocol
from tests.conftest import make_settings
from tests.liveclient import token
from tests.timeouts import scaled


class Counted(UpgradingHttpProtocol):
    """Remembers each instance weakly, to see whether reference counting alone freed it."""

    alive: weakref.WeakSet[Any] = weakref.WeakSet()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Counted.alive.add(self)


def test_upgraded_http_protocols_are_freed_without_the_collector() -> None:
    """20 viewers join and leave with the cyclic GC off: no HTTP protocol object survives."""

    async def body() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(make_settings()),
            loop="none",
            http=Counted,
            ws="liveroom.transport:DirectWebSocketProtocol",
            log_level="warning",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            for n in range(20):
                url = f"ws://127.0.0.1:{port}/ws?room=r1&token={token(f'u{n}', 'r1')}"
                async with websockets.connect(url, open_timeout=scaled(5)) as ws:
                    await ws.recv()  # welcome: the upgrade is done
            deadline = asyncio.get_running_loop().time() + scaled(5)
            while len(Counted.alive) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)  # the server side of the last close, then freed
            assert len(Counted.alive) == 0, f"{len(Counted.alive)} HTTP protocols left in cycles"
        finally:
            server.should_exit = True
            await serving

    gc.disable()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(body())
    finally:
        gc.enable()
