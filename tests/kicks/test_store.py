"""KickStore conformance: the same answers from the memory engine and the Redis engine, on one
Redis and on a Redis Cluster."""

from __future__ import annotations

import time

import pytest

from liveroom.engine.base import Engine
from liveroom.features.kicks import kick_store
from tests.conftest import EVERY_ENGINE

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)


async def test_a_kick_holds_until_it_ends_and_only_in_its_room(engine: Engine) -> None:
    """``until`` answers the kick's end for the kicked user in that room, None elsewhere."""
    store = kick_store(engine)
    end = time.time() + 60
    await store.kick("r1", "u1", end)
    assert abs((await store.until("r1", "u1") or 0) - end) < 0.01
    assert await store.until("r1", "u2") is None
    assert await store.until("r2", "u1") is None
    assert list(await store.kicked("r1")) == ["u1"]


async def test_an_ended_kick_is_gone(engine: Engine) -> None:
    """A kick whose end has passed no longer counts, and is not listed."""
    store = kick_store(engine)
    await store.kick("r1", "u1", time.time() - 1)
    assert await store.until("r1", "u1") is None
    assert await store.kicked("r1") == {}


async def test_unkick_lets_the_user_back_and_a_new_kick_replaces_the_old(engine: Engine) -> None:
    """``unkick`` ends a kick now; kicking again sets the new end."""
    store = kick_store(engine)
    await store.kick("r1", "u1", time.time() + 60)
    await store.kick("r1", "u1", time.time() + 5)
    assert (await store.until("r1", "u1") or 0) < time.time() + 6
    await store.unkick("r1", "u1")
    assert await store.until("r1", "u1") is None
    assert await store.kicked("r1") == {}
