"""The ``liveroom`` command line, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys

from liveroom import auth

SECRET = "cli-test-secret-0123456789abcdef012345"


def _liveroom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liveroom", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_token_mints_a_token_the_server_accepts() -> None:
    """``liveroom token --user alice --room demo --role host`` prints a valid host token."""
    done = _liveroom(
        "token", "--user", "alice", "--room", "demo", "--role", "host", "--secret", SECRET
    )
    assert done.returncode == 0, done.stderr
    who = auth.verify(SECRET, done.stdout.strip(), "demo")
    assert (who.user, who.role) == ("alice", "host")


def test_serve_refuses_workers_on_the_memory_engine() -> None:
    """Several workers need the Redis engine: the memory engine refuses, with a reason."""
    done = _liveroom("serve", "--workers", "2", "--engine", "memory", "--port", "0")
    assert done.returncode != 0
    assert "redis" in (done.stderr + done.stdout).lower()
