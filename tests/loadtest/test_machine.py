"""``loadtest.machine.loop_us``: the machine's speed as BENCHMARKS.md's timeit command gives it."""

from __future__ import annotations

import re
import subprocess
import sys

from loadtest import machine
from tests.timeouts import scaled

UNITS = {"nsec": 1e-3, "usec": 1.0, "msec": 1e3, "sec": 1e6}


def _printed_us() -> float:
    done = subprocess.run(
        [sys.executable, "-m", "timeit", machine.LOOP],
        capture_output=True,
        text=True,
        timeout=scaled(60),
        check=True,
    )
    found = re.search(r"([0-9.]+) (nsec|usec|msec|sec) per loop", done.stdout)
    assert found, done.stdout
    return float(found[1]) * UNITS[found[2]]


def test_the_loop_time_is_what_python_m_timeit_prints() -> None:
    """The figure agrees with ``python -m timeit`` on the same loop, taken just before and
    after, within what the machine's drift allows (a factor of 4): a figure per repeat instead
    of per loop, or in another unit, is off by 20 times or more."""
    before = _printed_us()
    ours = machine.loop_us()
    after = _printed_us()
    assert min(before, after) / 4 <= ours <= max(before, after) * 4, (before, ours, after)
