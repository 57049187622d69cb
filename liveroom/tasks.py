"""Ending a node's background tasks for sure, whatever a library does with a cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

#: how long a cancelled task may run on before it is cancelled again
AGAIN_S = 0.25


async def stop(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel ``tasks`` and return once every one has ended; their errors are read, not raised.

    A task still running ``AGAIN_S`` after its cancel is cancelled again. On Python 3.11,
    ``asyncio.wait_for`` returns normally when a cancellation lands in the loop turn in which
    what it waits on completes (CPython gh-86296). Our own connections no longer write through
    it (``engine/packing.py``), but redis-py still does on a connection's first write, and so
    do a few waits of ours and of libraries: a loop that loses its one cancel at shutdown
    would otherwise run on until the process is killed."""
    live = [task for task in tasks if task is not None and task is not asyncio.current_task()]
    while pending := [task for task in live if not task.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=AGAIN_S)
    for task in live:
        if not task.cancelled():
            task.exception()  # read, so that asyncio does not log it as never retrieved
