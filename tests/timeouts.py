"""Test deadlines, scaled by ``LIVEROOM_TEST_TIMEOUT_SCALE`` on slow machines."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

SCALE = float(os.environ.get("LIVEROOM_TEST_TIMEOUT_SCALE", "1"))

T = TypeVar("T")


def scaled(seconds: float) -> float:
    return seconds * SCALE


async def eventually(
    check: Callable[[], Awaitable[T] | T], timeout: float = 5.0, interval: float = 0.02
) -> T:
    """Poll ``check`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + scaled(timeout)
    last: object = None
    while True:
        result = check()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result  # type: ignore[misc]
        if result:
            return result  # type: ignore[return-value]
        last = result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not met within {scaled(timeout):.1f}s (last: {last!r})"
            )
        await asyncio.sleep(interval)


class StopWaiting(Exception):
    """Raised by a ``wait_until`` check when waiting longer cannot help (a process exited)."""


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Blocking poll with a deadline, for fixtures outside the event loop: ``check()`` until
    it returns something truthy, or ``RuntimeError`` at the deadline. The check's errors count
    as "not yet", except ``StopWaiting``, which ends the wait at once."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            result = check()
            if result:
                return result
        except StopWaiting:
            raise
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {scaled(timeout):.0f}s")
        time.sleep(interval)  # the pause between two polls; nothing to wake us earlier
