"""The harness's CPU cap (``--server-cpu-quota``): a cgroup per server process, capped at once or
only once the viewers have joined (``--quota-from traffic``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.server import PERIOD_US, SetupError, cap_cpu, release_cgroup, set_quota


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process that waits for its standard input to close: something to put in a group."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield proc
    proc.kill()
    proc.wait(10)


def _quota(group: Path) -> str:
    """The group's cap as the kernel reports it: v1 quota in µs (-1: none), or v2 ``cpu.max``."""
    v1 = group / "cpu.cfs_quota_us"
    if v1.exists():
        return v1.read_text().strip()
    return (group / "cpu.max").read_text().split()[0]


def test_a_cap_can_start_open_and_close_later(sleeper: subprocess.Popen[bytes]) -> None:
    """``cap_cpu(pids, None)`` groups the process without a cap; ``set_quota`` caps it then."""
    try:
        groups = cap_cpu([sleeper.pid], None)
    except SetupError as exc:  # no writable cpu controller: the flag cannot work here either
        pytest.skip(str(exc))
    try:
        (group,) = groups
        assert str(sleeper.pid) in (group / "cgroup.procs").read_text().split()
        assert _quota(group) in ("-1", "max")
        set_quota(groups, 0.25)
        assert _quota(group) == str(PERIOD_US // 4)
        set_quota(groups, None)
        assert _quota(group) in ("-1", "max")
    finally:
        for group in groups:
            release_cgroup(group)
    assert not groups[0].exists()
