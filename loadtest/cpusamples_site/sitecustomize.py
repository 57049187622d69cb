"""A CPU-time sampler of Python stacks, in each server process the harness starts with
``--cpu-samples DIR`` (``loadtest.cpusamples`` puts this folder first on the server's
``PYTHONPATH``, so that Python imports this module as it starts, and names DIR in
``LOADTEST_CPU_SAMPLES``).

Such a process writes ``DIR/ready-PID`` once the sampler is installed, holding the name of the
clock it samples by. ``SIGUSR1`` then starts it: each time the clock says another
``INTERVAL_S`` of CPU time has gone, the main thread's Python stack is counted, weighed by the
process's CPU seconds since the last sample. The clock is, where the kernel gives one, a
``perf`` event on the main thread's own CPU time (``task-clock``, ``perf_event_open(2)``) that
sends the thread ``SIGTRAP`` (``sigtrap``, Linux 5.13 on) each time the count passes the
interval: the kernel arms its timer whenever the thread runs, so a burst of 100 µs after idle
is caught as often as its share of the CPU says (``perf``). Elsewhere (no permission, an older
kernel, a machine whose system call number this does not know) it is an ``ITIMER_PROF`` timer
(``itimer``), which the kernel checks only at its scheduler ticks, and an idle CPU stops its
tick: a process that wakes from idle for bursts shorter than a tick is seldom caught in them,
and their CPU time goes to the next stack caught. That one is sound for a busy process only
(BENCHMARKS.md, "Session 40": 4% of a node's CPU in the sends where ``perf`` found 43%;
"Session 41": a quiet node's upkeep under-counted several times over).

Either way a Python handler runs between two bytecodes of the main thread, and signals that
come while one waits are taken as one: a call in C that releases the GIL takes one sample for
all of it, so the weight, not the count, is what a stack cost. CPU time spent in C between two
Python callbacks (uvloop's own work, another thread) is charged to the stack that runs next, or
to the event loop's frames when it waits.

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

#: seconds of CPU time between two samples, as asked of the clock
INTERVAL_S = 0.001
#: the stack that holds the CPU time after the last sample
UNSAMPLED = "(after the last sample)"
#: ``perf_event_open(2)``'s system call number, on the machines this knows
PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
#: ``perf_event_attr`` as far as ``sig_data`` (``PERF_ATTR_SIZE_VER7``), which ``sigtrap`` needs
ATTR_SIZE = 128
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_TASK_CLOCK = 1
#: ``disabled``, ``exclude_hv``, ``remove_on_exec`` (which ``sigtrap`` requires) and ``sigtrap``
ATTR_FLAGS = 1 << 0 | 1 << 6 | 1 << 36 | 1 << 37
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401


def task_clock(interval_s: float) -> int | None:
    """A disabled ``perf`` event on the calling thread's CPU time that, once enabled, sends the
    thread ``SIGTRAP`` every ``interval_s`` of it; its descriptor, or None where the kernel does
    not make one (then the caller falls back to ``ITIMER_PROF``)."""
    import ctypes
    import platform
    import struct

    number = PERF_EVENT_OPEN.get(platform.machine())
    if number is None:
        return None
    attr = bytearray(ATTR_SIZE)
    period_ns = int(interval_s * 1e9)
    # type, size, config, sample_period, sample_type, read_format, the flag bits
    struct.pack_into(
        "=IIQQQQQ",
        attr,
        0,
        PERF_TYPE_SOFTWARE,
        ATTR_SIZE,
        PERF_COUNT_SW_TASK_CLOCK,
        period_ns,
        0,
        0,
        ATTR_FLAGS,
    )
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(bytes(attr), ATTR_SIZE)
    # this thread (pid 0), any CPU (-1), no group (-1)
    fd = libc.syscall(number, buffer, 0, -1, -1, PERF_FLAG_FD_CLOEXEC)
    return fd if fd >= 0 else None


def _install(directory: str) -> None:
    import collections
    import fcntl
    import signal
    import time
    from types import FrameType

    perf = task_clock(INTERVAL_S)

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
        if perf is not None:
            # the handler stays once set: a SIGTRAP still on its way after a stop finds it
            signal.signal(signal.SIGTRAP, sample)
            fcntl.ioctl(perf, PERF_EVENT_IOC_ENABLE, 0)
        else:
            signal.signal(signal.SIGPROF, sample)
            signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)

    def stop(signum: int, frame: FrameType | None) -> None:
        if not running[0]:
            return
        running[0] = False
        if perf is not None:
            fcntl.ioctl(perf, PERF_EVENT_IOC_DISABLE, 0)
        else:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
        # the CPU time since the last sample, which no sample took (under an interval with the
        # perf clock; with the itimer one, a mostly idle process is sampled seldom, at the
        # kernel's ticks), so that the totals add up
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
    with open(os.path.join(directory, f"ready-{os.getpid()}"), "w") as ready:
        ready.write("perf" if perf is not None else "itimer")


if os.environ.get("LOADTEST_CPU_SAMPLES"):
    _install(os.environ["LOADTEST_CPU_SAMPLES"])
