"""Group commit: calls that arrive together for the same key share one Redis round trip.

A flash-sale rush sends thousands of buys for one sale within milliseconds, and a group-buy
rush as many places for one deal. Sent one by one, each costs a pooled connection, a round trip
and the client library's per-command work, and the node tops out at a few thousand a second.
``Batcher`` queues calls per key (a sale, a deal); while one batch for a key is in Redis the
next one fills, and goes as soon as the first returns. A lone call still goes at once (on the
next turn of the event loop), so a quiet sale pays no delay. The Redis stores of the flash sale
(``sale_buy``) and of group buys (``group_join``) use it; it lives in the engine so that both
can.

The batch function receives the queued items in arrival order and must return one result per
item, in the same order; the whole batch is one atomic step on the Redis side (one script), so
each caller sees exactly the effect of its own item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the item type, beside K and R
R = TypeVar("R")

#: items sent in one batch at most; a longer queue goes as several batches, one after another
MAX_BATCH = 256


class Batcher(Generic[K, I, R]):
    """``await batcher.submit(key, item)`` returns ``item``'s result from ``send(key, items)``.

    At most one batch per key is in flight. If ``send`` raises, every caller of that batch gets
    the exception; queued calls behind it still go. A caller cancelled while waiting does not
    take its item back once the batch has gone: the effect happens, the result is dropped.
    """

    def __init__(
        self,
        send: Callable[[K, list[I]], Awaitable[list[R]]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._send = send
        self._max = max_batch
        self._queues: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._senders: dict[K, asyncio.Task[None]] = {}

    async def submit(self, key: K, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, []).append((item, future))
        sender = self._senders.get(key)
        if sender is None or sender.done():  # done: cancelled before it ever ran
            self._senders[key] = asyncio.create_task(self._drain(key))
        return await future

    async def _drain(self, key: K) -> None:
        rest: list[tuple[I, asyncio.Future[R]]] = []
        try:
            while queue := self._queues.pop(key, None):
                rest = queue
                while rest:
                    batch, rest = rest[: self._max], rest[self._max :]
                    await self._one(key, batch)
        finally:
            if self._senders.get(key) is asyncio.current_task():
                del self._senders[key]
            # only when cancelled (the loop is closing): nothing queued may wait for ever
            for _, future in rest + self._queues.pop(key, []):
                future.cancel()

    async def _one(self, key: K, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        live = [(item, future) for item, future in batch if not future.cancelled()]
        if not live:
            return
        try:
            results = await self._send(key, [item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"a batch of {len(live)} got {len(results)} results")
        except asyncio.CancelledError:
            for _, future in live:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(live, results, strict=True):
            if not future.done():
                future.set_result(result)
