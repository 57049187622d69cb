"""The ``liveroom`` command line, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from liveroom import auth
from liveroom.config import Settings

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


def test_serve_refuses_malformed_gc_thresholds() -> None:
    """``--gc-thresholds`` takes three positive integers; anything else stops the start."""
    done = _liveroom("serve", "--gc-thresholds", "50000,20", "--port", "0")
    assert done.returncode == 2
    assert "gc_thresholds must be three positive integers" in done.stderr


def test_send_loop_is_auto_c_or_python() -> None:
    """``--send-loop``: anything else stops the start with the reason; "c" starts only where the
    C loop was built, which the test install always does."""
    done = _liveroom("serve", "--send-loop", "rust", "--port", "0")
    assert done.returncode == 2
    assert "send_loop must be auto, c or python" in done.stderr
    for good in ("auto", "c", "python"):
        Settings(send_loop=good).validate()


def test_gc_thresholds_are_read_and_applied() -> None:
    """The setting reads as three ints ("" leaves Python's own) and ``tune_gc`` applies it."""
    assert Settings(gc_thresholds="1000,5,7").gc_levels == (1000, 5, 7)
    assert Settings(gc_thresholds=" ").gc_levels is None
    for bad in ("0,1,1", "a,b,c", "1,2,3,4"):
        with pytest.raises(ValueError, match="gc_thresholds"):
            Settings(gc_thresholds=bad).validate()
    script = (
        "import gc; from liveroom.app import tune_gc; before = gc.get_freeze_count(); "
        "tune_gc((1234, 5, 6)); print(gc.get_threshold(), gc.get_freeze_count() > before)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split("\n")[0] == "(1234, 5, 6) True", done.stderr
