"""The tally's per-minute counts: each count lands in the minute of its millisecond."""

from __future__ import annotations

from liveroom.features.analytics.tally import Tally


def test_counts_near_a_minute_edge_land_in_the_minute_of_their_millisecond() -> None:
    """A clock reading that rounds up to the next minute counts there; the minute's key is
    worked out again whenever the clock leaves the minute, backwards too."""
    now = [60.0]
    tally = Tally(lambda: now[0])
    for reading in (60.0, 90.0, 119.9994, 119.9996, 150.0, 100.0, 179.9):
        now[0] = reading
        tally.commented("r1", "u1")
    counts = tally.rooms["r1"].pending.counts
    assert counts["comments"] == 7
    assert counts["m:60:comments"] == 4  # 60, 90, 119.9994 (119.999), 100 (the clock went back)
    assert counts["m:120:comments"] == 3  # 119.9996 (120.000), 150, 179.9
