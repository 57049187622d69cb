"""Ending a node's background tasks for sure, whatever a library does with a cancellation."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator, Iterable
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


def start_in_place(
    coro: Coroutine[Any, Any, None], context: contextvars.Context
) -> asyncio.Task[None] | None:
    """Run ``coro`` in ``context`` now, up to its first wait: None when it finished there,
    else a task that carries it on from that wait (what Python 3.12's eager tasks do).

    A command that never waits (every command on the memory engine) then costs no task: no
    task object, no registration in the loop's weak set of tasks, no trip through the loop's
    queue of callbacks. Only for code that needs no current task before its first wait:
    ``asyncio.timeout`` and redis-py's reads do (``Engine.starts_in_place``)."""
    try:
        waited = context.run(coro.send, None)
    except StopIteration:
        return None
    if getattr(waited, "_asyncio_future_blocking", None):
        # taken now, as a task's step takes it: another waiter of the same future may await
        # it before the task's first step (which gives the flag back with the future)
        waited._asyncio_future_blocking = False
    resumed = _Resumed(coro, waited)
    return asyncio.get_running_loop().create_task(resumed, context=context)


_TAKEN = object()


class _Resumed(Coroutine[Any, Any, None]):
    """A coroutine already run up to a wait, for a task to drive from there. Its first step
    hands the task what the coroutine waits on (the future, with the flag its ``await`` set),
    as that step would have; every later step, and a cancel thrown at any step, goes to the
    coroutine itself. The task then waits, wakes, cancels and ends exactly as it would have
    running ``coro`` from the start."""

    __slots__ = ("coro", "waited")

    def __init__(self, coro: Coroutine[Any, Any, None], waited: Any) -> None:
        self.coro = coro
        self.waited = waited

    def send(self, value: Any) -> Any:
        waited = self.waited
        if waited is _TAKEN:
            return self.coro.send(value)
        self.waited = _TAKEN
        if getattr(waited, "_asyncio_future_blocking", None) is False:
            waited._asyncio_future_blocking = True  # as its ``await`` hands it to a task
        return waited

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        waited = self.waited
        if waited is not _TAKEN:  # thrown at before its first step: the coroutine is at its wait
            self.waited = _TAKEN
            if (
                isinstance(typ, asyncio.CancelledError)
                and isinstance(waited, asyncio.Future)
                and waited.cancel()
            ):
                # a task cancelled while it waits cancels what it waits on; the coroutine
                # then reads that cancellation from the future, as under the task
                return self.coro.send(None)
        if val is None and tb is None:
            return self.coro.throw(typ)
        return self.coro.throw(typ, val, tb)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self  # type: ignore[return-value]

    def __next__(self) -> Any:
        return self.send(None)

    @property
    def __name__(self) -> str:  # the task's repr names the coroutine
        return self.coro.__qualname__  # type: ignore[attr-defined]

    @property
    def cr_frame(self) -> Any:  # for ``Task.get_stack`` and the task's repr
        return self.coro.cr_frame  # type: ignore[attr-defined]

    @property
    def cr_await(self) -> Any:
        return self.coro.cr_await  # type: ignore[attr-defined]

    @property
    def cr_running(self) -> bool:
        return self.coro.cr_running  # type: ignore[attr-defined]

    @property
    def cr_code(self) -> Any:
        return self.coro.cr_code  # type: ignore[attr-defined]
