"""uvicorn's internals are liveroom's business in one module only (``uvicorn_adapter``): on a
uvicorn outside the range it was tested with, ``liveroom serve`` warns once and serves on the
portable ASGI path; mounted in another app, liveroom never loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from liveroom.connection import uvicorn_adapter
from tests.liveclient import LiveClient
from tests.servers import SECRET, ServerProcess

UNTESTED = "outside the versions liveroom's direct WebSocket transport was tested with"


@pytest.mark.parametrize(
    ("version", "tested"),
    [
        ("0.52.0", False),
        ("0.52.1", True),
        ("0.53.2", True),
        ("0.54.0", True),
        ("0.54.17", True),
        ("0.55.0rc1", False),
        ("0.55.0", False),
        ("1.0", False),
        ("unknown", False),
    ],
)
def test_the_tested_range_is_0_52_1_up_to_0_55(version: str, tested: bool) -> None:
    """``TESTED`` is >=0.52.1,<0.55; a pre-release counts as its release."""
    assert uvicorn_adapter.tested(version) is tested


def test_the_installed_uvicorn_is_one_the_direct_transport_was_tested_with() -> None:
    """The suite runs the direct path: an untested uvicorn here would leave it untested."""
    assert uvicorn_adapter.TESTED_HERE, uvicorn_adapter.installed()
    assert uvicorn_adapter.uvicorn_options() == {
        "http": "liveroom.connection.uvicorn_adapter:UpgradingHttpProtocol",
        "ws": "liveroom.connection.uvicorn_adapter:DirectWebSocketProtocol",
    }


@pytest.mark.parametrize(
    ("version", "tested"),
    [("15.0.1", False), ("16.0", True), ("17.4", True), ("18.0", False), ("unknown", False)],
)
def test_the_tested_websockets_range_is_16_up_to_18(version: str, tested: bool) -> None:
    """``WEBSOCKETS_TESTED`` is >=16.0,<18: 16.0 gave ``Protocol`` its ``max_message_size``."""
    assert uvicorn_adapter.tested(version, uvicorn_adapter.WEBSOCKETS_TESTED) is tested


def _untested(root: Path, distribution: str, version: str) -> Path:
    """A directory whose distribution metadata says ``distribution`` is ``version``: first on
    ``PYTHONPATH``, it is the version ``importlib.metadata`` reports, while the real package
    still runs."""
    dist = root / f"{distribution}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    )
    return root


@pytest.mark.parametrize(
    ("distribution", "version"), [("uvicorn", "0.99.0"), ("websockets", "99.0")]
)
async def test_an_untested_dependency_serves_on_the_asgi_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, distribution: str, version: str
) -> None:
    """uvicorn (or websockets) says it is a release never tested: ``liveroom serve`` logs one
    warning, leaves uvicorn its own protocols (so the app is on the ASGI path), and a viewer
    still joins and gets a comment."""
    paths = [str(_untested(tmp_path, distribution, version)), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    server = ServerProcess()
    before = server.log_path.stat().st_size if server.log_path.exists() else 0
    server.start()
    try:
        alice = await LiveClient.connect(server.ws_url, "portable", "alice")
        bob = await LiveClient.connect(server.ws_url, "portable", "bob")
        await alice.event("snapshot")
        await bob.event("snapshot")
        answer = await alice.command("comment", text="still here")
        assert answer["ok"] is True
        await bob.event("comment", text="still here")
        await alice.close()
        await bob.close()
    finally:
        server.stop()
    with server.log_path.open("rb") as log:
        log.seek(before)
        lines = [json.loads(line) for line in log if line.startswith(b"{")]
    warnings = [line for line in lines if UNTESTED in line["msg"]]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning" and f"{distribution} {version}" in warnings[0]["msg"]


#: a ``sitecustomize`` that makes websockets' protocol objects lack an attribute the direct
#: transport reads once a connection is open: what a release that renamed it would do
_DROPPED_ATTRIBUTE = """
import websockets.protocol

_init = websockets.protocol.Protocol.__init__


def _without_limit(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    del self.max_message_size


websockets.protocol.Protocol.__init__ = _without_limit
"""


async def test_a_dependency_that_breaks_reading_closes_with_1011(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When reading a frame fails inside a dependency, the client is closed with 1011 (and the
    log says why) instead of being left on a connection that no longer reads."""
    (tmp_path / "sitecustomize.py").write_text(_DROPPED_ATTRIBUTE)
    paths = [str(tmp_path), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    server = ServerProcess()
    before = server.log_path.stat().st_size if server.log_path.exists() else 0
    server.start()
    try:
        viewer = await LiveClient.connect(server.ws_url, "broken", "carol")
        await viewer.event("snapshot")
        await viewer.send_raw('{"type":"comment","id":"c1","text":"hello"}')
        code, _ = await viewer.closed_with()
        assert code == 1011
    finally:
        server.stop()
    with server.log_path.open("rb") as log:
        log.seek(before)
        assert b"closing it with 1011" in log.read()


def test_a_tested_uvicorn_gives_no_warning() -> None:
    """The same server on the installed uvicorn: no such warning (the direct path)."""
    server = ServerProcess()
    before = server.log_path.stat().st_size if server.log_path.exists() else 0
    try:
        server.start()
    finally:
        server.stop()
    with server.log_path.open("rb") as log:
        log.seek(before)
        assert UNTESTED.encode() not in log.read()


def test_the_mounted_app_never_loads_uvicorn_internals() -> None:
    """Importing liveroom's app, mounted in a shop's app, imports none of uvicorn."""
    probe = (
        "import sys, tests.e2e.mounted_app; print(sorted(m for m in sys.modules if "
        "m.partition('.')[0] == 'uvicorn' or m.endswith('.uvicorn_adapter')))"
    )
    env = {**os.environ, "LIVEROOM_SECRET": SECRET}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
