"""Real liveroom server processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.redis_servers import free_port
from tests.timeouts import scaled

SECRET = "test-secret-0123456789abcdef0123456789"
API_KEY = "test-api-key-0123456789"
LOGS = Path(os.environ.get("LIVEROOM_TEST_LOGS", "/tmp/liveroom-test-logs"))


class ServerProcess:
    """``python -m liveroom serve`` on a free port, with settings as ``LIVEROOM_*`` variables."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        command: list[str] | None = None,
        cwd: Path | None = None,
        **settings: object,
    ) -> None:
        self.host = host  # loopback, or a test's own network namespace's veth address
        # how to run it: this interpreter's ``-m liveroom serve``, or another install's command
        self.command = command or [sys.executable, "-m", "liveroom", "serve"]
        self.cwd = cwd
        self.port = free_port()
        self.settings = {"secret": SECRET, "api_key": API_KEY, "demo": False, **settings}
        self.proc: subprocess.Popen[bytes] | None = None
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.settings.items():
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            env["LIVEROOM_" + key.upper()] = text
        env["LIVEROOM_PORT"] = str(self.port)
        env["LIVEROOM_HOST"] = self.host
        return env

    def start(self, timeout: float = 20.0) -> ServerProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env(),
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:  # wait on the process for a moment: it either exits or we ask again
                self.proc.wait(0.05)
                raise RuntimeError(f"server exited early; see {self.log_path}")
            except subprocess.TimeoutExpired:
                pass
            try:
                if httpx.get(self.url + "/readyz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in time; see {self.log_path}")

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(scaled(timeout))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.kill()
