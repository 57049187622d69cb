"""Real Redis for tests: the machine's server, or private ``redis-server`` processes on free ports.

Every Redis test talks to a real redis-server, never a stand-in. When none can be had, tests
fail in CI (``CI`` or ``LIVEROOM_REQUIRE_REDIS`` set) and skip, loudly, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        ok = bool(client.ping())
        client.close()
        return ok
    except redis.RedisError:
        return False


def no_redis(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("LIVEROOM_REQUIRE_REDIS"):
        pytest.fail(f"Redis is required in CI: {reason}")
    pytest.skip(f"no Redis: {reason}")


class RedisProcess:
    """A private redis-server the test may stop, kill and start again on the same port."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            no_redis("redis-server binary not found")
        self.binary = binary or "redis-server"
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="liveroom-redis-"))
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisProcess:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--protected-mode",
                "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not reachable(self.url):
            try:  # wait on the process for a moment: it either exits or we ask again
                self.proc.wait(0.02)
                raise RuntimeError(f"redis-server on port {self.port} exited at start")
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        """Shut down cleanly (AOF is flushed)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections and answers nothing, as a hung host."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
