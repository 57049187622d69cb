"""Real Redis for tests: the machine's server, or private ``redis-server`` processes on free ports.

Every Redis test talks to a real redis-server, never a stand-in. When none can be had, tests
fail in CI (``CI`` or ``LIVEROOM_REQUIRE_REDIS`` set) and skip, loudly, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.processes import free_port, retry_on_taken_port, start_process

#: a probe answers now or counts as "not yet": no retries with backoff (redis-py's default)
ONE_TRY = Retry(NoBackoff(), 0)


def reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, retry=ONE_TRY)
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
        self.started = port is not None  # a port given, or once up: it stays the same

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
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
        ]

    def move(self) -> None:
        """New ports, for a start that found the one picked taken."""
        self.port = free_port()

    def start(self, timeout: float = 10.0) -> RedisProcess:
        """Start, and return once it answers; on new ports if the ones picked were taken
        meanwhile (only before its first start: a restart keeps its port)."""

        def launch() -> subprocess.Popen[bytes]:
            return start_process(
                self.command(),
                self._serves,
                what=f"redis-server on port {self.port}",
                log=self.dir / "redis.log",
                timeout=timeout,
            )

        self.proc = launch() if self.started else retry_on_taken_port(launch, self.move)
        self.started = True
        return self

    def _serves(self, proc: subprocess.Popen[bytes]) -> bool:
        """Whether the redis-server on our port is ``proc``, not one that took the port, and
        has its data loaded: a restart with an append-only file answers ``INFO`` while it
        loads, and every other command with ``LOADING``."""
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            retry=ONE_TRY,
        )
        try:
            if client.info("server")["process_id"] != proc.pid:
                return False
            return not int(client.info("persistence")["loading"])
        finally:
            client.close()

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
