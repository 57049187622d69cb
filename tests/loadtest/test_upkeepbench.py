"""``python -m loadtest.upkeepbench``: a node's per-pulse upkeep, part by part."""

from __future__ import annotations

import argparse

import redis

from liveroom.features.luckybag.settings import AGED_READS
from loadtest import upkeepbench
from loadtest.pulsebench import CacheFlush


async def test_each_part_is_measured_and_the_keys_removed(redis_url: str) -> None:
    """250 rooms on a real Redis, each timed call after a copy (``--cold 1``: too small to
    empty the caches, it takes the path): the parts are timed; a first pulse reads every room's
    bag, a pulse after they all aged out reads the share a pulse may (``AGED_READS``), and no
    key of the bench is left."""
    args = argparse.Namespace(
        rooms=250, viewers=2, cycles=3, engine="redis", redis_url=redis_url, cold=1
    )
    result = await upkeepbench.run(args)
    assert result["rooms"] == 250 and result["cycles"] == 3
    assert result["bags_first_reads"] == 250, result
    assert result["bags_aged_reads"] == AGED_READS, result
    assert result["pulse_cpu_ms"] > 0 and result["bags_first_cpu_ms"] > 0, result
    client = redis.Redis.from_url(redis_url)
    try:
        assert not list(client.scan_iter(match=result["prefix"] + ":*", count=1000))
    finally:
        client.close()


def test_a_cache_flush_copies_its_megabytes_before_each_call_or_nothing() -> None:
    """``--cold MB``: each call copies MB megabytes into a buffer of the bench's own (what
    pushes the rooms out of the CPU's caches); ``--cold 0`` holds no buffer and copies nothing."""
    flush = CacheFlush(2)
    assert len(flush.buffer) == len(flush.source) == 2 << 20
    assert flush.buffer[12345] == 0
    flush()
    assert flush.buffer[12345] == 12345 % 256 and flush.buffer == flush.source
    idle = CacheFlush(0)
    idle()
    assert not idle.buffer and not idle.source
