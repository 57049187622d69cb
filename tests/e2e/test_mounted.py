"""liveroom mounted inside another Starlette app, under a path prefix, on stock uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.liveclient import LiveClient
from tests.redis_servers import free_port
from tests.servers import API_KEY, LOGS, SECRET
from tests.timeouts import scaled


@pytest.fixture
def mounted() -> Iterator[str]:
    """Run ``tests.e2e.mounted_app:app`` with plain uvicorn (no liveroom transport)."""
    port = free_port()
    env = {**os.environ, "LIVEROOM_SECRET": SECRET, "LIVEROOM_API_KEY": API_KEY}
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"mounted-{port}.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.e2e.mounted_app:app", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(int(scaled(200))):
            try:
                if httpx.get(base + "/live/readyz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            try:
                proc.wait(0.05)
                raise RuntimeError("mounted app exited early")
            except subprocess.TimeoutExpired:
                pass
        else:
            raise RuntimeError("mounted app not ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


async def test_mounted_app_serves_http_and_websocket(mounted: str) -> None:
    """Under ``/live``: the shop's route, liveroom's HTTP API and WebSocket fan-out all work."""
    async with httpx.AsyncClient(base_url=mounted) as http:
        assert (await http.get("/")).json() == {"shop": "ok"}
        assert (await http.get("/live/healthz")).json() == {"ok": True}
        auth = {"Authorization": f"Bearer {API_KEY}"}
        put = await http.put("/live/api/rooms/shop1", json={"title": "新品首发"}, headers=auth)
        assert put.status_code == 200, put.text
    ws_url = mounted.replace("http", "ws") + "/live/ws"
    alice = await LiveClient.connect(ws_url, "shop1", "alice")
    bob = await LiveClient.connect(ws_url, "shop1", "bob")
    snapshot = await alice.event("snapshot")
    assert snapshot["room"]["title"] == "新品首发"
    await bob.event("snapshot")
    answer = await alice.command("comment", text="mounted hello")
    assert answer["ok"] is True
    await bob.event("comment", text="mounted hello")
    await alice.close()
    await bob.close()
