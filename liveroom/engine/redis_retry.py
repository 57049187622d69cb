"""Who re-sends a Redis command after a lost connection: redis-py, or the script layer.

redis-py re-sends a command (or a whole pipeline) whose connection failed, with the very same
arguments. For a plain read, or a write that sets a value, that is harmless. For a script that
appends (``publish.lua``: a room event) it is not: when the connection died after Redis ran the
script but before the reply arrived, the copy runs it again, and the room gets the event twice.

So script calls are made under ``once()``: inside it, the client's ``OnceRetry`` sends a command
once and leaves the failure to the caller, ``Scripts`` (``scripts.py``), which knows what each
script may do on a second try (its ``-- retry:`` header). Everything else keeps the client's
retry policy unchanged. The flag lives in a ``ContextVar``, so it covers the task that set it
and nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

T = TypeVar("T")

_ONCE: ContextVar[bool] = ContextVar("liveroom_redis_once", default=False)


@contextlib.contextmanager
def once() -> Iterator[None]:
    """Commands sent inside go out once: a lost connection raises, the caller decides."""
    token = _ONCE.set(True)
    try:
        yield
    finally:
        _ONCE.reset(token)


def send_once() -> None:
    """``once()`` for the rest of the current task (a task of its own, e.g. a pipeline's)."""
    _ONCE.set(True)


class OnceRetry(Retry):
    """redis-py's ``Retry`` (same backoff, same count, same errors), except under ``once()``.

    The standalone client calls ``call_with_retry`` around every command and pipeline; the
    Cluster client reads ``get_retries()`` once per command. Under ``once()`` both give one
    attempt; a failed connection is still closed (``fail``), so the pool never hands it out
    again in a broken state.
    """

    def get_retries(self) -> int:
        return 0 if _ONCE.get() else super().get_retries()

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        if not _ONCE.get():
            return await super().call_with_retry(do, fail, is_retryable, with_failure_count)
        try:
            return await do()
        except self._supported_errors as error:
            if with_failure_count:
                await fail(error, 1)
            else:
                await fail(error)
            raise

    @property
    def tries_again(self) -> int:
        """How often a failed call is sent again (outside ``once()`` too)."""
        return int(self._retries)

    @property
    def backoff_s(self) -> Callable[[int], float]:
        """Seconds to wait before the n-th try again (the policy's backoff)."""
        return self._backoff.compute

    @classmethod
    def like(cls, given: Any) -> OnceRetry:
        """An ``OnceRetry`` with the policy of ``given`` (an injected client's ``Retry``)."""
        if isinstance(given, OnceRetry):
            return given
        if given is None:  # redis-py's default for a client given no policy: no retry
            return cls(NoBackoff(), 0)
        return cls(given._backoff, given._retries, tuple(given._supported_errors))


def adopt(client: Any) -> OnceRetry:
    """Give ``client`` (standalone or Cluster, built here or injected) an ``OnceRetry`` with
    its own policy, and return it. Needed once, before the first script call."""
    from redis.asyncio.cluster import RedisCluster

    if isinstance(client, RedisCluster):  # the client's own retry loop, per command
        retry = OnceRetry.like(client.retry)
        client.set_retry(retry)
        return retry
    retry = OnceRetry.like(client.get_retry())  # standalone: the pool's connections hold it
    if client.get_retry() is not retry:
        client.set_retry(retry)
    return retry
