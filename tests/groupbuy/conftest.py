"""Group-buy test helpers: a shared memory-engine server, HTTP calls as host, viewer, backend."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.flashsale.conftest import BACKEND, bearer
from tests.servers import ServerProcess
from tests.timeouts import scaled

_rooms = itertools.count(1)


def deal_body(
    deal: str = "d1", size: int = 3, stock: int = 30, limit: int = 1, **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": deal,
        "sku": "SKU-" + deal,
        "title": "Tea for " + str(size),
        "size": size,
        "price": 990,
        "stock": stock,
        "limit": limit,
    }
    body.update(more)
    return body


class GroupApi:
    """HTTP calls to one server's deal endpoints."""

    def __init__(self, base_url: str) -> None:
        # idle connections dropped before the server's keep-alive timeout (uvicorn's 5 s), as
        # in tests/flashsale/conftest.py
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(scaled(30)),
            limits=httpx.Limits(keepalive_expiry=2.0),
        )

    async def create(self, room: str, **body: Any) -> dict[str, Any]:
        response = await self.http.post(f"/api/rooms/{room}/deals", json=body, headers=BACKEND)
        assert response.status_code == 200, response.text
        return dict(response.json()["deal"])

    async def post(self, path: str, headers: dict[str, str] = BACKEND, **body: Any) -> Any:
        return await self.http.post(path, json=body, headers=headers)

    async def get(self, path: str, headers: dict[str, str] = BACKEND) -> Any:
        return await self.http.get(path, headers=headers)

    async def place(
        self, room: str, deal: str, user: str, request_id: str, group: str = "", **body: Any
    ) -> httpx.Response:
        """Start (no ``group``), join ``group``, or match (``group="match"``) as viewer ``user``."""
        base = f"/api/rooms/{room}/deals/{deal}"
        path = {"": base + "/groups", "match": base + "/match"}.get(
            group, f"{base}/groups/{group}/join"
        )
        return await self.post(path, bearer(user, room), request_id=request_id, **body)

    async def audit(self, room: str, deal: str) -> dict[str, Any]:
        response = await self.get(f"/api/rooms/{room}/deals/{deal}/audit")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def close(self) -> None:
        await self.http.aclose()


@pytest.fixture(scope="package")
def server() -> Iterator[ServerProcess]:
    """One memory-engine server for this package's tests; each test takes its own room."""
    proc = ServerProcess(engine="memory", sweep_interval_s=0.1, command_burst=200).start()
    yield proc
    proc.stop()


@pytest.fixture
def room() -> str:
    return f"gb{next(_rooms)}"


@pytest.fixture
async def api(server: ServerProcess) -> Any:
    client = GroupApi(server.url)
    yield client
    await client.close()
