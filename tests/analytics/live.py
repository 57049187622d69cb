"""In-process liveroom nodes for the analytics tests: real uvicorn servers (liveroom's own
protocol classes) in the test's event loop, on port 0, each built by ``create_app`` with an
injected clock, so a scripted room moves through minutes and hours without waiting."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import uvicorn
import websockets

from liveroom import auth
from liveroom.app import Node, create_app
from liveroom.connection.uvicorn_adapter import uvicorn_options
from liveroom.features.analytics import Analytics
from tests.conftest import make_settings
from tests.liveclient import LiveClient
from tests.servers import API_KEY, SECRET
from tests.timeouts import eventually, scaled


class Clock:
    """A wall clock the test moves by hand: seconds since the epoch."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class LiveNode:
    """One node: its URLs, its ``Node`` and its analytics feature."""

    url: str
    node: Node

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    @property
    def analytics(self) -> Analytics:
        return next(f for f in self.node.features if isinstance(f, Analytics))

    def connections(self, room: str, user: str) -> int:
        """How many connections of ``user`` this node's tally holds in ``room``."""
        r = self.analytics.tally.rooms.get(room)
        return r.conns.get(user, 0) if r is not None else 0

    async def api(self, method: str, path: str, body: Any = None, key: str = API_KEY) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=scaled(10)) as http:
            reply = await http.request(
                method, path, json=body, headers={"authorization": f"Bearer {key}"}
            )
        return reply


@contextlib.asynccontextmanager
async def live_node(clock: Clock, **settings: Any) -> AsyncIterator[LiveNode]:
    """A node serving on a free port in this event loop; stopped afterwards."""
    app = create_app(make_settings(**settings), clock=clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = uvicorn_options()
    config = uvicorn.Config(app, loop="none", log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started or serving.done(), timeout=10)
    assert not serving.done(), "the server stopped at start"
    try:
        yield LiveNode(f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.node)
    finally:
        server.should_exit = True
        await serving


def viewer_token(user: str, room: str, **traits: str | bool) -> str:
    return auth.mint(SECRET, user, room=room, role="viewer", traits=traits or None)


async def join(
    node: LiveNode, room: str, user: str, src: str | None = None, **traits: str | bool
) -> LiveClient:
    """``user`` joins ``room`` on ``node`` (with ``src`` and audience claims); returns once the
    node's analytics has counted the connection."""
    before = node.connections(room, user)
    url = f"{node.ws_url}?room={room}&token={viewer_token(user, room, **traits)}"
    if src is not None:
        url += f"&src={src}"
    client = LiveClient(await websockets.connect(url, open_timeout=scaled(10)))
    await client.event("snapshot")
    await eventually(lambda: node.connections(room, user) == before + 1)
    return client


async def leave(node: LiveNode, room: str, user: str, client: LiveClient) -> None:
    """Close ``client``; returns once the node's analytics has counted the leave."""
    before = node.connections(room, user)
    await client.close()
    await eventually(lambda: node.connections(room, user) == before - 1)


async def ok(client: LiveClient, kind: str, **fields: Any) -> dict[str, Any]:
    """Send a command; its reply, which must not be an error."""
    reply = await client.command(kind, **fields)
    assert reply["ok"], reply
    return reply


def body(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text[:500]
    return orjson.loads(reply.content) if reply.content else None
