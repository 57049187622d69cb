"""``python -m loadtest.subbench``: a node's cost of a room event read from pub/sub."""

from __future__ import annotations

import argparse

import pytest

from loadtest import subbench


@pytest.mark.parametrize("reader", ["own", "redis-py"])
async def test_every_event_is_counted_once_in_order_by_either_reader(
    redis_url: str, reader: str
) -> None:
    args = argparse.Namespace(
        rooms=20, rate=200.0, duration=1.0, reader=reader, engine="redis", redis_url=redis_url
    )
    result = await subbench.run(args)
    assert result["reader"] == reader
    assert result["published"] >= 150, result
    assert result["received"] == result["published"], result
    assert result["in_order"] and result["ok"], result
    assert result["cpu_us_per_event"] > 0, result
