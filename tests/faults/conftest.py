"""Fault tests: a Redis of the test's own that may be stopped and started again."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.redis_servers import RedisProcess


@pytest.fixture
def durable_redis(private_redis: list[RedisProcess]) -> RedisProcess:
    """A private redis-server with ``appendfsync always``: a stop loses no acknowledged write."""
    proc = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    private_redis.append(proc)
    return proc


@pytest.fixture
def fresh_prefix() -> Callable[[], str]:
    return lambda: "lrf-" + uuid.uuid4().hex[:8]
