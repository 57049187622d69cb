"""``python -m loadtest.upkeepbench``: a node's per-pulse upkeep, part by part."""

from __future__ import annotations

import argparse

import redis

from loadtest import upkeepbench


async def test_each_part_is_measured_and_the_keys_removed(redis_url: str) -> None:
    """40 rooms on a real Redis: the four parts are timed, and no key of the bench is left."""
    args = argparse.Namespace(rooms=40, viewers=2, cycles=3, engine="redis", redis_url=redis_url)
    result = await upkeepbench.run(args)
    assert result["rooms"] == 40 and result["cycles"] == 3
    parts = ("pulse_cpu_ms", "bags_cpu_ms", "bags_aged_cpu_ms", "bags_first_cpu_ms")
    assert all(result[part] >= 0 for part in parts), result
    assert result["pulse_cpu_ms"] > 0 and result["bags_first_cpu_ms"] > 0, result
    client = redis.Redis.from_url(redis_url)
    try:
        assert not list(client.scan_iter(match=result["prefix"] + ":*", count=1000))
    finally:
        client.close()
