"""``liveroom.tasks.start_in_place``: a coroutine runs now up to its first wait, and a task
carries it on from there with the semantics it would have had under a task of its own."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import pytest

from liveroom.tasks import start_in_place

NAME: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="outside")


async def from_callback(
    coro: Coroutine[Any, Any, None], name: str, *, cancel_at_once: bool = False
) -> asyncio.Task[None] | None:
    """``start_in_place`` called as the server calls it: from a loop callback (a protocol's
    ``data_received``), outside any task. ``cancel_at_once``: the task it hands back is
    cancelled in the same callback, before its first step."""
    return (await many_from_callback([coro], name, cancel_at_once=cancel_at_once))[0]


async def many_from_callback(
    coros: list[Coroutine[Any, Any, None]], name: str, *, cancel_at_once: bool = False
) -> list[asyncio.Task[None] | None]:
    """Several started in place in one loop callback, one after the other."""
    done: asyncio.Future[list[asyncio.Task[None] | None]] = (
        asyncio.get_running_loop().create_future()
    )

    def call() -> None:
        try:
            tasks = [start_in_place(coro, fresh(name)) for coro in coros]
            for task in tasks:
                if cancel_at_once and task is not None:
                    task.cancel()
            done.set_result(tasks)
        except BaseException as exc:
            done.set_exception(exc)

    asyncio.get_running_loop().call_soon(call)
    return await done


def fresh(name: str) -> contextvars.Context:
    context = contextvars.Context()
    context.run(NAME.set, name)
    return context


async def test_a_coroutine_that_never_waits_finishes_now_with_no_task() -> None:
    seen: list[tuple[str, asyncio.Task[object] | None]] = []

    async def quick() -> None:
        seen.append((NAME.get(), asyncio.current_task()))

    before = len(asyncio.all_tasks())
    assert await from_callback(quick(), "quick") is None
    assert seen == [("quick", None)]  # ran in the context given, outside any task
    assert len(asyncio.all_tasks()) == before
    assert NAME.get() == "outside"  # the caller's context is untouched


async def test_a_coroutine_that_waits_goes_on_in_a_task_with_the_result() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    steps: list[object] = []

    async def waits() -> None:
        steps.append(("first", asyncio.current_task()))
        got = await future
        steps.append(("got", got, NAME.get(), asyncio.current_task()))
        await asyncio.sleep(0)  # a bare yield, carried on too
        steps.append("after the yield")

    task = await from_callback(waits(), "waits")
    assert task is not None and steps == [("first", None)]
    future.set_result(7)
    async with asyncio.timeout(5):
        await task
    assert steps[1] == ("got", 7, "waits", task)
    assert steps[2] == "after the yield"


async def test_the_futures_error_is_raised_where_the_coroutine_waits() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    caught: list[BaseException] = []
    boom = RuntimeError("boom")

    async def waits() -> None:
        try:
            await future
        except RuntimeError as exc:
            caught.append(exc)

    task = await from_callback(waits(), "x")
    assert task is not None
    future.set_exception(boom)
    async with asyncio.timeout(5):
        await task
    assert caught == [boom]


async def test_an_error_after_the_wait_ends_the_task_with_it() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails() -> None:
        await future
        raise ValueError("after")

    task = await from_callback(fails(), "x")
    assert task is not None
    future.set_result(None)
    with pytest.raises(ValueError, match="after"):
        async with asyncio.timeout(5):
            await task


async def test_an_error_before_the_first_wait_is_raised_to_the_caller() -> None:
    async def fails_now() -> None:
        raise ValueError("now")

    with pytest.raises(ValueError, match="now"):
        await from_callback(fails_now(), "x")


async def test_cancelling_the_task_cancels_the_coroutine_at_its_wait() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cleaned: list[str] = []

    async def waits() -> None:
        try:
            await future
        finally:
            cleaned.append("finally")

    task = await from_callback(waits(), "x")
    assert task is not None
    # the task took its first step before this test's turn: it waits on the future
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
    assert cleaned == ["finally"]
    assert future.cancelled()  # as a task's cancel cancels what it waits on


async def test_a_timeout_inside_the_carried_on_part_fires_and_is_caught() -> None:
    """Past the first wait there is a current task, and ``asyncio.timeout`` works on it."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outcome: list[str] = []

    async def waits() -> None:
        await future
        try:
            async with asyncio.timeout(0.01):
                await asyncio.get_running_loop().create_future()
        except TimeoutError:
            outcome.append("timed out")

    task = await from_callback(waits(), "x")
    assert task is not None
    future.set_result(None)
    async with asyncio.timeout(5):
        await task
    assert outcome == ["timed out"]
    assert task.cancelling() == 0


@pytest.mark.parametrize("when", ["before the task's first step", "after the future is done"])
async def test_a_cancel_the_future_cannot_take_reaches_the_coroutine_at_its_wait(
    when: str,
) -> None:
    """The task has not waited on the future yet, or the future is done already: a task
    then throws the cancel into its coroutine at the wait, and so does this one."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def waits() -> None:
        try:
            await future
        except asyncio.CancelledError:
            seen.append("cancelled at the wait")
            raise
        seen.append("not cancelled")

    before = when == "before the task's first step"
    task = await from_callback(waits(), "x", cancel_at_once=before)
    assert task is not None
    if not before:
        # the task's first step came before this test's turn: it waits on the future
        future.set_result(1)  # done, but the task has not run since
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await task
    assert seen == ["cancelled at the wait"]
    # as a task waiting on it would, the cancel cancels the future while it is pending
    assert future.cancelled() is before


async def test_two_started_in_place_may_wait_on_the_same_future() -> None:
    """A future awaited in place is held as a task's step holds it: another waiter of it,
    started in place too or a task of its own, awaits it in the meantime."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    got: list[int] = []

    async def waits() -> None:
        got.append(await future)

    first, second = await many_from_callback([waits(), waits()], "a")
    third = asyncio.get_running_loop().create_task(waits())
    assert first is not None and second is not None
    future.set_result(3)
    async with asyncio.timeout(5):
        await asyncio.gather(first, second, third)
    assert got == [3, 3, 3]


async def test_the_carrying_task_shows_the_coroutine_where_it_waits() -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def waits_here() -> None:
        await future

    task = await from_callback(waits_here(), "x")
    assert task is not None
    assert "waits_here" in repr(task)
    assert [frame.f_code.co_name for frame in task.get_stack()] == ["waits_here"]
    future.set_result(None)
    async with asyncio.timeout(5):
        await task
