"""Client tests: one real server per engine for the package, a client, a room per test.

A server start costs about two seconds of this machine's two cores, so the package shares one
server per engine (as ``tests/flashsale`` does) instead of one per test; each test works in a
room of its own, and the Redis server's keys live under a prefix of their own, deleted at the
end.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from liveroom.client import LiveroomClient
from tests.conftest import delete_prefix
from tests.liveclient import LiveClient
from tests.redis_servers import no_redis, reachable
from tests.servers import API_KEY, SECRET, ServerProcess

_rooms = itertools.count(1)


@pytest.fixture(scope="package", params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A liveroom server process on each engine, shared by the package's tests."""
    if request.param == "memory":
        proc = ServerProcess(engine="memory").start()
        yield proc
        proc.stop()
        return
    url = str(request.getfixturevalue("redis_url"))
    if not reachable(url):
        no_redis(url)
    prefix = "lrt-client-" + uuid.uuid4().hex[:8]
    proc = ServerProcess(engine="redis", redis_url=url, redis_prefix=prefix).start()
    try:
        yield proc
    finally:
        proc.stop()
        delete_prefix(url, prefix)


@pytest.fixture
def room() -> str:
    """A room no other test uses."""
    return f"cl{next(_rooms)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def lr(server: ServerProcess) -> AsyncIterator[LiveroomClient]:
    """The backend's client: the server's API key and signing secret."""
    async with LiveroomClient(server.url, api_key=API_KEY, secret=SECRET) as client:
        yield client


@pytest.fixture
async def viewers(server: ServerProcess) -> AsyncIterator[list[LiveClient]]:
    """WebSocket viewers a test opens (append them); all closed afterwards."""
    opened: list[LiveClient] = []
    yield opened
    for viewer in opened:
        await viewer.close()


async def watch(
    server: ServerProcess, room: str, token: str, viewers: list[LiveClient]
) -> LiveClient:
    """A viewer of ``room`` connected with ``token``, its snapshot received."""
    viewer = await LiveClient.connect(server.ws_url, room=room, tok=token)
    viewers.append(viewer)
    await viewer.event("snapshot")
    return viewer
