"""A memory probe for every Python process started with this directory on ``PYTHONPATH``::

    PYTHONPATH=loadtest/memprobe LOADTEST_MEMPROBE_DIR=/tmp/probe python -m loadtest soak ...

Each Python process of the run (the server's supervisor and workers, the client processes)
writes ``probe.<pid>.log`` in that directory: its command line, then every
``LOADTEST_MEMPROBE_EVERY`` seconds (default 60) its RSS and anonymous RSS, glibc malloc's bytes
in use, free and mapped (``mallinfo2``), and the blocks Python's small-object allocator holds
(``sys.getallocatedblocks``). ``outside_malloc`` is the anonymous RSS that malloc's heap and
mappings do not account for: mostly Python's small-object arenas, which it maps itself. RSS that
grows there while malloc's bytes and the block count stay level is pymalloc keeping arenas at
their high-water mark, not objects leaking.

Python imports ``sitecustomize`` at start-up, so nothing in liveroom or the harness changes.
A diagnostic, not a test: a daemon thread that only reads.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

#: samples written by this process's probe, and a condition notified after each one
samples = 0
sampled = threading.Condition()


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _status_mb() -> dict[str, float]:
    found: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                found[key] = int(value.split()[0]) / 1024
    return found


def _probe(directory: str, every: float) -> None:
    global samples
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        libc = None
    mb = 1 << 20
    path = os.path.join(directory, f"probe.{os.getpid()}.log")
    with open(path, "a", buffering=1) as log:
        log.write(f"argv {sys.argv!r}\n")
        start = time.monotonic()
        while True:
            status = _status_mb()
            line = f"{time.monotonic() - start:8.1f}s rss={status['VmRSS']:.1f} "
            line += f"anon={status['RssAnon']:.1f}"
            if libc is not None:
                info = libc.mallinfo2()
                line += f" malloc_inuse={info.uordblks / mb:.2f}"
                line += f" malloc_free={info.fordblks / mb:.2f}"
                line += f" malloc_mapped={info.hblkhd / mb:.2f}"
                outside = status["RssAnon"] - (info.arena + info.hblkhd) / mb
                line += f" outside_malloc={outside:.1f}"
            line += f" blocks={sys.getallocatedblocks()}\n"
            log.write(line)
            with sampled:
                samples += 1
                sampled.notify_all()
            time.sleep(every)


_directory = os.environ.get("LOADTEST_MEMPROBE_DIR")
if _directory:
    os.makedirs(_directory, exist_ok=True)
    _every = float(os.environ.get("LOADTEST_MEMPROBE_EVERY", "60"))
    threading.Thread(target=_probe, args=(_directory, _every), daemon=True, name="memprobe").start()
