"""The hub's tick keeps a fixed cadence: flushes start on the grid, overruns are counted."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest

from liveroom import metrics
from liveroom.engine.memory import MemoryEngine
from liveroom.hub import Hub, next_tick
from tests.conftest import make_settings


def test_next_tick_on_time() -> None:
    assert next_tick(1.0, 1.02, 0.05) == (pytest.approx(1.05), 0)
    assert next_tick(1.0, 1.05, 0.05) == (pytest.approx(1.05), 0)  # due right now: not missed


def test_next_tick_skips_missed_slots_and_stays_on_the_grid() -> None:
    due, missed = next_tick(1.0, 1.07, 0.05)  # the slot at 1.05 passed during the flush
    assert (due, missed) == (pytest.approx(1.10), 1)
    due, missed = next_tick(1.0, 1.2301, 0.05)  # 1.05 .. 1.20 passed
    assert (due, missed) == (pytest.approx(1.25), 4)


class FakeTime:
    """A clock that moves only when the tick sleeps or a flush 'works'."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        self.sleeps += 1
        await asyncio.sleep(0)


def fake_hub() -> tuple[Hub, FakeTime]:
    """A hub of 50 ms ticks whose clock and sleep are a ``FakeTime``."""
    hub = Hub(MemoryEngine(make_settings()), make_settings(tick_ms=50))
    fake = FakeTime()
    hub.clock, hub.sleep = fake.clock, fake.sleep
    return hub, fake


async def tick_until(hub: Hub, done: asyncio.Event) -> bool:
    """Run the hub's tick until ``done`` is set; whether the tick was still running then."""
    task = asyncio.create_task(hub._tick_loop())
    try:
        await asyncio.wait_for(done.wait(), 5)
        return not task.done()
    finally:
        task.cancel()


async def run_ticks(cost: Callable[[int], float], flushes: int) -> tuple[list[float], float]:
    """Start times of the first ``flushes`` flushes (the n-th costing ``cost(n)`` seconds) with
    a room always dirty, and the overruns counted meanwhile."""
    hub, fake = fake_hub()
    starts: list[float] = []
    done = asyncio.Event()

    def flush_all() -> None:
        starts.append(fake.now)
        fake.now += cost(len(starts))
        if len(starts) == flushes:
            done.set()

    hub.flush_all = flush_all  # type: ignore[method-assign]
    hub.dirty.add(object())  # type: ignore[arg-type]
    before = metrics.TICK_OVERRUNS._value.get()
    await tick_until(hub, done)
    return starts[:flushes], metrics.TICK_OVERRUNS._value.get() - before


async def test_flushes_start_on_the_grid_however_long_they_take() -> None:
    """A 30 ms flush in a 50 ms tick: 20 flushes a second, not 1000 / (50 + 30)."""
    starts, overruns = await run_ticks(lambda n: 0.030, 40)
    assert starts == [pytest.approx(100.05 + 0.05 * k) for k in range(40)]
    assert overruns == 0


async def test_an_overrun_is_counted_and_does_not_shift_later_ticks() -> None:
    """One 120 ms flush: its missed slots are counted, the rest stay on the 50 ms grid."""
    starts, overruns = await run_ticks(lambda n: 0.120 if n == 3 else 0.010, 8)
    # slots at .05 .10 .15 (slow: ends .27; .20 and .25 missed), a late flush at .27, then the
    # grid again at .30 .35 .40 .45
    expected = [100.05, 100.10, 100.15, 100.27, 100.30, 100.35, 100.40, 100.45]
    assert starts == [pytest.approx(x) for x in expected]
    assert overruns == 2


async def test_next_tick_at_follows_the_grid_on_the_loops_clock() -> None:
    """``Hub.next_tick_at`` (where the gather's read hold ends) is the next tick's due time on
    the event loop's clock: infinity before the ticks start, then a slot of the 50 ms grid,
    one tick on at each flush (or whole ticks on, after an overrun). With a clock of the
    test's own, it is still on the loop's."""
    loop = asyncio.get_running_loop()
    hub = Hub(MemoryEngine(make_settings()), make_settings(tick_ms=50))
    assert hub.next_tick_at() == math.inf
    seen: list[tuple[float, float]] = []  # (the loop's time, next_tick_at) at each flush
    done = asyncio.Event()

    def flush_all() -> None:
        seen.append((loop.time(), hub.next_tick_at()))
        if len(seen) == 5:
            done.set()

    hub.flush_all = flush_all  # type: ignore[method-assign]
    hub.dirty.add(object())  # type: ignore[arg-type]
    await tick_until(hub, done)
    after = hub.next_tick_at()  # (a cancelled tick leaves it as its last flush set it)
    dues = [due for _, due in seen] + [after]
    for now, due in seen:  # the tick flushing now was due by now (the loop's ms clock)
        assert due <= now + 0.001
    steps = [(b - a) / 0.05 for a, b in zip(dues, dues[1:], strict=False)]
    assert all(step >= 0.999 and abs(step - round(step)) < 0.02 for step in steps), steps
    # a clock of the test's own: next_tick_at is still on the loop's clock
    other, _ = fake_hub()
    ticked = asyncio.Event()
    other.flush_all = ticked.set  # type: ignore[method-assign]
    other.dirty.add(object())  # type: ignore[arg-type]
    await tick_until(other, ticked)
    assert abs(other.next_tick_at() - (loop.time() + 0.05)) < 0.02


async def test_after_tick_runs_once_a_tick_after_its_flushes_with_the_next_tick_known() -> None:
    """``Hub.after_tick`` (where the gather's read hold goes on after the tick) is called once
    a tick, after the tick's flushes, the late flush of an overrun included, when
    ``next_tick_at`` already names the next tick; and on a tick with nothing to flush too."""
    loop = asyncio.get_running_loop()
    hub, fake = fake_hub()
    order: list[str] = []
    ahead: list[float] = []  # at each after_tick: how far the next tick is, on the loop's clock
    done = asyncio.Event()

    def flush_all() -> None:
        order.append("flush")
        hub.dirty.clear()
        if order.count("flush") == 2:  # a slow flush, during which more came: an overrun
            fake.now += 0.120
            hub.dirty.add(object())  # type: ignore[arg-type]
        else:
            fake.now += 0.010

    def after_tick() -> None:
        order.append("after")
        ahead.append(hub.next_tick_at() - loop.time())
        if order.count("after") == 1:
            hub.dirty.add(object())  # type: ignore[arg-type]
        if order.count("after") == 4:
            done.set()

    hub.flush_all = flush_all  # type: ignore[method-assign]
    hub.after_tick = after_tick
    hub.dirty.add(object())  # type: ignore[arg-type]
    await tick_until(hub, done)
    # tick 1: its flush, then after_tick; tick 2: the slow flush, the late one, after_tick;
    # ticks 3 and 4, with nothing to flush: after_tick alone (the fake sleep lets the loop
    # tick on until the task is cancelled)
    assert order[:7] == ["flush", "after", "flush", "flush", "after", "after", "after"]
    assert all(0 < gap <= 0.05 + 0.001 for gap in ahead), ahead


async def test_a_failing_after_tick_is_logged_and_the_ticks_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error out of ``after_tick`` does not end the tick: it is logged, and the rooms are
    flushed on the next ticks as before."""
    hub, fake = fake_hub()
    flushes: list[float] = []
    done = asyncio.Event()

    def flush_all() -> None:
        flushes.append(fake.now)
        if len(flushes) == 3:
            done.set()

    def after_tick() -> None:
        raise RuntimeError("a hook that breaks")

    hub.flush_all = flush_all  # type: ignore[method-assign]
    hub.after_tick = after_tick
    hub.dirty.add(object())  # type: ignore[arg-type]
    assert await tick_until(hub, done)
    assert "the hook after the tick failed" in caplog.text
