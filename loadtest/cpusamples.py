"""Where a server's CPU time goes in Python, over a run's traffic: ``platform --cpu-samples DIR``.

The server processes start with ``cpusamples_site`` first on their ``PYTHONPATH``
(``server_env``), so that each installs a sampler driven by its own CPU time
(``cpusamples_site/sitecustomize.py`` says how) and marks itself ready in DIR. Around the
traffic the harness sends each worker ``SIGUSR1`` (``start``) and ``SIGUSR2`` (``stop``; not
the supervisor of several workers, whose handlers uvicorn replaces with its own). Once the run's
own figures are read it takes the stacks each wrote (``collect``), weighed in microseconds of
CPU time, and sums them by activity: the outermost frame that is the server's own, under the
event loop (``by_activity``: the tick, the pulse, the keep-alive sweep, a connection's
reads...). The stack files stay in DIR for a flame graph, until the next run into DIR
(``clear``).

Wall-time samplers such as ``py-spy`` count a node that waits for a core as busy; on a machine
whose cores the load generator shares that puts too much on long synchronous passes such as the
pulse (BENCHMARKS.md, "Session 40"). This one samples by the main thread's own CPU time
through a ``perf`` event where the kernel gives one (the summary names the clock of each
process); its fallback, an ``ITIMER_PROF`` timer, under-counts short bursts after idle
(``cpusamples_site/sitecustomize.py`` says why), so in a mostly idle node it puts too little on
the flushes' sends and the upkeep. The sampler's own work (a stack walk a sample, up to a
thousand a second of CPU) is in the run's CPU figures: compare runs with it on against each
other, not against runs without it.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from pathlib import Path

SITE = Path(__file__).with_name("cpusamples_site")
#: where each frame's code lives, for the frames that run the server rather than do its work
PLUMBING = (
    "asyncio/",
    "uvicorn/",
    "multiprocessing/",
    "runpy.py",
    "<frozen runpy>",
    "threading.py",
)
RUNNERS = ("liveroom/__main__.py", "liveroom/cli.py")


def server_env(directory: str | Path) -> dict[str, str]:
    """What a server process's environment needs for its sampler to write into ``directory``."""
    path = os.environ.get("PYTHONPATH", "")
    return {
        "PYTHONPATH": str(SITE) + (os.pathsep + path if path else ""),
        "LOADTEST_CPU_SAMPLES": str(Path(directory).resolve()),
    }


def clear(directory: str | Path) -> None:
    """Make ``directory`` and empty it of an earlier run's markers and stacks: a pid of that run
    used again would look ready."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    for old in (*Path(directory).glob("ready-*"), *Path(directory).glob("cpu-*.txt")):
        old.unlink()


def start(directory: str | Path, pids: list[int]) -> list[int]:
    """Start the samplers of ``pids``, the server's workers; returns those that have one (a
    ``ready-PID`` in ``directory``). Their stack files of an earlier window are removed first,
    so that ``collect`` waits for this window's."""
    ready = [pid for pid in pids if Path(directory, f"ready-{pid}").exists()]
    for pid in ready:
        Path(directory, f"cpu-{pid}.txt").unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR1)
    return ready


def stop(pids: list[int]) -> list[int]:
    """Stop the samplers of ``pids`` (each writes its stacks); returns the pids still there."""
    stopped = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGUSR2)
        except ProcessLookupError:
            continue
        stopped.append(pid)
    return stopped


async def collect(
    directory: str | Path, pids: list[int], timeout: float = 10.0
) -> dict[int, dict[str, int]]:
    """What the stopped samplers of ``pids`` wrote: stack -> microseconds, by pid. A process
    that writes nothing within ``timeout`` (it died meanwhile, say) is left out."""
    stacks: dict[int, dict[str, int]] = {}
    deadline = time.monotonic() + timeout
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            path = Path(directory, f"cpu-{pid}.txt")
            if path.exists():  # written whole, then renamed into place
                stacks[pid] = read(path)
                waiting.discard(pid)
        if waiting:
            await asyncio.sleep(0.05)
    return stacks


def read(path: Path) -> dict[str, int]:
    """A stack file: one ``frames micros`` line a stack."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, micros = line.rpartition(" ")
        if stack:
            out[stack] = int(micros)
    return out


def activity(stack: str) -> str:
    """The outermost frame of ``stack`` that is the server's own work: the first below the
    frames that start the process and run its event loop (``PLUMBING``, ``RUNNERS``, the
    modules' top level). A stack of plumbing only is ``(event loop)``."""
    for frame in stack.split(";"):
        name, _, where = frame.partition(" (")
        if name == "<module>" or any(part in where for part in PLUMBING + RUNNERS):
            continue
        return frame
    return "(event loop)"


def by_activity(stacks: dict[str, int], seconds: float, top: int = 15) -> dict[str, float]:
    """Milliseconds of CPU time a second per activity (``activity``), the ``top`` costliest,
    then ``(the rest)``."""
    spent: collections.Counter[str] = collections.Counter()
    for stack, micros in stacks.items():
        spent[activity(stack)] += micros
    out = {name: round(micros / 1000 / seconds, 2) for name, micros in spent.most_common(top)}
    rest = sum(spent.values()) - sum(micros for _, micros in spent.most_common(top))
    if rest:
        out["(the rest)"] = round(rest / 1000 / seconds, 2)
    return out


def clock(directory: str | Path, pid: int) -> str:
    """The clock ``pid``'s sampler samples by, as its ready marker names it: ``perf`` (the
    thread's CPU time, exact) or ``itimer`` (checked at the kernel's ticks: see
    ``cpusamples_site/sitecustomize.py``); ``?`` when the marker says nothing."""
    try:
        return Path(directory, f"ready-{pid}").read_text().strip() or "?"
    except OSError:
        return "?"


def summary(
    stacks: dict[int, dict[str, int]], seconds: float, directory: str | Path | None = None
) -> dict[str, object]:
    """Each process's CPU seconds as sampled, its activities (``by_activity``) and, given the
    samplers' ``directory``, the clock each sampled by (``clock``)."""
    out: dict[str, object] = {}
    for pid, each in sorted(stacks.items()):
        entry: dict[str, object] = {
            "cpu_s": round(sum(each.values()) / 1e6, 3),
            "ms_per_s": by_activity(each, seconds),
        }
        if directory is not None:
            entry["clock"] = clock(directory, pid)
        out[str(pid)] = entry
    return out
