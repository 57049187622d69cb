"""``python -m loadtest.sendfloor``: the bare-transport calibration runs and counts right."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from loadtest import netns


def _sendfloor(*args: str) -> dict[str, Any]:
    """Run ``loadtest.sendfloor`` with 50 connections at 10 frames/s for 1 s; its result."""
    done = subprocess.run(
        [
            sys.executable, "-m", "loadtest.sendfloor", *args,
            "--viewers", "50", "--rate", "10", "--duration", "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("server", ["raw", "send", "sendall", "sendall-py", "websockets"])
def test_sendfloor_writes_every_frame_to_every_connection(server: str) -> None:
    """50 connections at 10 frames/s for 1 s: 500 writes, and a CPU figure per write."""
    result = _sendfloor("--server", server)
    assert (result["server"], result["connections"], result["writes"]) == (server, 50, 500)
    assert result["cpu_us_per_write"] > 0


def test_sendfloor_in_a_namespace_counts_the_same() -> None:
    """--netns: the client reads from its own namespace over a veth pair; 500 writes."""
    if netns.missing():
        pytest.skip(netns.missing())
    result = _sendfloor("--server", "send", "--netns")
    assert (result["connections"], result["writes"], result["netns"]) == (50, 500, True)
    assert result["netns_sent_bytes"] >= 500 * 200  # every frame crossed the pair


@pytest.mark.parametrize("server", ["sendall", "websockets"])
def test_idle_connections_are_held_and_never_written(server: str) -> None:
    """--idle 30: 80 connections held, and still only the 50 viewers' 500 writes."""
    result = _sendfloor("--server", server, "--idle", "30")
    assert (result["connections"], result["idle"], result["writes"]) == (80, 30, 500)
