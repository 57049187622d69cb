"""The node's keep-alive sweep (``liveroom.connection.keepalive``): every member visited once
per interval, spread over the interval's slices, with one timer for the whole loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from liveroom.connection.keepalive import Sweep


class Timer:
    def __init__(self, delay: float, callback: Callable[[], None]) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """Stands in for the event loop's timers: a test fires them one at a time."""

    def __init__(self) -> None:
        self.timers: list[Timer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        self.timers.append(Timer(delay, callback))
        return self.timers[-1]

    def armed(self) -> list[Timer]:
        return [timer for timer in self.timers if not timer.cancelled and not timer.delay < 0]

    def fire(self) -> None:
        (timer,) = self.armed()
        timer.delay = -1  # fired
        timer.callback()


class Member:
    def __init__(self) -> None:
        self.visits: list[bytes] = []
        self.spares: list[bool] = []
        self.on_visit: Callable[[], None] = lambda: None

    def keepalive_round(self, ping: bytes, payload: bytes, spare: bool) -> None:
        assert ping == b"\x89\x04" + payload
        self.visits.append(payload)
        self.spares.append(spare)
        self.on_visit()


def sweep_of(loop: Loop, interval: float) -> Sweep:
    return Sweep.of(cast(asyncio.AbstractEventLoop, loop), interval)


def test_every_member_is_visited_once_per_interval_in_its_slice() -> None:
    loop = Loop()
    sweep = sweep_of(loop, 1.0)
    assert len(sweep.slices) == 4 and sweep.period == pytest.approx(0.25)
    members = [Member() for _ in range(10)]
    for member in members:
        sweep.add(member)
    assert sorted(len(where) for where in sweep.slices) == [2, 2, 3, 3]
    assert len(loop.armed()) == 1 and loop.armed()[0].delay == pytest.approx(0.25)
    for _ in range(4):
        loop.fire()
    assert [len(member.visits) for member in members] == [1] * 10
    for _ in range(4):
        loop.fire()
    assert [len(member.visits) for member in members] == [2] * 10
    # each round of a slice pings with a payload of its own
    assert all(member.visits[0] != member.visits[1] for member in members)
    # a visit may spare the ping on two laps in three; each slice has its third lap in its
    # turn (members are dealt to the slices in order), so the forced pings are spread out
    for _ in range(4 * 4):
        loop.fire()
    for i, member in enumerate(members):
        assert member.spares == [(lap + i % 4) % 3 != 0 for lap in range(1, 7)], (i, member.spares)
    assert len({tuple(member.spares) for member in members}) == 3


def test_a_member_closing_in_its_visit_and_a_failing_one_do_not_stop_the_others() -> None:
    loop = Loop()
    sweep = sweep_of(loop, 0.25)  # one slice
    closing, failing, after = Member(), Member(), Member()
    where = {member: sweep.add(member) for member in (closing, failing, after)}
    closing.on_visit = lambda: sweep.remove(closing, where[closing])

    def fail() -> None:
        raise RuntimeError("boom")

    failing.on_visit = fail
    loop.fire()
    assert (len(closing.visits), len(failing.visits), len(after.visits)) == (1, 1, 1)
    loop.fire()
    assert (len(closing.visits), len(failing.visits), len(after.visits)) == (1, 2, 2)
    sweep.remove(failing, where[failing])
    sweep.remove(failing, where[failing])  # twice: no harm
    assert sweep.members == 1


def test_a_sweep_without_members_keeps_no_timer() -> None:
    loop = Loop()
    sweep = sweep_of(loop, 2.0)
    member = Member()
    where = sweep.add(member)
    assert sweep_of(loop, 2.0) is sweep and sweep_of(loop, 3.0) is not sweep
    sweep.remove(member, where)
    assert loop.armed() == []  # its timer cancelled
    fresh = sweep_of(loop, 2.0)
    assert fresh is not sweep  # the next member starts a new one
    fresh.remove(member, fresh.add(member))
    sweep_of(loop, 3.0).remove(member, {})  # made but never used: let go of too
    assert not [key for key in Sweep._sweeps if key[0] is cast(Any, loop)]
