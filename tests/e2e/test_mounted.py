"""liveroom mounted inside another Starlette app, under a path prefix, on stock uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.liveclient import LiveClient
from tests.processes import free_port, retry_on_taken_port, start_process
from tests.servers import API_KEY, LOGS, SECRET


@pytest.fixture
def mounted() -> Iterator[str]:
    """Run ``tests.e2e.mounted_app:app`` with plain uvicorn (no liveroom transport)."""
    env = {**os.environ, "LIVEROOM_SECRET": SECRET, "LIVEROOM_API_KEY": API_KEY}
    port = free_port()

    def launch() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "uvicorn", "tests.e2e.mounted_app:app"]
        return start_process(
            [*command, "--port", str(port)],
            lambda _: httpx.get(f"{base()}/live/readyz", timeout=0.5).status_code == 200,
            what=f"mounted app on port {port}",
            log=LOGS / f"mounted-{port}.log",
            timeout=10,
            env=env,
        )

    def base() -> str:
        return f"http://127.0.0.1:{port}"

    def move() -> None:
        nonlocal port
        port = free_port()

    proc = retry_on_taken_port(launch, move)
    try:
        yield base()
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
