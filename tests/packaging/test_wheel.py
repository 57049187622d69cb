"""The wheel stands alone: built from the sdist, installed in a clean virtualenv away from the
source tree, it serves the demo pages and the JS client and runs a room; built without a C
compiler it still installs, and the fan-out sends with the Python loop."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import httpx

from tests.liveclient import LiveClient
from tests.servers import ServerProcess
from tests.timeouts import scaled

ROOT = Path(__file__).resolve().parents[2]
SERVER_LOCK = ROOT / "requirements" / "server.txt"


def _build(out: Path, env: dict[str, str] | None = None) -> Path:
    """``python -m build`` (sdist, then the wheel from the sdist) into ``out``; the wheel."""
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=scaled(300),
    )
    (wheel,) = out.glob("liveroom-*.whl")
    assert list(out.glob("liveroom-*.tar.gz")), "no sdist was built"
    return wheel


def _install(wheel: Path, where: Path) -> Path:
    """A fresh virtualenv at ``where`` with the locked server dependencies and the wheel."""
    venv.EnvBuilder(with_pip=True).create(where)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--require-hashes", "-r", str(SERVER_LOCK)], check=True, timeout=600)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=scaled(120))
    return where


def _probe(env: Path, code: str, cwd: Path) -> str:
    run = subprocess.run(
        [str(env / "bin" / "python"), "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        timeout=scaled(60),
    )
    return run.stdout.strip() + run.stderr.strip()


def _serve(env: Path, cwd: Path) -> ServerProcess:
    return ServerProcess(
        command=[str(env / "bin" / "liveroom"), "serve"], cwd=cwd, demo=True
    ).start()


async def _room_works(server: ServerProcess) -> None:
    """The demo pages and the client are served, and a viewer sees a comment fanned out."""
    pages = {
        "/demo/": "<html",
        "/demo/viewer.js": "import",
        "/demo/host.html": "<html",
        "/client/liveroom.js": "export class LiveRoom",
        "/client/liveroom.d.ts": "LiveRoom",
    }
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path, needle in pages.items():
            page = await http.get(path)
            assert page.status_code == 200, path
            assert needle in page.text, path
    host = await LiveClient.connect(server.ws_url, room="r1", user="host", role="host")
    viewer = await LiveClient.connect(server.ws_url, room="r1", user="bob")
    try:
        await viewer.event("snapshot")
        reply = await host.command("comment", text="hello from a wheel")
        assert reply["ok"] is True, reply
        await viewer.event("comment", text="hello from a wheel")
    finally:
        await host.close()
        await viewer.close()


async def test_the_wheel_serves_the_demo_and_a_room_from_a_clean_virtualenv(
    tmp_path: Path,
) -> None:
    """Built from the sdist and installed away from the source, with the C send loop and the
    C packing of Redis commands."""
    env = _install(_build(tmp_path / "dist"), tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _probe(env, "import liveroom; print(liveroom.__file__)", elsewhere)
    assert where.startswith(str(tmp_path / "venv")), where
    assert _probe(env, "import liveroom._sendall; print('c loop')", elsewhere) == "c loop"
    assert _probe(env, "import liveroom._respack; print('c pack')", elsewhere) == "c pack"
    server = _serve(env, elsewhere)
    try:
        await _room_works(server)
    finally:
        server.stop()


async def test_without_a_c_compiler_the_wheel_installs_and_runs_the_python_loop(
    tmp_path: Path,
) -> None:
    """A build whose compiler fails still makes a wheel; the server falls back to Python."""
    wheel = _build(tmp_path / "dist", env={"CC": "false", "LDSHARED": "false"})
    env = _install(wheel, tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "ModuleNotFoundError" in _probe(env, "import liveroom._sendall", elsewhere)
    assert "ModuleNotFoundError" in _probe(env, "import liveroom._respack", elsewhere)
    server = _serve(env, elsewhere)
    try:
        await _room_works(server)
    finally:
        server.stop()
