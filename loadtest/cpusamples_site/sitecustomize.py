"""A CPU-time sampler of Python stacks, in each server process the harness starts with
``--cpu-samples DIR`` (``loadtest.cpusamples`` puts this folder first on the server's
``PYTHONPATH``, so that Python imports this module as it starts, and names DIR in
``LOADTEST_CPU_SAMPLES``).

Such a process writes ``DIR/ready-PID`` once the sampler is installed. ``SIGUSR1`` then starts
it: on each ``SIGPROF`` of an ``ITIMER_PROF`` timer (process CPU time) the main thread's Python
stack is counted, weighed by the process's CPU seconds since the last sample. The kernel checks
the timer at its own ticks (every 4 ms on this machine), and a call in C that releases the GIL
takes one sample for all of it, so the weight, not the count, is what a stack cost. A Python
handler runs between two bytecodes of the main thread, so CPU time spent in C between two
Python callbacks (uvloop's own work, a call without the GIL, another thread) is charged to the
stack that runs next, or to the event loop's frames when it waits: the split by activity
carries that skew. Worse, the kernel checks CPU timers at its scheduler ticks, and stops the
tick of an idle CPU: a process that wakes from idle for a burst shorter than a tick (a flush of
a few viewers) is seldom caught in it, and the burst's CPU time goes to the next stack caught.
The split is sound for a busy process and under-counts short bursts in a mostly idle one
(BENCHMARKS.md, "Session 40": 4% of a node's CPU in the sends where ``perf`` found 43%).
``SIGUSR2`` stops it and writes ``DIR/cpu-PID.txt``: one line a stack, its
frames from the outermost joined by ``;``, then a space and its microseconds (the "collapsed"
form flame-graph tools read); the CPU time after the last sample is on a line of its own,
``UNSAMPLED``. A stop before a start, a second start or a second stop does nothing.

Wall-time samplers (``py-spy``) count a process that waits for a core as busy in whatever it
was doing; on a machine the load generator shares, that overstates long synchronous passes
(BENCHMARKS.md, "Session 40"). This counts only the CPU time the process got.

It replaces any other ``sitecustomize`` module for these processes; it is for measuring only.
"""

from __future__ import annotations

import os

#: seconds of process CPU time between two samples, as asked of the timer
INTERVAL_S = 0.001
#: the stack that holds the CPU time after the last sample
UNSAMPLED = "(after the last sample)"


def _install(directory: str) -> None:
    import collections
    import signal
    import time
    from types import FrameType

    stacks: collections.Counter[str] = collections.Counter()
    last = [0.0]
    # Python runs a handler inside another when a second signal comes during the first: each
    # handler looks at this first, and a sample, a start or a stop out of turn does nothing
    running = [False]

    def sample(signum: int, frame: FrameType | None) -> None:
        if not running[0]:
            return
        now = time.process_time()
        weight, last[0] = now - last[0], now
        names = []
        while frame is not None:
            code = frame.f_code
            where = "/".join(code.co_filename.rsplit("/", 3)[-3:])  # enough to tell whose
            names.append(f"{code.co_name} ({where}:{code.co_firstlineno})")
            frame = frame.f_back
        stacks[";".join(reversed(names))] += int(weight * 1_000_000)

    def start(signum: int, frame: FrameType | None) -> None:
        if running[0]:
            return
        stacks.clear()
        last[0] = time.process_time()
        running[0] = True
        signal.signal(signal.SIGPROF, sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)

    def stop(signum: int, frame: FrameType | None) -> None:
        if not running[0]:
            return
        running[0] = False
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        # the CPU time since the last sample, which no sample took: a mostly idle process is
        # sampled seldom (the timer counts at the kernel's ticks), and the totals should add up
        now = time.process_time()
        stacks[UNSAMPLED] += int((now - last[0]) * 1_000_000)
        last[0] = now
        taken = list(stacks.items())  # a start handled during the writing clears ``stacks``
        path = os.path.join(directory, f"cpu-{os.getpid()}.txt")
        try:
            with open(path + ".part", "w") as out:
                for stack, micros in taken:
                    out.write(f"{stack} {micros}\n")
            os.replace(path + ".part", path)  # whole, or not there: the harness waits for it
        except OSError:
            pass  # DIR gone: nothing for the harness to read, and nothing raised in the server

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    with open(os.path.join(directory, f"ready-{os.getpid()}"), "w"):
        pass


if os.environ.get("LOADTEST_CPU_SAMPLES"):
    _install(os.environ["LOADTEST_CPU_SAMPLES"])
