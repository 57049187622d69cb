"""Acceptance 2: a profile value held by fewer than k viewers never appears in a report."""

from __future__ import annotations

import random
from collections import Counter

from liveroom.features.analytics.report import fold
from tests.analytics.live import Clock, body, join, live_node

T0 = 1_800_000_000


def test_fold_never_shows_a_value_below_k() -> None:
    """Over many random facets: every named value has k viewers or more, and none is lost."""
    rng = random.Random(21)
    for _ in range(2000):
        k = rng.randint(1, 12)
        counts = Counter(
            {f"v{i}": rng.randint(1, 25) for i in range(rng.randint(0, 8))}
            | ({"": rng.randint(1, 5)} if rng.random() < 0.5 else {})
        )
        folded = fold(counts, k)
        named = {v: n for v, n in folded.items() if v not in ("other", "unknown")}
        assert all(n >= k for n in named.values()), (counts, k, folded)
        assert all(counts[v] == n for v, n in named.items())
        assert sum(folded.values()) == sum(counts.values())
        if named:  # "other" is folded further while it is small and anything is left to fold
            assert folded.get("other", 0) == 0 or folded["other"] >= k


def test_small_values_fold_into_other() -> None:
    """A value under k goes to "other"; "other" under k takes the smallest value with it."""
    # south (4) is under k; "other" would hold 4, so the smallest value left, east, joins it
    assert fold(Counter({"north": 12, "south": 4, "east": 7}), 5) == {"north": 12, "other": 11}
    assert fold(Counter({"north": 12, "south": 6, "east": 7}), 5) == {
        "north": 12,
        "east": 7,
        "south": 6,
    }
    assert fold(Counter({"a": 3, "b": 3, "": 2}), 3) == {"a": 3, "b": 3, "unknown": 2}


async def test_report_profile_hides_values_below_k() -> None:
    """Seven viewers with region, age and gender claims; k = 3: only values of 3 or more show."""
    clock = Clock(T0)
    async with live_node(clock, pulse_s=0.1, analytics_k=3) as node:
        viewers = [
            ("v1", {"region": "north", "age": "18-24", "gender": "f"}),
            ("v2", {"region": "north", "age": "18-24"}),
            ("v3", {"region": "north", "age": "18-24"}),
            ("v4", {"region": "south", "age": "18-24"}),
            ("v5", {"region": "south", "age": "25-34"}),
            ("v6", {"region": "east"}),
            ("v7", {}),
        ]
        for user, traits in viewers:
            await join(node, "k1", user, "feed", **traits)
        await node.analytics.flush()
        report = body(await node.api("GET", "/api/rooms/k1/report"))
    assert report["profile"] == {
        "k": 3,
        "region": {"north": 3, "other": 3, "unknown": 1},
        "age": {"other": 5, "unknown": 2},
        "gender": {"other": 1, "unknown": 6},
    }
    shown = {v for facet in ("region", "age", "gender") for v in report["profile"][facet]}
    assert not shown & {"south", "east", "25-34", "18-24", "f"}
