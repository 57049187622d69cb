"""``Batcher``: calls that arrive together share one send, each gets its own result."""

from __future__ import annotations

import asyncio

import pytest

from liveroom.features.flashsale.batching import Batcher
from tests.timeouts import eventually


class Recorder:
    """A batch function that doubles each item and records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.fail_on: set[int] = set()
        self.gate: asyncio.Event | None = None

    async def send(self, key: str, items: list[int]) -> list[int]:
        self.batches.append((key, list(items)))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_on & set(items):
            raise ValueError(f"refused {sorted(self.fail_on & set(items))}")
        return [2 * i for i in items]


async def test_a_lone_call_goes_at_once() -> None:
    """One call is sent by itself and gets its result."""
    rec = Recorder()
    batcher: Batcher[str, int, int] = Batcher(rec.send)
    assert await asyncio.wait_for(batcher.submit("a", 21), 5) == 42
    assert rec.batches == [("a", [21])]


async def test_calls_that_arrive_together_share_one_send_per_key() -> None:
    """Concurrent calls are grouped by key, in arrival order, and each gets its own result."""
    rec = Recorder()
    batcher: Batcher[str, int, int] = Batcher(rec.send)
    results = await asyncio.gather(*(batcher.submit("ab"[i % 2], i) for i in range(10)))
    assert results == [2 * i for i in range(10)]
    assert sorted(rec.batches) == [("a", [0, 2, 4, 6, 8]), ("b", [1, 3, 5, 7, 9])]


async def test_calls_during_a_send_go_in_the_next_batch() -> None:
    """While a batch is out, new calls queue; they go together once it returns."""
    rec = Recorder()
    rec.gate = asyncio.Event()
    batcher: Batcher[str, int, int] = Batcher(rec.send)
    first = asyncio.ensure_future(batcher.submit("k", 1))
    await eventually(lambda: len(rec.batches) == 1)
    later = [asyncio.ensure_future(batcher.submit("k", i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    assert len(rec.batches) == 1  # one batch in flight per key
    rec.gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, *later), 5) == [2, 4, 6, 8]
    assert rec.batches == [("k", [1]), ("k", [2, 3, 4])]


async def test_a_long_queue_goes_in_batches_of_at_most_max() -> None:
    """More calls than ``max_batch`` are split, in order."""
    rec = Recorder()
    batcher: Batcher[str, int, int] = Batcher(rec.send, max_batch=4)
    assert await asyncio.gather(*(batcher.submit("k", i) for i in range(10))) == [
        2 * i for i in range(10)
    ]
    assert [items for _, items in rec.batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_failed_batch_fails_its_callers_only() -> None:
    """Every caller of a failing batch gets the error; the next batch still goes."""
    rec = Recorder()
    rec.fail_on = {3}
    batcher: Batcher[str, int, int] = Batcher(rec.send, max_batch=4)
    results = await asyncio.gather(
        *(batcher.submit("k", i) for i in range(6)), return_exceptions=True
    )
    assert [type(r) for r in results[:4]] == [ValueError] * 4
    assert results[4:] == [8, 10]
    assert await batcher.submit("k", 7) == 14  # the key still works afterwards


async def test_a_wrong_number_of_results_is_an_error_not_a_hang() -> None:
    """A batch function that returns too few results fails its callers."""

    async def short(key: str, items: list[int]) -> list[int]:
        return items[:-1]

    batcher: Batcher[str, int, int] = Batcher(short)
    with pytest.raises(RuntimeError, match="got 1 results"):
        await asyncio.wait_for(asyncio.gather(batcher.submit("k", 1), batcher.submit("k", 2)), 5)


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    """Cancelling one waiting call does not disturb the rest of its batch."""
    rec = Recorder()
    rec.gate = asyncio.Event()
    batcher: Batcher[str, int, int] = Batcher(rec.send)
    calls = [asyncio.ensure_future(batcher.submit("k", i)) for i in range(3)]
    await eventually(lambda: len(rec.batches) == 1)
    calls[1].cancel()
    rec.gate.set()
    assert await asyncio.wait_for(calls[0], 5) == 0
    assert await asyncio.wait_for(calls[2], 5) == 4
    assert calls[1].cancelled()


async def test_a_sender_cancelled_before_it_ran_does_not_block_the_key() -> None:
    """If the key's sender task is cancelled before its first step, the next call starts a new
    one, which sends what was queued too."""
    rec = Recorder()
    batcher: Batcher[str, int, int] = Batcher(rec.send)
    first = asyncio.ensure_future(batcher.submit("k", 1))
    await asyncio.sleep(0)  # the call is queued and its sender task created, not yet run
    batcher._senders["k"].cancel()
    await asyncio.sleep(0)
    assert await asyncio.wait_for(batcher.submit("k", 2), 5) == 4
    assert await asyncio.wait_for(first, 5) == 2
    assert rec.batches == [("k", [1, 2])]
