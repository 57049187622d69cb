"""``python -m loadtest.sendfloor``: the bare-transport calibration runs and counts right."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


@pytest.mark.parametrize("server", ["raw", "send", "websockets"])
def test_sendfloor_writes_every_frame_to_every_connection(server: str) -> None:
    """50 connections at 10 frames/s for 1 s: 500 writes, and a CPU figure per write."""
    done = subprocess.run(
        [
            sys.executable, "-m", "loadtest.sendfloor", "--server", server,
            "--viewers", "50", "--rate", "10", "--duration", "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["server"], result["connections"], result["writes"]) == (server, 50, 500)
    assert result["cpu_us_per_write"] > 0


def test_sendfloor_in_a_namespace_counts_the_same() -> None:
    """--netns: the client reads from its own namespace over a veth pair; 500 writes."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc") is None:
        pytest.skip("--netns needs root and iproute2 (ip, tc)")
    done = subprocess.run(
        [
            sys.executable, "-m", "loadtest.sendfloor", "--server", "send", "--netns",
            "--viewers", "50", "--rate", "10", "--duration", "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["connections"], result["writes"], result["netns"]) == (50, 500, True)
    assert result["netns_sent_bytes"] >= 500 * 200  # every frame crossed the pair
