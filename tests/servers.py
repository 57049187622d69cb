"""Real liveroom server processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.processes import free_port, retry_on_taken_port, start_process
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
        self.started = False  # once it has been up, its port is known to clients: it stays

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

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric in the server's ``/metrics`` now. A failed scrape,
        or one without the metric (every unlabelled one is there from the start, 0 or not),
        fails the test: it is not a 0."""
        scrape = httpx.get(self.url + "/metrics", timeout=10)
        assert scrape.status_code == 200, scrape.text[:500]
        for line in scrape.text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} is not in /metrics")

    @property
    def log_path(self) -> Path:
        return LOGS / f"server-{self.port}.log"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start, and return once ``/readyz`` answers 200; on a new port if the one picked was
        taken meanwhile (only before its first start: a restart keeps its port)."""

        def launch() -> subprocess.Popen[bytes]:
            return start_process(
                self.command,
                lambda _: httpx.get(self.url + "/readyz", timeout=0.5).status_code == 200,
                what=f"server on port {self.port}",
                log=self.log_path,
                timeout=timeout,
                env=self.env(),
                cwd=self.cwd,
            )

        self.proc = launch() if self.started else retry_on_taken_port(launch, self._move)
        self.started = True
        return self

    def _move(self) -> None:
        self.port = free_port()

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


#: the ``start_server`` fixture: ``start_server(**settings)`` starts a ready server
StartServer = Callable[..., ServerProcess]
