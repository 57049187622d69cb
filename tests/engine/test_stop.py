"""``liveroom.tasks.stop`` ends tasks that lose a cancellation, as loops calling redis-py on
Python 3.11 can (its ``wait_for`` around a write returns normally when the cancel lands as the
write completes)."""

from __future__ import annotations

import asyncio

from liveroom.tasks import stop


async def test_a_task_that_swallows_its_first_cancel_is_cancelled_again() -> None:
    waiting, swallowed, never = asyncio.Event(), asyncio.Event(), asyncio.Event()
    rounds = 0

    async def stubborn() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            waiting.set()
            try:
                await never.wait()
            except asyncio.CancelledError:
                if swallowed.is_set():
                    raise
                swallowed.set()  # the first cancel is lost, as in the wait_for race

    task = asyncio.create_task(stubborn())
    await waiting.wait()
    async with asyncio.timeout(5):
        await stop([task])
    assert task.cancelled() and swallowed.is_set() and rounds == 2


async def test_none_finished_and_failed_tasks_and_the_caller_itself_are_fine() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    async def finish() -> None:
        return None

    failed = asyncio.create_task(fail())
    done = asyncio.create_task(finish())
    await asyncio.wait([failed, done])
    me = asyncio.current_task()
    async with asyncio.timeout(5):
        await stop([None, failed, done, me])
    assert isinstance(failed.exception(), RuntimeError) and done.done()
