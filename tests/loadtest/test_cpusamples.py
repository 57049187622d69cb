"""``loadtest.cpusamples``: the server processes' Python stacks, sampled by CPU time."""

from __future__ import annotations

import os
import platform
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


#: a process that wakes from a sleep for a short burst (``short``) ten times for each long one
#: (``long``), with 25 times the work: about 10 / 35 of its computing is in ``short``, whatever
#: the machine's speed
WAKER = textwrap.dedent(
    """
    import time

    def work(n):
        total = 0
        for i in range(n):
            total += i * i
        return total

    def short():
        return work(2_000)

    def long():
        return work(50_000)

    # the idle between bursts is the workload measured here, not a wait for anything
    while True:
        for _ in range(10):
            short()
            time.sleep(0.002)
        long()
        time.sleep(0.002)
    """
)


def perf_expected() -> bool:
    """Whether the sampler's clock should be the ``perf`` event here: a machine whose system
    call number it knows, and the right to watch kernel time (root, or a paranoia of 1 or
    less)."""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            paranoid = int(f.read())
    except OSError:
        return False
    return platform.machine() in ("x86_64", "aarch64") and (os.geteuid() == 0 or paranoid <= 1)


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
    # ``python -m liveroom`` in one process: runpy is frozen into the interpreter
    alone = (
        "_run_module_as_main (<frozen runpy>:173);_run_code (<frozen runpy>:65);"
        "<module> (main/liveroom/__main__.py:1);serve (main/liveroom/cli.py:72);"
        "run (python3.11/asyncio/runners.py:86);data_received (liveroom/connection/x.py:268)"
    )
    assert cpusamples.activity(alone) == "data_received (liveroom/connection/x.py:268)"
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


async def test_short_bursts_after_idle_get_their_share(tmp_path: Path) -> None:
    """A process that is mostly asleep and wakes for short bursts: sampled by its own CPU time
    (the ``perf`` clock), the short bursts get about their share of the computing (10 / 35);
    a sampler checked at the kernel's ticks gave them a fraction of it. Where the ``perf`` clock
    cannot be had the sampler says it fell back (``itimer``), and this is all that is checked."""
    env = {**os.environ, **cpusamples.server_env(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", WAKER], env=env)
    try:
        wait_until(lambda: Path(tmp_path, f"ready-{proc.pid}").exists(), 30, "sampler ready")
        # the marker is made, then written: its name may come a moment after it
        clock = wait_until(
            lambda: cpusamples.clock(tmp_path, proc.pid).replace("?", ""), 10, "its clock"
        )
        assert clock == ("perf" if perf_expected() else "itimer"), clock
        if clock != "perf":
            return
        assert cpusamples.start(tmp_path, [proc.pid]) == [proc.pid]
        child = psutil.Process(proc.pid)
        before = sum(child.cpu_times()[:2])
        await eventually(lambda: sum(child.cpu_times()[:2]) > before + 0.4, timeout=60)
        assert cpusamples.stop([proc.pid]) == [proc.pid]
        stacks = await cpusamples.collect(tmp_path, [proc.pid])
    finally:
        proc.kill()
        proc.wait()
    spent = stacks[proc.pid]

    def in_(name: str) -> int:
        return sum(micros for stack, micros in spent.items() if f";{name} (<string>:" in stack)

    short, long = in_("short"), in_("long")
    assert short + long > 0.5 * sum(spent.values()), spent
    assert 0.18 < short / (short + long) < 0.42, (short, long)
