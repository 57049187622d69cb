"""``loadtest.cpusamples``: the server processes' Python stacks, sampled by CPU time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from loadtest import cpusamples
from tests.timeouts import eventually, wait_until

#: a process that spends its CPU time in ``burn``
BURNER = textwrap.dedent(
    """
    def burn():
        total = 0
        for i in range(200_000):
            total += i * i
        return total

    while True:
        burn()
    """
)


def test_a_stack_belongs_to_the_outermost_frame_of_the_servers_own() -> None:
    """The frames that start the process and run its event loop are skipped; the first one
    after them names the activity; a stack of those frames only is the event loop's. Sums are
    per activity in ms a second, the costliest first, then the rest."""
    loop = (
        "<module> (python3.11/runpy.py:1);run (liveroom/cli.py:10);"
        "run (python3.11/asyncio/runners.py:86)"
    )
    tick = f"{loop};_tick_loop (main/liveroom/hub.py:255);flush (main/liveroom/localroom.py:373)"
    pulse = f"{loop};_pulse_loop (main/liveroom/hub.py:276);pulse (main/liveroom/hub.py:281)"
    assert cpusamples.activity(tick) == "_tick_loop (main/liveroom/hub.py:255)"
    assert cpusamples.activity(loop) == "(event loop)"
    stacks = {tick: 300_000, pulse: 100_000, loop: 50_000, f"{tick};send (x/y.py:1)": 100_000}
    assert cpusamples.by_activity(stacks, 2.0, top=2) == {
        "_tick_loop (main/liveroom/hub.py:255)": 200.0,
        "_pulse_loop (main/liveroom/hub.py:276)": 50.0,
        "(the rest)": 25.0,
    }


async def test_a_process_started_with_the_sampler_tells_where_its_cpu_went(
    tmp_path: Path,
) -> None:
    """A Python process started with ``server_env`` marks itself ready; between ``start`` and
    ``stop`` its stacks are written, weighed by CPU time: nearly all of it in the function that
    computes, and in all about what the process spent meanwhile. A pid without the sampler is
    not signalled, nor one that is gone."""
    env = {**os.environ, **cpusamples.server_env(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", BURNER], env=env)
    try:
        wait_until(lambda: Path(tmp_path, f"ready-{proc.pid}").exists(), 30, "sampler ready")
        other = os.getpid()  # no ready marker: left alone (a SIGUSR1 would end pytest)
        assert cpusamples.start(tmp_path, [proc.pid, other]) == [proc.pid]
        child = psutil.Process(proc.pid)
        before = sum(child.cpu_times()[:2])  # after the start: the samples began before it
        await eventually(lambda: sum(child.cpu_times()[:2]) > before + 0.5, timeout=30)
        mid = sum(child.cpu_times()[:2])  # before the stop: the samples end after it
        assert cpusamples.stop([proc.pid, 4_000_000]) == [proc.pid]  # no such pid: skipped
        stacks = await cpusamples.collect(tmp_path, [proc.pid])
        after = sum(child.cpu_times()[:2])
    finally:
        proc.kill()
        proc.wait()
    assert list(stacks) == [proc.pid]
    spent = stacks[proc.pid]
    total = sum(spent.values())
    burning = sum(micros for stack, micros in spent.items() if stack.endswith(";burn (<string>:2)"))
    assert burning > 0.8 * total, spent
    assert 0.8 * (mid - before) * 1e6 < total < 1.2 * (after - before) * 1e6 + 50_000, (
        total,
        before,
        mid,
        after,
    )
    assert cpusamples.read(tmp_path / f"cpu-{proc.pid}.txt") == spent
