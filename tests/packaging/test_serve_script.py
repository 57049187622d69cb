"""The README's first command, ``bash scripts/serve``, on a Python that refuses system-wide
installs (PEP 668, as Debian's and Ubuntu's do): it makes its own virtualenv from the lock and
serves the demo on the memory engine."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.redis_servers import free_port
from tests.timeouts import scaled

ROOT = Path(__file__).resolve().parents[2]
#: Debian's own Python, whose stdlib carries the PEP 668 marker
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _externally_managed(python: Path) -> bool:
    if not python.exists():
        return False
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (Path(stdlib) / "EXTERNALLY-MANAGED").is_file()


@pytest.mark.skipif(
    not _externally_managed(SYSTEM_PYTHON), reason="no externally managed system Python here"
)
def test_serve_installs_into_its_own_virtualenv_on_an_externally_managed_python(
    tmp_path: Path,
) -> None:
    """``PYTHON=/usr/bin/python3 bash scripts/serve`` in a fresh clone serves the demo."""
    refused = subprocess.run(
        [str(SYSTEM_PYTHON), "-m", "pip", "install", "--dry-run", "orjson"],
        capture_output=True,
        text=True,
    )
    assert "externally-managed-environment" in refused.stderr  # the premise holds
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if str(Path(sys.prefix)) not in p
    )
    env["PYTHON"] = str(SYSTEM_PYTHON)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        ["bash", "scripts/serve", "--port", str(port)],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + scaled(600)
        url = f"http://127.0.0.1:{port}"
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "scripts/serve did not come up"
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.2)  # the pause between polls: wakes early if the script exits
        ready = httpx.get(url + "/readyz").json()
        assert ready["engine"] == "memory"
        assert "<html" in httpx.get(url + "/demo/").text
        assert httpx.get(url + "/client/liveroom.js").status_code == 200
        base = subprocess.run(
            [str(clone / ".venv-serve" / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert base == str(clone / ".venv-serve")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(scaled(20))
