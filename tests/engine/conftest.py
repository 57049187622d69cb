"""Fixtures of the in-process hub tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from liveroom.hub import Hub

#: ``hubs(engine, settings)``: a hub that is closed when the test ends
Hubs = Callable[[Any, Any], Hub]


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's Redis, for looking on (``CLIENT LIST``) and setting up."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def hubs() -> AsyncIterator[Hubs]:
    """Hubs made by a test, closed after it: a task one of them started (a room filling a gap
    from history, say) ends with the test instead of being left unstarted on a closed loop."""
    made: list[Hub] = []

    def make(engine: Any, settings: Any) -> Hub:
        made.append(Hub(engine, settings))
        return made[-1]

    yield make
    for hub in made:
        await hub.close()


class Wire:
    """A viewer's transport stand-in that keeps what the hub writes."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.out = self

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def send(self, payload: bytes) -> None:
        self.data.append(payload)

    def close(self, code: int, reason: str = "") -> None:
        pass

    def has(self, text: str) -> bool:
        """Whether a JSON string ``text`` was written."""
        return any(f'"{text}"'.encode() in data for data in self.data)
