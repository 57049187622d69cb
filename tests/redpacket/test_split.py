"""The double-average split: every packet at least 1 fen, the sum exact."""

from __future__ import annotations

import random

import pytest

from liveroom.errors import CommandError, ErrorCode
from liveroom.features.redpacket.rules import PacketSpec, split


@pytest.mark.parametrize(
    ("total", "count"), [(1, 1), (2, 2), (100, 100), (101, 100), (10_000, 7), (5_000_000, 10_000)]
)
def test_split_sums_exactly_and_every_packet_has_a_fen(total: int, count: int) -> None:
    """Edge and large cases: count packets, each >= 1 fen, summing to total."""
    rng = random.Random(total * 31 + count)
    for _ in range(20 if count < 1000 else 2):
        amounts = split(total, count, rng)
        assert len(amounts) == count
        assert sum(amounts) == total
        assert min(amounts) >= 1


def test_split_stays_under_twice_the_running_mean() -> None:
    """Each packet but the last is below twice the mean of what was left when it was cut."""
    rng = random.Random(7)
    for _ in range(200):
        amounts = split(1000, 10, rng)
        left = 1000
        for i, amount in enumerate(amounts[:-1]):
            assert amount < 2 * left / (10 - i)
            left -= amount


def test_split_is_random() -> None:
    """Two splits of the same packet differ (the amounts are not fixed in advance)."""
    assert len({tuple(split(10_000, 10)) for _ in range(5)}) > 1


def test_split_refuses_too_little_money() -> None:
    """Fewer fen than packets cannot be split."""
    with pytest.raises(ValueError):
        split(5, 6)


@pytest.mark.parametrize(
    "body",
    [
        {"total": 5, "count": 6},
        {"total": 0, "count": 1},
        {"total": 100},
        {"total": "100", "count": 1},
        {"total": 100, "count": 10_001},
        {"total": 100, "count": 1, "keyword": "x" * 21},
        {"total": 100, "count": 1, "delay_s": -1},
    ],
)
def test_spec_refuses_bad_input(body: dict[str, object]) -> None:
    """Impossible or malformed packets are bad_request."""
    with pytest.raises(CommandError) as info:
        PacketSpec.from_body(body)
    assert info.value.code is ErrorCode.BAD_REQUEST
