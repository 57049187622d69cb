"""Flash-sale test helpers: a shared memory-engine server, HTTP calls as host, viewer, backend."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.liveclient import token
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import scaled

_rooms = itertools.count(1)

BACKEND = {"Authorization": f"Bearer {API_KEY}"}


def bearer(user: str, room: str, role: str = "viewer") -> dict[str, str]:
    return {"Authorization": "Bearer " + token(user, room, role)}


def sale_body(sale: str = "s1", stock: int = 10, limit: int = 2, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sale,
        "sku": "SKU-" + sale,
        "title": "Tea " + sale,
        "price": 1990,
        "stock": stock,
        "limit": limit,
    }
    body.update(more)
    return body


class Api:
    """HTTP calls to one server's sale endpoints."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(scaled(30), pool=None),
            # idle connections dropped well before the server's own keep-alive timeout
            # (uvicorn's 5 s): a connection the server is closing just then would fail the
            # next request sent on it ("Server disconnected without sending a response")
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0
            ),
        )

    async def create(self, room: str, headers: dict[str, str] = BACKEND, **body: Any) -> Any:
        return await self.http.post(f"/api/rooms/{room}/sales", json=body, headers=headers)

    async def post(self, path: str, headers: dict[str, str] = BACKEND, **body: Any) -> Any:
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, path: str, headers: dict[str, str] = BACKEND) -> Any:
        return await self.http.get(path, headers=headers)

    async def buy(
        self, room: str, sale: str, user: str, request_id: str, quantity: Any = 1
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/rooms/{room}/sales/{sale}/buy",
            json={"quantity": quantity, "request_id": request_id},
            headers=bearer(user, room),
        )

    async def audit(self, room: str, sale: str) -> dict[str, Any]:
        response = await self.get(f"/api/rooms/{room}/sales/{sale}/audit")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def sale(self, room: str, sale: str) -> dict[str, Any]:
        response = await self.get(f"/api/rooms/{room}/sales/{sale}")
        assert response.status_code == 200, response.text
        return dict(response.json()["sale"])

    async def close(self) -> None:
        await self.http.aclose()


class KeepAlive:
    """Many small JSON POSTs over a few kept-alive HTTP/1.1 connections.

    For the race only: httpx costs milliseconds of client CPU per request, which on a shared
    two-core machine would measure the client, not the server.
    """

    def __init__(self, port: int, connections: int = 32) -> None:
        self.port = port
        self.size = connections
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> KeepAlive:
        for _ in range(self.size):
            self.free.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        reader, writer = await self.free.get()
        try:
            data = orjson.dumps(body)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n{head}\r\n".encode()
                + data
            )
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            return status, orjson.loads(await reader.readexactly(length))
        finally:
            self.free.put_nowait((reader, writer))

    async def close(self) -> None:
        while not self.free.empty():
            _, writer = self.free.get_nowait()
            writer.close()


@pytest.fixture(scope="package")
def server() -> Iterator[ServerProcess]:
    """One memory-engine server for this package's tests; each test takes its own room."""
    proc = ServerProcess(engine="memory", sweep_interval_s=0.1, command_burst=200).start()
    yield proc
    proc.stop()


@pytest.fixture
def room() -> str:
    return f"fs{next(_rooms)}"


@pytest.fixture
async def api(server: ServerProcess) -> Any:
    client = Api(server.url)
    yield client
    await client.close()
