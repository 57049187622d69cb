"""How fast this machine runs Python right now: the figure a run's CPU times are read against.

The machine these figures come from runs the same Python loop at very different speeds from
hour to hour (BENCHMARKS.md: 237–329 µs in session 45, 0.94–2.07 ms in session 46), and a CPU
time per comment or per frame moves with it. ``loop_us`` times the loop BENCHMARKS.md quotes,
``python3 -m timeit "sum(i*i for i in range(10000))"``, as that command does (the best of five
repeats, each long enough to last 0.2 s, in µs a loop). ``ingest`` and ``pairs`` take it before
and after their runs and report both (``machine_loop_us``): a figure taken while the loop was
slow is not one to set against a bar met while it was fast.

The interpreter matters as much as the hour. On the same machine in the same minutes, a
CPython built without profile-guided optimisation (pyenv's default build) ran the loop in
587–970 µs and Debian's own ``/usr/bin/python3.11`` in 405–470, and a comment cost the
server about 15% more CPU on the first (BENCHMARKS.md, "Session 50"). ``interpreter`` names the
one a run used, and the results carry it (``python``).
"""

from __future__ import annotations

import os
import platform
import sys
import timeit

#: the loop BENCHMARKS.md times at the start of each session
LOOP = "sum(i*i for i in range(10000))"


def interpreter() -> dict[str, str]:
    """Which Python the harness (and the servers it spawns, ``sys.executable``) runs: its
    version, build and binary, for a result to be read against."""
    return {
        "version": platform.python_version(),
        "build": " ".join(platform.python_build()),
        "compiler": platform.python_compiler(),
        "executable": os.path.realpath(sys.executable),
    }


def loop_us(repeats: int = 5) -> float:
    """µs one ``LOOP`` takes now: the best of ``repeats`` timings, as ``python -m timeit``."""
    timer = timeit.Timer(LOOP)
    number, _ = timer.autorange()
    return round(min(timer.repeat(repeats, number)) / number * 1e6, 1)
