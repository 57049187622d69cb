"""Encoded values the server keeps for long hold about their length, not orjson's buffer.

orjson 3.12 and later return a bytes object whose buffer stays at least 4 kB long, whatever its
length. Kept once per viewer (an analytics profile) or per business event (the memory outbox),
that was 4 kB each: 19,000 idle viewers held 11.4 kB of RSS each instead of 7.4.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson

from liveroom.engine.outbox import MemoryOutbox
from liveroom.features.analytics.report import profile_of
from liveroom.protocol import kept

N = 1000


def traced(make: Callable[[int], Any]) -> int:
    """Bytes still allocated after making N values with ``make`` and keeping them all."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        values = [make(i) for i in range(N)]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(values) == N
    return used


def test_kept_is_the_same_bytes_in_a_buffer_of_their_length() -> None:
    for value in (["web", "", "1"], {"text": "x" * 5000}, []):
        data = orjson.dumps(value)
        copy = kept(data)
        assert copy == data
        assert type(copy) is bytes
    per_value = traced(lambda i: kept(orjson.dumps(["web", "sh", str(i)]))) / N
    assert per_value < 200, per_value


def test_an_analytics_profile_is_kept_right_sized() -> None:
    per_profile = traced(lambda i: profile_of("feed", {"region": f"r{i}"}, True)) / N
    assert per_profile < 200, per_profile


def test_a_memory_outbox_entry_is_kept_right_sized() -> None:
    outbox = MemoryOutbox(max_len=10 * N)
    per_entry = traced(lambda i: outbox.append("r", "user.muted", {"user": f"u{i}"})) / N
    assert per_entry < 600, per_entry
