"""``python -m loadtest.idlecost``: what a node's quiet rooms cost it, with every loop running."""

from __future__ import annotations

import argparse

import pytest
import redis

from loadtest import idlecost


async def test_idle_rooms_are_measured_and_the_keys_removed(redis_url: str) -> None:
    """50 quiet rooms on a real Redis, pulsed every 0.2 s: the node's CPU is measured, the
    pulses reach Redis for every room (one script call covers many rooms, but each room's
    counts are commands of their own), and no key of the bench is left behind."""
    args = argparse.Namespace(
        rooms=50, viewers=2, seconds=1.0, warmup=2, pulse_s=0.2, engine="redis",
        redis_url=redis_url, profile=None, json=None,
    )  # fmt: skip
    result = await idlecost.run(args)
    assert result["rooms"] == 50 and result["seconds"] >= 1.0
    assert result["node_cpu_ms_per_s"] > 0
    # both are rounded to 0.01: the node's figure by up to 0.005 ms, which is 0.1 once multiplied
    # by 20 (1,000 µs over 50 rooms), and the per-room figure by up to 0.005 more
    assert result["us_per_room_per_s"] == pytest.approx(result["node_cpu_ms_per_s"] * 20, abs=0.11)
    # five pulses in the second, each touching all 50 rooms
    assert result["redis_commands_per_s"] >= 50 / 0.2 / 2, result
    client = redis.Redis.from_url(redis_url)
    try:
        assert not list(client.scan_iter(match=result["prefix"] + ":*", count=1000))
    finally:
        client.close()


async def test_the_memory_engine_runs_without_redis() -> None:
    args = argparse.Namespace(
        rooms=20, viewers=1, seconds=0.5, warmup=1, pulse_s=0.1, engine="memory",
        redis_url="redis://127.0.0.1:1/0", profile=None, json=None,
    )  # fmt: skip
    result = await idlecost.run(args)
    assert result["engine"] == "memory" and result["redis_commands_per_s"] is None
    assert result["node_cpu_ms_per_s"] > 0
